"""XGBoost with its default parameters, fit on the training rows (no search, no budget)."""

from __future__ import annotations

import xgboost as xgb
from _common import load, parse_args, write
from sklearn.preprocessing import LabelEncoder

args = parse_args()
X, y, X_test = load(args, categorical=True)
if args.task == "classification":
    labels = LabelEncoder().fit(y)
    model = xgb.XGBClassifier(random_state=args.seed, enable_categorical=True)
    predictions = labels.inverse_transform(model.fit(X, labels.transform(y)).predict(X_test))
else:
    model = xgb.XGBRegressor(random_state=args.seed, enable_categorical=True)
    predictions = model.fit(X, y).predict(X_test)
write(args, predictions, n_trials=None, packages=["xgboost", "scikit-learn"])
