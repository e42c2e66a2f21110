"""FLAML's AutoML with its defaults, `time_budget=--budget` (runs in benchmarks/.venvs/flaml)."""

from __future__ import annotations

from _common import load, parse_args, write
from flaml import AutoML

args = parse_args()
X, y, X_test = load(args)
automl = AutoML()
automl.fit(
    X,
    y,
    task=args.task,
    time_budget=args.budget,
    metric="accuracy" if args.task == "classification" else "rmse",
    seed=args.seed,
    verbose=0,
)
write(
    args,
    automl.predict(X_test),
    n_trials=len(automl.config_history),
    packages=["flaml", "xgboost", "lightgbm", "scikit-learn"],
)
