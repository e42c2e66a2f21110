"""Every model family through the real runner: a short sweep reaches a stated holdout score,
pruning stops bad trials early (Optuna PRUNED, MLflow KILLED), and a family is one YAML.

All slow (they train through `run_experiment`, with MLflow and the Optuna journal). The
tests share one working folder per module: a new MLflow SQLite store costs ~3 s to create,
which 20 runs would otherwise pay 20 times; study names differ per model and dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from mlengine.config import config_dir
from mlengine.search import scaled_rounds

pytestmark = pytest.mark.slow

# Picks up any new conf/model/*.yaml: a new family is tested as soon as its file exists.
FAMILIES = sorted(p.stem for p in (config_dir() / "model").glob("*.yaml"))
DATASETS = {"wine": "accuracy", "diabetes": "r2"}
# Minimum holdout scores of a 3-trial, 3-fold sweep. kNN and SVM get lower bounds: three
# random draws of k / of C, gamma and epsilon (in target units for SVR) can miss their good
# region, and neither family is meant to be the strongest on these data.
MINIMUM = {"wine": 0.9, "diabetes": 0.35}
MINIMUM_SMALL_DATA = {"wine": 0.85, "diabetes": 0.2}
LOWER_BOUND_FAMILIES = {"knn", "svm"}
SWEEP = ["search.n_trials=3", "search.cv_folds=3", "eda=off"]


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        yield folder


def _journal(folder: Path) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(
        JournalFileBackend(str(folder / "outputs" / "optuna" / "journal.log"))
    )


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("family", FAMILIES)
def test_family_sweep_reaches_its_holdout_score(
    shared_dir: Path, family: str, dataset: str
) -> None:
    from mlengine import run_experiment

    result = run_experiment([f"model={family}", f"dataset={dataset}", *SWEEP])
    metric = DATASETS[dataset]
    bound = (MINIMUM_SMALL_DATA if family in LOWER_BOUND_FAMILIES else MINIMUM)[dataset]
    print(
        f"{family} {dataset} holdout {metric}={result.holdout[metric]:.4f} "
        f"(bound {bound}) cv={result.cv_score:.4f} params={result.best_params}"
    )
    assert result.holdout[metric] >= bound
    assert result.n_trials == 3
    assert (result.model_path / "MLmodel").is_file()

    study = optuna.load_study(study_name=result.study_name, storage=_journal(shared_dir))
    best = study.best_trial
    if "best_rounds" in best.user_attrs:  # iterative: the refit trains the best round count,
        estimator = result.pipeline[-1]  # scaled to the rows it refits on
        rounds = scaled_rounds(
            best.user_attrs["best_rounds"], result.n_rows_fit, best.user_attrs["fit_rows"]
        )
        if hasattr(estimator, "get_booster"):
            assert estimator.get_booster().num_boosted_rounds() == rounds
        else:
            assert estimator.n_iter_ == rounds and estimator.early_stopping_rounds is None


@pytest.mark.parametrize(
    ("family", "overrides"),
    [
        # learning_rate from 1e-6: most random draws are far too small to learn in the budget.
        ("xgboost", ["model.search_space.learning_rate.low=1e-6"]),
        (
            "torch_mlp",
            ["model.search_space.learning_rate.low=1e-7", "model.classifier.max_epochs=60"],
        ),
    ],
    ids=["xgboost", "torch_mlp"],
)
def test_pruning_stops_bad_trials_early(
    shared_dir: Path, family: str, overrides: list[str]
) -> None:
    from mlflow.tracking import MlflowClient

    from mlengine import run_experiment

    result = run_experiment(
        [
            f"model={family}",
            "dataset=wine",
            "search.n_trials=14",  # the family's warm starts first, then random draws
            "search.cv_folds=3",
            "search.sampler=random",
            "search.n_startup_trials=2",
            "search.pruning_warmup_folds=0",  # wine is small: pruning would wait 2 folds
            "export.enabled=false",
            "eda=off",
            f"experiment_name=pruning-{family}",
            *overrides,
        ]
    )
    study = optuna.load_study(study_name=result.study_name, storage=_journal(shared_dir))
    states = optuna.trial.TrialState
    pruned = [t for t in study.trials if t.state == states.PRUNED]
    completed = [t for t in study.trials if t.state == states.COMPLETE]
    rounds = {
        "pruned": sorted(t.user_attrs["rounds_trained"] for t in pruned),
        "completed": sorted(t.user_attrs["rounds_trained"] for t in completed),
    }
    print(
        f"{family}: {len(pruned)} pruned, {len(completed)} complete; rounds trained "
        f"(all folds) {rounds}"
    )
    assert len(pruned) >= 3 and completed
    # A pruned trial stopped after fewer rounds / epochs than any completed one ran.
    assert max(rounds["pruned"]) < min(rounds["completed"])

    # Each trial is a nested MLflow run: PRUNED -> KILLED, COMPLETE -> FINISHED.
    client = MlflowClient(f"sqlite:///{shared_dir / 'outputs' / 'mlflow.db'}")
    children = client.search_runs(
        [result.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'",
        max_results=100,
    )
    status = {int(r.data.tags["optuna.trial_number"]): r.info.status for r in children}
    assert {status[t.number] for t in pruned} == {"KILLED"}
    assert {status[t.number] for t in completed} == {"FINISHED"}


def test_a_new_family_is_one_yaml_file(shared_dir: Path) -> None:
    """No code: a YAML in the user's own config folder, found through hydra.searchpath."""
    from mlengine import run_experiment

    extra = shared_dir / "my_conf" / "model"
    extra.mkdir(parents=True)
    (extra / "decision_tree.yaml").write_text(
        "name: decision_tree\n"
        "classifier: {_target_: sklearn.tree.DecisionTreeClassifier}\n"
        "regressor: {_target_: sklearn.tree.DecisionTreeRegressor}\n"
        "encoding: ordinal\n"
        "search_space:\n"
        "  max_depth: {type: int, low: 2, high: 8}\n"
        "  min_samples_leaf: {type: int, low: 1, high: 20, log: true}\n"
    )
    result = run_experiment(
        [f"hydra.searchpath=[file://{extra.parent}]", "model=decision_tree", "dataset=wine", *SWEEP]
    )
    assert result.holdout["accuracy"] >= 0.8
    assert type(result.pipeline[-1]).__name__ == "DecisionTreeClassifier"
    assert set(result.best_params) == {"max_depth", "min_samples_leaf"}
