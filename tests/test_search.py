"""The search layer without the runner: spaces, estimators, weights, pruning, refit.

In-memory Optuna studies and no MLflow, so the whole file runs in seconds; the runner-level
versions (MLflow KILLED runs, every family end to end) are in test_models.py (slow).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from sklearn.datasets import load_diabetes, load_wine

from mlengine.config import FeaturesConfig, ModelConfig, config_dir, register_configs, validate
from mlengine.data import cv_splitter
from mlengine.features import build_preprocessor
from mlengine.search import (
    PRUNING_WARMUP_STEPS,
    STEP_STRIDE,
    CrossValidatedObjective,
    fit_kwargs,
    make_estimator,
    suggest_params,
)

register_configs()  # the schema config.yaml starts from (the CLI registers it on import)

MODELS = sorted(p.stem for p in (config_dir() / "model").glob("*.yaml"))
TASKS = ("classification", "regression")


def _model(name: str, *overrides: str) -> ModelConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return validate(compose("config", overrides=[f"model={name}", *overrides])).model


@pytest.fixture(scope="module")
def wine() -> tuple[pd.DataFrame, pd.Series]:
    return load_wine(return_X_y=True, as_frame=True)


def _objective(
    model: ModelConfig,
    X: pd.DataFrame,
    y: pd.Series,
    task: str = "classification",
    metric: str = "accuracy",
    column_types: dict[str, str] | None = None,
) -> CrossValidatedObjective:
    types = column_types or {c: "numeric" for c in X.columns}
    return CrossValidatedObjective(
        model=model,
        make_preprocessor=lambda: build_preprocessor(types, model, FeaturesConfig()),
        X=X,
        y=y,
        task=task,
        metric=metric,
        folds=list(cv_splitter(task, 3, 0).split(X, y)),
        seed=0,
    )


def _study(n_startup_trials: int = 1) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=n_startup_trials, n_warmup_steps=PRUNING_WARMUP_STEPS
        ),
    )


# ---- search spaces -----------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_every_space_samples_into_a_valid_estimator(name: str) -> None:
    """Random draws (conditionals included) build estimators for both tasks."""
    model = _model(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for task in TASKS:
        if (model.classifier if task == "classification" else model.regressor) is None:
            continue
        for _ in range(5):
            params = suggest_params(study.ask(), model.search_space, task)
            estimator = make_estimator(model, task, params, seed=0)
            deep = estimator.get_params()
            assert all(deep[k] == v for k, v in params.items()), (name, task, params)
        if model.iterative:  # the round-count argument exists, so the refit can set it
            assert model.iterative.param in estimator.get_params(deep=False)


def test_conditional_parameters_follow_their_parent() -> None:
    space = _model("random_forest").search_space
    fixed = {"max_depth": 5, "min_samples_leaf": 2, "max_features": 0.5}
    without = suggest_params(
        optuna.trial.FixedTrial({**fixed, "bootstrap": False}), space, "classification"
    )
    assert "max_samples" not in without
    with_ = suggest_params(
        optuna.trial.FixedTrial({**fixed, "bootstrap": True, "max_samples": 0.7}),
        space,
        "regression",
    )
    assert with_["max_samples"] == 0.7


def test_task_limits_a_parameter_to_its_estimator() -> None:
    space = _model("svm").search_space
    linear = optuna.trial.FixedTrial({"estimator__C": 2.0, "estimator__kernel": "linear"})
    assert suggest_params(linear, space, "classification") == {
        "estimator__C": 2.0,
        "estimator__kernel": "linear",
    }  # no gamma for a linear kernel
    rbf = optuna.trial.FixedTrial({"C": 10.0, "kernel": "rbf", "gamma": 0.1, "epsilon": 0.1})
    assert set(suggest_params(rbf, space, "regression")) == {"C", "kernel", "gamma", "epsilon"}


def test_nested_keys_reach_the_wrapped_estimator() -> None:
    estimator = make_estimator(
        _model("svm"),
        "classification",
        {"estimator__C": 3.0, "estimator__kernel": "linear"},
        seed=0,
    )
    assert (estimator.estimator.C, estimator.estimator.kernel) == (3.0, "linear")


# ---- class imbalance ---------------------------------------------------------------------


def test_class_weight_reaches_every_family_that_supports_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    y = pd.Series([0] * 30 + [1] * 10)
    for name in (
        "logistic_regression",
        "elastic_net",
        "random_forest",
        "extra_trees",
        "hist_gradient_boosting",
        "torch_mlp",
    ):
        model = _model(name, "model.class_weight=balanced")
        estimator = make_estimator(model, "classification", {}, seed=0)
        assert estimator.get_params()["class_weight"] == "balanced", name
        assert fit_kwargs(model, estimator, y) == {}
    for name in ("xgboost", "svm"):  # sample weights, inversely proportional to frequency
        model = _model(name, "model.class_weight=balanced")
        weights = fit_kwargs(model, make_estimator(model, "classification", {}, 0), y)
        np.testing.assert_allclose(weights["sample_weight"][[0, -1]], [40 / 60, 40 / 20])
    regression = _model("xgboost", "model.class_weight=balanced")
    assert fit_kwargs(regression, make_estimator(regression, "regression", {}, 0), y) == {}
    knn = _model("knn", "model.class_weight=balanced")
    with caplog.at_level(logging.WARNING, logger="mlengine"):
        assert fit_kwargs(knn, make_estimator(knn, "classification", {}, 0), y) == {}
    assert "class_weight=balanced is ignored" in caplog.text


def test_xgboost_class_weights_change_the_fit(wine) -> None:
    X, y = wine
    y = (y == 2).astype(int)  # 48 of 178 rows: imbalanced
    params = {"learning_rate": 0.1, "max_depth": 2}
    plain = _objective(_model("xgboost"), X, y).refit(params, 20, X, y)
    balanced = _objective(_model("xgboost", "model.class_weight=balanced"), X, y).refit(
        params, 20, X, y
    )
    assert balanced.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()


# ---- iterative families: early stopping, pruning, refit -----------------------------------


def test_xgboost_early_stops_records_rounds_and_refits_with_them(wine) -> None:
    X, y = wine
    objective = _objective(_model("xgboost"), X, y)
    study = _study()
    study.enqueue_trial({"learning_rate": 0.3})
    study.optimize(objective, n_trials=1)
    attrs = study.trials[0].user_attrs
    # Early stopping: far fewer than the 1000-round ceiling, and at least patience + 1.
    assert all(31 <= attrs[f"rounds_fold{k}"] < 1000 for k in range(3))
    assert attrs["rounds_trained"] == sum(attrs[f"rounds_fold{k}"] for k in range(3))
    best = attrs["best_rounds"]
    pipeline = objective.refit(study.best_params, best, X, y)
    assert pipeline[-1].get_booster().num_boosted_rounds() == best
    assert pipeline[-1].get_params()["callbacks"] is None  # no trial inside a served model


@pytest.mark.filterwarnings("ignore:Fixed parameter")  # the bad value is outside the space
@pytest.mark.parametrize(
    ("name", "overrides", "good", "bad"),
    [
        ("xgboost", [], {"learning_rate": 0.3}, {"learning_rate": 1e-6}),
        (
            "torch_mlp",
            ["model.classifier.max_epochs=40"],
            {"learning_rate": 1e-2},
            {"learning_rate": 1e-7},
        ),
    ],
    ids=["xgboost", "torch_mlp"],
)
def test_a_bad_trial_is_pruned_after_few_rounds(
    wine, name: str, overrides: list[str], good: dict, bad: dict
) -> None:
    X, y = wine
    objective = _objective(_model(name, *overrides), X, y)
    study = _study(n_startup_trials=1)
    study.enqueue_trial(good)
    study.enqueue_trial(bad)
    study.optimize(objective, n_trials=2)
    completed, pruned = study.trials
    assert completed.state == optuna.trial.TrialState.COMPLETE
    assert pruned.state == optuna.trial.TrialState.PRUNED
    # Pruned at the first step the pruner may judge: round 11 of fold 0.
    assert pruned.user_attrs["rounds_trained"] == PRUNING_WARMUP_STEPS + 1
    assert "rounds_fold1" not in pruned.user_attrs
    assert pruned.user_attrs["rounds_trained"] < completed.user_attrs["rounds_trained"]
    assert max(completed.intermediate_values) >= 2 * STEP_STRIDE  # reported in every fold


def test_mlp_refit_trains_exactly_the_best_epoch_count(wine) -> None:
    X, y = wine
    objective = _objective(_model("torch_mlp"), X, y)
    pipeline = objective.refit({"learning_rate": 1e-2, "hidden_size": 16}, 20, X, y)
    mlp = pipeline[-1]
    assert (mlp.max_epochs, mlp.early_stopping_rounds, mlp.n_iter_) == (20, None, 20)
    assert pipeline.score(X, y) > 0.9


def test_non_iterative_families_report_once_per_fold(wine) -> None:
    """Steps 0, STRIDE, 2*STRIDE: fold 0 falls inside the warm-up, later folds can prune."""
    X, y = wine
    study = _study()
    study.optimize(_objective(_model("logistic_regression"), X, y), n_trials=1)
    assert sorted(study.trials[0].intermediate_values) == [0, STEP_STRIDE, 2 * STEP_STRIDE]
    assert PRUNING_WARMUP_STEPS > 0  # so fold 0 (step 0) is never judged alone


def test_pruning_stops_worse_trials_of_a_minimised_metric() -> None:
    """RMSE is minimised: a pruned trial's running mean is above (worse than) the median."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    objective = _objective(_model("knn"), X, y, task="regression", metric="rmse")
    study.optimize(objective, n_trials=25)
    states = optuna.trial.TrialState
    completed = study.get_trials(states=(states.COMPLETE,))
    pruned = study.get_trials(states=(states.PRUNED,))
    assert pruned and completed
    for trial in pruned:
        step = max(trial.intermediate_values)
        earlier = [
            t.intermediate_values[step]
            for t in completed
            if t.number < trial.number and step in t.intermediate_values
        ]
        assert trial.intermediate_values[step] > np.median(earlier)


def test_regression_families_score_on_diabetes() -> None:
    """Iterative regressors report a loss that the pruner reads as higher-is-better."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    study = _study()
    study.enqueue_trial({"learning_rate": 0.05})
    study.optimize(_objective(_model("xgboost"), X, y, task="regression", metric="r2"), n_trials=1)
    trial = study.trials[0]
    assert trial.value > 0.3
    assert all(v < 0 for v in trial.intermediate_values.values())  # -RMSE


# ---- native categoricals ------------------------------------------------------------------


@pytest.fixture(scope="module")
def colours() -> tuple[pd.DataFrame, pd.Series]:
    """The label is a set of categories: {a, c, e} -> 1, {b, d, f} -> 0."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=600), "colour": rng.choice(list("abcdef"), size=600)})
    return X, pd.Series(X["colour"].isin(["a", "c", "e"]).astype(int))


@pytest.mark.parametrize(
    ("overrides", "features"),
    [
        (["model.encoding=native"], FeaturesConfig()),
        ([], FeaturesConfig(encoding="native")),
    ],
    ids=["model.encoding", "features.encoding"],
)
def test_native_categoricals_split_on_category_sets(
    colours, overrides: list[str], features: FeaturesConfig
) -> None:
    """One depth-1 tree separates {a, c, e} from the rest only with native categories."""
    X, y = colours
    types = {"x": "numeric", "colour": "categorical"}
    params = {"learning_rate": 1.0, "max_depth": 1}

    def fit(model: ModelConfig, cfg: FeaturesConfig) -> object:
        objective = _objective(model, X, y, column_types=types)
        objective.make_preprocessor = lambda: build_preprocessor(types, model, cfg)
        return objective.refit(params, 1, X, y)

    native = fit(_model("xgboost", *overrides), features)
    assert "c" in native[-1].get_booster().feature_types  # a categorical feature
    assert native.score(X, y) == 1.0
    assert fit(_model("xgboost"), FeaturesConfig()).score(X, y) < 0.8  # codes: one threshold
    unseen = pd.DataFrame({"x": [0.0, 0.0], "colour": ["zzz", None]})
    assert len(native.predict(unseen)) == 2  # unseen / missing: XGBoost's "missing" branch


def test_early_stopping_split_follows_the_split_policy() -> None:
    """Early stopping must not peek across a time or group boundary (a leak otherwise)."""
    from mlengine.search import early_stopping_split

    y = pd.Series(np.tile([0, 1], 50))
    inner, stop = early_stopping_split(y, "classification", 0.2, seed=0, time_ordered=True)
    assert inner.max() < stop.min() and len(stop) == 20  # the latest rows stop early
    groups = np.repeat(np.arange(20), 5)
    inner, stop = early_stopping_split(y, "classification", 0.2, seed=0, groups=groups)
    assert not set(groups[inner]) & set(groups[stop])
    inner, stop = early_stopping_split(y, "classification", 0.2, seed=0)
    assert y.iloc[stop].mean() == 0.5 and len(set(inner) | set(stop)) == 100


def test_mlengine_leaves_the_process_settings_of_a_notebook_alone(tmp_path: Path) -> None:
    """Opening a study, sweeping it and connecting to a store change no log level, warning
    filter or environment variable of the calling process (the CLI sets its own)."""
    import os
    import warnings

    import mlflow  # noqa: F401 - imported first: its own import-time settings are not ours
    import optuna

    from mlengine.config import SearchConfig
    from mlengine.studies import open_study, quiet_optuna
    from mlengine.tracking import Tracker

    def environment() -> dict[str, str]:
        # But the one MLflow's own set_tracking_uri exports (log_model needs the fluent API).
        return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}

    level, filters, env = optuna.logging.get_verbosity(), list(warnings.filters), environment()
    study = open_study(SearchConfig(), "s", "maximize", 0, tmp_path / "journal.log").study
    with quiet_optuna():
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "e", tmp_path)
    assert optuna.logging.get_verbosity() == level
    assert warnings.filters == filters
    assert environment() == env
