"""Better models in less time: one budget, warm starts, model=auto, refit on every row."""

from __future__ import annotations

import json
import time
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir

from mlengine.auto import FAMILY_PARAM, AutoObjective, family_objectives, load_family, ranked
from mlengine.budget import Budget, StopAtDeadline
from mlengine.config import (
    ConfigError,
    ModelConfig,
    ParamSpec,
    config_dir,
    register_configs,
    validate,
)
from mlengine.search import (
    MAX_ROUND_SCALE,
    PRUNING_WARMUP_STEPS,
    STEP_STRIDE,
    CrossValidatedObjective,
    pruning_warmup,
    scaled_rounds,
    stopping_fraction,
    warm_start_params,
)
from mlengine.studies import OpenStudy
from mlengine.sweep import run_trials
from tests.helpers import run_cli

register_configs()  # the schema config.yaml starts from (the CLI registers it on import)

MODELS = sorted(p.stem for p in (config_dir() / "model").glob("*.yaml"))


def _model(name: str) -> ModelConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return validate(compose("config", overrides=[f"model={name}"])).model


# ---- small-data policy -------------------------------------------------------------------


def test_small_tables_prune_later_and_stop_on_more_rows() -> None:
    assert pruning_warmup(300) == 2 * STEP_STRIDE  # not before the third fold
    assert pruning_warmup(50_000) == PRUNING_WARMUP_STEPS
    assert pruning_warmup(300, warmup_folds=0) == PRUNING_WARMUP_STEPS
    assert pruning_warmup(50_000, warmup_folds=1) == STEP_STRIDE
    assert stopping_fraction(0.15, 256) == pytest.approx(0.3)  # capped share
    assert stopping_fraction(0.15, 400) == pytest.approx(0.25)  # 100 rows
    assert stopping_fraction(0.15, 10_000) == 0.15


def test_refit_rounds_grow_with_the_rows() -> None:
    assert scaled_rounds(100, 1_000, 680) == 147
    assert scaled_rounds(100, 10_000, 680) == 100 * MAX_ROUND_SCALE
    assert scaled_rounds(100, 500, 680) == 100  # never fewer than CV found best
    assert scaled_rounds(100, 500, None) == 100


# ---- warm starts ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [m for m in MODELS if m != "auto"])
def test_every_family_ships_warm_starts_inside_its_space(name: str) -> None:
    model = _model(name)
    assert len(model.warm_start) >= 2
    for setting in model.warm_start:
        assert all(model.search_space[k].contains(v) for k, v in setting.items()), setting
    for task in ("classification", "regression"):
        role = model.classifier if task == "classification" else model.regressor
        if role is not None:
            assert warm_start_params(model, task)


def test_a_warm_start_outside_the_space_is_skipped_and_an_unknown_key_refused() -> None:
    space = {"C": ParamSpec(type="float", low=0.1, high=10.0)}
    estimator = {"_target_": "x"}
    narrowed = ModelConfig(
        name="m", classifier=estimator, search_space=space, warm_start=[{"C": 50}, {"C": 1.0}]
    )
    assert warm_start_params(narrowed, "classification") == [{"C": 1.0}]
    with pytest.raises(ConfigError, match=r"model.warm_start\[0\].D.*not in model.search_space"):
        ModelConfig(name="m", classifier=estimator, search_space=space, warm_start=[{"D": 1}])


def test_warm_starts_keep_only_the_task_s_parameters() -> None:
    model = _model("logistic_regression")
    assert warm_start_params(model, "classification")[0] == {"C": 1.0}
    assert warm_start_params(model, "regression")[0] == {"alpha": 1.0}


# ---- model=auto ----------------------------------------------------------------------------


def test_auto_starts_with_each_family_s_first_setting_in_advice_order() -> None:
    names = ("xgboost", "random_forest", "svm", "knn")
    families = [load_family(n, config_dir()) for n in names]
    ordered = ranked(families, {"xgboost": 1.5, "svm": -2.0, "knn": 2.5})
    # Best score first, the unscored family last, the one advised against left out.
    assert [f.name for f in ordered] == ["knn", "xgboost", "random_forest"]

    def make(model: ModelConfig, prefix: str, step_offset: int) -> CrossValidatedObjective:
        return CrossValidatedObjective(
            model=model,
            make_preprocessor=None,
            X=None,
            y=None,
            task="classification",
            metric="accuracy",
            folds=[],
            seed=0,
            prefix=prefix,
            step_offset=step_offset,
        )

    auto = AutoObjective(family_objectives(ordered, make))
    starts = auto.warm_starts()
    assert [s[FAMILY_PARAM] for s in starts[:3]] == ["knn", "xgboost", "random_forest"]
    assert starts[0] == {
        FAMILY_PARAM: "knn",
        "knn.n_neighbors": 5,
        "knn.weights": "uniform",
        "knn.p": 2,
    }
    offsets = {o.step_offset for o in auto.objectives.values()}
    assert len(offsets) == 3  # each family prunes against its own trials only
    best = {FAMILY_PARAM: "xgboost", "xgboost.max_depth": 4, "knn.p": 1}
    family, params = auto.resolve(best)
    assert family is auto.objectives["xgboost"] and params == {"max_depth": 4}


def test_unknown_family_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="'xgbost' is not a family"):
        load_family("xgbost", config_dir())


# ---- the budget ----------------------------------------------------------------------------


def test_the_sweep_stops_before_a_trial_would_overrun_the_budget() -> None:
    budget = Budget(seconds=6.0)
    stop = StopAtDeadline(budget, n_folds=3, export_seconds=4.0)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        time.sleep(0.3)
        return trial.suggest_float("x", 0, 1)

    handle = OpenStudy(study, None, "memory", created=True)
    run_trials(handle, objective, 100, callbacks=[stop], should_stop=lambda: stop.stopped)
    assert 2 <= len(study.trials) < 10
    assert stop.reserve() > 4.0  # grows with the trials' fit times
    assert budget.elapsed() < 2.0  # the reserve is left for refit and export
    with budget.stage("sweep"):
        pass
    assert "sweep 0.0s" in budget.summary() and "of a 6s budget" in budget.summary()


# ---- end to end ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("refit", "rows"), [("all", 178), ("train", 142)])
def test_exported_model_is_fitted_on_every_row(workdir: Path, refit: str, rows: int) -> None:
    import mlflow.sklearn

    from mlengine import run_experiment

    result = run_experiment(
        ["dataset=wine", "model=knn", "search.n_trials=2", "search.cv_folds=3", "eda=off"]
        + [f"export.refit={refit}", "export.onnx=false"]
    )
    assert result.n_rows_fit == rows
    assert result.pipeline[-1].n_samples_fit_ == rows  # kNN keeps every row it was fitted on
    assert mlflow.sklearn.load_model(str(result.model_path))[-1].n_samples_fit_ == rows


@pytest.mark.slow
def test_warm_starts_are_the_first_trials_of_a_new_study(workdir: Path) -> None:
    from mlengine import run_experiment

    model = _model("random_forest")
    result = run_experiment(
        ["dataset=wine", "model=random_forest", "search.n_trials=4", "search.cv_folds=3"]
        + ["eda=off", "export.enabled=false"]
    )
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(workdir / "outputs/optuna/journal.log"))
    )
    trials = optuna.load_study(study_name=result.study_name, storage=storage).trials
    for trial, setting in zip(trials, model.warm_start, strict=False):
        expected = {k: v for k, v in setting.items() if k != "max_samples" or setting["bootstrap"]}
        assert trial.params == expected
    assert len(trials) == 4


@pytest.mark.slow
def test_auto_visits_several_families_within_its_budget(workdir: Path) -> None:
    budget = 45
    started = time.monotonic()
    result = run_cli(
        ["model=auto", "dataset=wine", f"search.timeout={budget}", "search.n_trials=10000"],
        workdir,
    )
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads(next((workdir / "outputs" / "runs").glob("*/result.json")).read_text())
    assert len(saved["trials_per_family"]) >= 3, saved["trials_per_family"]
    assert wall <= 1.1 * budget
    assert "Trials per family: " in result.stdout and "Time: setup" in result.stdout
    assert saved["family"] in saved["trials_per_family"]
    # A short budget buys trials with the seconds the EDA plots would take.
    assert "plots skipped: search.timeout=45s" in result.stdout
    assert not list((workdir / "outputs" / "runs").glob("*/eda/*.png"))
    assert list((workdir / "outputs" / "runs").glob("*/eda/eda.json"))


def test_the_default_experiment_searches_several_families() -> None:
    # Plain `mlengine` hands back the model=auto result: at an equal budget it beat the
    # single-family default on every benchmark table (benchmarks/README.md).
    model = _model_of_default()
    assert model.name == "auto" and len(model.families) >= 3


def _model_of_default() -> ModelConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return validate(compose("config")).model
