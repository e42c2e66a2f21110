"""A hand-written Optuna TPE + XGBoost loop, as a user would write it.

5-fold CV (shuffled, seeded) on all training rows, XGBoost's own thread default, stop after
`--budget` seconds (checked between trials), refit the best parameters on all training rows.
"""

from __future__ import annotations

import optuna
import xgboost as xgb
from _common import load, parse_args, write
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.preprocessing import LabelEncoder

args = parse_args()
X, y, X_test = load(args, categorical=True)
classify = args.task == "classification"
if classify:
    labels = LabelEncoder().fit(y)
    y = labels.transform(y)
Model = xgb.XGBClassifier if classify else xgb.XGBRegressor
folds = (StratifiedKFold if classify else KFold)(5, shuffle=True, random_state=args.seed)
scoring = "accuracy" if classify else "neg_root_mean_squared_error"


def objective(trial: optuna.Trial) -> float:
    params = {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 10),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 50, 1000),
    }
    model = Model(**params, random_state=args.seed, enable_categorical=True)
    return cross_val_score(model, X, y, cv=folds, scoring=scoring).mean()


optuna.logging.set_verbosity(optuna.logging.WARNING)
sampler = optuna.samplers.TPESampler(seed=args.seed)
study = optuna.create_study(direction="maximize", sampler=sampler)
study.optimize(objective, timeout=args.budget)
best = Model(**study.best_params, random_state=args.seed, enable_categorical=True).fit(X, y)
predictions = best.predict(X_test)
if classify:
    predictions = labels.inverse_transform(predictions)
write(args, predictions, len(study.trials), packages=["optuna", "xgboost", "scikit-learn"])
