"""AutoGluon's TabularPredictor, `time_limit=--budget`, presets None (medium) or `--preset`.

Runs in benchmarks/.venvs/autogluon. The seed is the learner's `random_state` (its
validation split and bagging folds); model seeds stay AutoGluon's defaults.
"""

from __future__ import annotations

import tempfile

from _common import load, parse_args, write
from autogluon.tabular import TabularPredictor

args = parse_args()
X, y, X_test = load(args)
train = X.assign(**{args.target: y})
classify = args.task == "classification"
problem_type = ("binary" if y.nunique() == 2 else "multiclass") if classify else "regression"
with tempfile.TemporaryDirectory() as folder:
    predictor = TabularPredictor(
        label=args.target,
        problem_type=problem_type,
        eval_metric="accuracy" if classify else "root_mean_squared_error",
        path=folder,
        verbosity=0,
        learner_kwargs={"random_state": args.seed},
    )
    predictor.fit(train, time_limit=args.budget, presets=args.preset)
    predictions = predictor.predict(X_test)
    n_models = len(predictor.model_names())
write(
    args,
    predictions,
    n_trials=n_models,
    packages=["autogluon.tabular", "lightgbm", "catboost", "xgboost", "xgboost-cpu"],
)
