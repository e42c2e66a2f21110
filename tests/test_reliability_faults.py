"""Items 12-20 of shared/RELIABILITY.md, the faults a run must survive: failing and
non-finite trials, bugs outside the estimator, kills and signals, many workers, multirun
failures, folders claimed together, bad stores (docs/reliability.md maps each item)."""

from __future__ import annotations

import contextlib
import math
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from mlengine import recovery, sweep
from mlengine.api import _new_folder
from mlengine.config import ModelConfig
from mlengine.search import make_estimator
from mlengine.studies import OpenStudy
from tests.helpers import all_runs, journal_study, run_cli, start_cli
from tests.postgres import wait_until


def _all_runs(workdir: Path):
    return all_runs(workdir)


def test_item19_folders_claimed_in_the_same_second_differ(tmp_path: Path) -> None:
    wanted = tmp_path / "runs" / "2026-01-01_00-00-00-abc"
    first, second = _new_folder(wanted), _new_folder(wanted)
    assert first != second and first.is_dir() and second.is_dir()


def test_item20_an_unreachable_tracking_store_fails_before_training(workdir: Path) -> None:
    started = time.perf_counter()
    result = run_cli(["tracking.uri=http://127.0.0.1:9", "eda=off"], workdir, timeout=120)
    assert result.returncode != 0
    assert "MLflow tracking store http://127.0.0.1:9 is unreachable" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "outputs" / "optuna").exists(), "no study may be created"
    assert time.perf_counter() - started < 60


def test_item20_a_malformed_tracking_uri_fails_before_training(workdir: Path) -> None:
    result = run_cli(["tracking.uri=foo://bar", "eda=off"], workdir, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "foo://bar" in line and "unsupported URI" in line and "(check tracking.uri)" in line
    assert not (workdir / "outputs" / "optuna").exists(), "no study may be created"


@pytest.mark.slow
def test_item12_failing_trials_are_recorded_and_the_sweep_goes_on(workdir: Path) -> None:
    from mlengine import run_experiment

    # max_features above 1.0 is rejected by the forest: those trials fail, the others count.
    result = run_experiment(
        [
            "dataset=wine",
            "model=random_forest",
            "search.n_trials=6",
            "search.cv_folds=3",
            "eda=off",
            "search.sampler=random",
            "model.search_space.max_features.high=1.9",
        ]
    )
    runs = [r for r in _all_runs(workdir) if "mlflow.parentRunId" in r.data.tags]
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert len(runs) == 6 and failed, "some trials must fail with this space"
    assert all("max_features" in r.data.tags["fail_reason"] for r in failed)
    assert all(float(r.data.params["max_features"]) > 1.0 for r in failed)
    assert result.best_params["max_features"] <= 1.0 and result.holdout["accuracy"] > 0.8


@pytest.mark.slow
def test_item14_all_trials_failing_exits_nonzero_and_exports_nothing(workdir: Path) -> None:
    result = run_cli(
        [
            "dataset=wine",
            "model=random_forest",
            "search.n_trials=2",
            "search.cv_folds=3",
            "eda=off",
            "model.search_space.max_features.low=1.5",
            "model.search_space.max_features.high=1.9",
        ],
        workdir,
        timeout=300,
    )
    assert result.returncode != 0
    assert "No trial of study 'mlengine-wine-random_forest-" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((workdir / "outputs").rglob("MLmodel"))
    parents = [r for r in _all_runs(workdir) if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parents] == ["FAILED"]


def _start(workdir: Path, args: list[str]) -> subprocess.Popen:
    return start_cli(args, workdir)


def _wait_for_trials(workdir: Path, n: int, timeout: float = 180) -> None:
    """Until the study holds `n` finished trials (warm starts are WAITING until they run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        study = journal_study(workdir)
        if study and sum(t.state.is_finished() for t in study.trials) >= n:
            return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} trials finished in {timeout} s")


SWEEP = [
    "dataset=digits",
    "model=random_forest",
    "search.cv_folds=3",
    "eda=off",
    "search.n_trials=12",
    "export.onnx=false",
    "experiment_name=faults",
]


def _kill_while_a_trial_runs(workdir: Path, process: subprocess.Popen) -> int:
    """SIGKILL once 2 trials ended and another is RUNNING; that trial's number."""
    from optuna.trial import TrialState

    _wait_for_trials(workdir, 2)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = [t for t in journal_study(workdir).trials if t.state == TrialState.RUNNING]
        if running:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            still = [t for t in journal_study(workdir).trials if t.state == TrialState.RUNNING]
            if still:  # it did not end in the instant between the check and the kill
                return still[0].number
            raise AssertionError("the trial ended before the kill; rerun the test")
        time.sleep(0.05)
    raise AssertionError("no trial was RUNNING")


@pytest.mark.slow
def test_item15_sigkill_then_rerun_resumes_the_same_study_in_the_same_parent_run(
    workdir: Path,
) -> None:
    from optuna.trial import TrialState

    from mlengine.recovery import DIED

    killed = _kill_while_a_trial_runs(workdir, _start(workdir, SWEEP))
    done_before = {
        t.number: t.params for t in journal_study(workdir).trials if t.state == TrialState.COMPLETE
    }

    rerun = run_cli(SWEEP, workdir, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Resuming study" in rerun.stdout
    trials = journal_study(workdir).trials
    assert len(trials) == 12 and all(t.state.is_finished() for t in trials)
    assert trials[killed].state == TrialState.FAIL
    assert trials[killed].user_attrs["fail_reason"] == DIED
    for number, params in done_before.items():  # kept, not re-run
        assert trials[number].params == params

    runs = _all_runs(workdir)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parents] == ["FINISHED"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    numbers = sorted(int(r.data.tags["optuna.trial_number"]) for r in children)
    assert numbers == list(range(12))  # one nested run per trial, the killed one included
    assert all(r.info.status != "RUNNING" for r in runs)
    (killed_run,) = [r for r in children if r.data.tags["optuna.trial_number"] == str(killed)]
    assert killed_run.data.tags["fail_reason"] == DIED

    # A bigger n_trials extends the finished study, in the same parent run.
    extended = run_cli([*SWEEP, "search.n_trials=15"], workdir, timeout=600)
    assert extended.returncode == 0, extended.stderr[-2000:]
    assert len(journal_study(workdir).trials) == 15
    runs = _all_runs(workdir)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_id for r in parents] == [killed_run.data.tags["mlflow.parentRunId"]]
    assert parents[0].info.status == "FINISHED"
    assert len([r for r in runs if "mlflow.parentRunId" in r.data.tags]) == 15
    assert parents[0].data.tags["search.n_trials"] == "15"  # the param keeps its first value


@pytest.mark.slow
def test_item19_two_runs_started_together_write_separate_folders(workdir: Path) -> None:
    args = [
        "dataset=wine",
        "model=logistic_regression",
        "search.n_trials=1",
        "search.cv_folds=3",
        "eda=off",
        "export.enabled=false",
    ]
    first, second = _start(workdir, args), _start(workdir, args)
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0
    folders = list((workdir / "outputs" / "runs").iterdir())
    assert len(folders) == 2
    assert all((f / "result.json").is_file() for f in folders)


@pytest.mark.slow
def test_item18_one_failed_multirun_job_does_not_stop_the_others(workdir: Path) -> None:
    result = run_cli(
        [
            "-m",
            "model=logistic_regression",
            "search.n_trials=2,-1",
            "search.cv_folds=3",
            "eda=off",
            "dataset=wine",
            "export.enabled=false",
        ],
        workdir,
        timeout=300,
    )
    assert result.returncode != 0
    assert "Sweep: 2 jobs, 1 failed" in result.stderr
    failed_line = next(
        line
        for line in result.stderr.splitlines()
        if "search.n_trials=-1" in line and line.startswith("failed #1")
    )
    assert "must be at least 1" in failed_line
    runs = _all_runs(workdir)
    kinds = {(r.data.tags.get("mlengine.run_kind"), r.info.status) for r in runs}
    assert kinds == {("study", "FINISHED"), ("trial", "FINISHED"), ("sweep", "FAILED")}


# A sitecustomize.py that plants a bug in mlengine's own code around the estimator.
_PLANTED_BUG = """
import mlengine.search


def fit_kwargs(*args, **kwargs):
    raise TypeError("planted bug in mlengine's own code")


mlengine.search.fit_kwargs = fit_kwargs
"""


def test_item12_a_bug_outside_the_estimator_aborts_the_sweep(workdir: Path, monkeypatch) -> None:
    """Only what the estimator raises in fit/predict fails a trial; a TypeError in mlengine's
    code around it propagates on the first trial instead of failing every trial."""
    from mlengine import run_experiment, search

    def planted(*args, **kwargs):
        raise TypeError("planted bug in mlengine's own code")

    monkeypatch.setattr(search, "fit_kwargs", planted)
    with pytest.raises(TypeError, match="planted bug"):
        run_experiment(
            ["dataset=iris", "model=logistic_regression", "search.n_trials=4", "eda=off"]
        )
    # The first trial ended the sweep (the others wait: enqueued warm starts).
    (trial,) = [t for t in journal_study(workdir).trials if t.state.name != "WAITING"]
    assert trial.state.name == "FAIL" and "planted bug" in trial.user_attrs["fail_reason"]
    parents = [r for r in _all_runs(workdir) if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parents] == ["FAILED"]


def test_item12_an_error_raised_in_mlengine_code_is_not_the_estimators() -> None:
    import optuna
    from sklearn.linear_model import LogisticRegression

    from mlengine.metrics import score_predictions
    from mlengine.search import EstimatorFailure, estimator_errors

    trial = optuna.create_study().ask()
    with pytest.raises(EstimatorFailure, match="C"), estimator_errors(trial):
        LogisticRegression(C=-1.0).fit([[0.0], [1.0]], [0, 1])  # the estimator refuses C
    assert "C" in trial.user_attrs["fail_reason"]
    with pytest.raises(ValueError, match="unknown metric"), estimator_errors(trial):
        score_predictions("accuracyy", [0, 1], predictions=[0, 1])  # mlengine's own raise


@pytest.mark.slow
def test_item12_an_unexpected_error_is_one_line_with_its_traceback_in_the_log(
    workdir: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_PLANTED_BUG)
    env = {"PYTHONPATH": str(site)}
    result = run_cli(
        ["dataset=iris", "model=logistic_regression", "search.n_trials=4", "eda=off"],
        workdir,
        env=env,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mlengine stopped on an unexpected error: TypeError: planted bug")
    (log_file,) = (workdir / "outputs" / "runs").glob("*/*.log")
    assert str(log_file) in last
    logged = log_file.read_text()
    assert "Traceback" in logged and "planted bug in mlengine's own code" in logged
    runs = _all_runs(workdir)
    assert [r.info.status for r in runs if "mlflow.parentRunId" not in r.data.tags] == ["FAILED"]
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert not list((workdir / "outputs").rglob("MLmodel"))  # nothing exported


# ~1-2 s a trial, so the signal lands inside one.
SIGNAL_SWEEP = ["dataset=digits", "model=random_forest", "search.n_trials=6", "search.cv_folds=3"]
SIGNAL_SWEEP += ["eda=off", "export.onnx=false", "search.pruner=none"]


def _running(workdir: Path) -> list:
    try:
        return [t for t in journal_study(workdir).trials if t.state.name == "RUNNING"]
    except Exception:  # noqa: BLE001 - the journal is not written yet
        return []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code", "words"),
    [(signal.SIGINT, 130, "Interrupted"), (signal.SIGTERM, 143, "Terminated (SIGTERM)")],
    ids=["sigint", "sigterm"],
)
def test_item16_a_signal_stops_the_running_trial_and_the_study_resumes(
    workdir: Path, sig: int, code: int, words: str
) -> None:
    process = start_cli(SIGNAL_SWEEP, workdir)
    assert wait_until(lambda: _running(workdir), timeout=240, poll=0.1)
    (running,) = _running(workdir)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
    assert f"{words}: the study is saved; rerun the same command to resume." in stderr
    stopped = journal_study(workdir).trials[running.number]
    assert stopped.state.name == "FAIL" and stopped.user_attrs["mlengine.interrupted"] is True
    assert stopped.user_attrs["fail_reason"].startswith("interrupted (")
    parents = [r for r in all_runs(workdir) if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parents] == ["KILLED"]
    assert not [r for r in all_runs(workdir) if r.info.status == "RUNNING"]

    rerun = run_cli(SIGNAL_SWEEP, workdir)  # the same command resumes the same study and run
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Resuming study" in rerun.stdout
    trials = journal_study(workdir).trials
    assert len(trials) == 6 and all(t.state.is_finished() for t in trials)
    parents = [r for r in all_runs(workdir) if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parents] == ["FINISHED"]


def test_item16_a_signal_swallowed_inside_an_import_still_stops_the_trial(monkeypatch) -> None:
    """A library's bare `except:` around an import swallows the KeyboardInterrupt a signal
    raised, and Hydra then reports "Error locating target" (seen in CI on SIGTERM). The
    stop must still win over that config error."""
    import hydra.utils

    monkeypatch.setattr(recovery, "_requested_stop", None)

    def instantiate(*args, **kwargs):
        with contextlib.suppress(BaseException):  # what the swallowing library does
            recovery.raise_terminated(signal.SIGTERM, None)  # the handler, mid-import
        raise ImportError("Error locating target 'sklearn.ensemble.RandomForestClassifier'")

    monkeypatch.setattr(hydra.utils, "instantiate", instantiate)
    model = ModelConfig(name="rf", classifier={"_target_": "sklearn.ensemble.X"})
    with pytest.raises(recovery.Terminated):
        make_estimator(model, "classification", {}, seed=0)


NO_FINITE_VALUE = "the objective returned no finite value"  # mlengine.sweep._evaluate


# ---------------------------------------------------------------------------------------------
# Item 13: a trial returning NaN/inf is FAIL and never chosen as best
# ---------------------------------------------------------------------------------------------
def _memory_study(direction: str) -> OpenStudy:
    """An in-memory study, as `studies.open_study` would hand it to the trial loop (no
    journal, no lock file: `slot` takes no lock for a storage it does not know)."""
    storage = optuna.storages.InMemoryStorage()
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(storage=storage, direction=direction, sampler=sampler)
    return OpenStudy(study, storage, "memory", created=True)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_item13_nan_objective_trial_is_fail_and_never_best(direction: str) -> None:
    # inf would be the best value of a maximised study, -inf of a minimised one: both are
    # here, before the finite values, so a loop that told them COMPLETE would pick them.
    returned = [
        float("nan"),
        float("inf"),
        float("-inf"),
        np.float64("nan"),
        np.float32("inf"),
        None,
        0.5,
        0.25,
    ]
    handle = _memory_study(direction)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        return returned[trial.number]

    ran = sweep.run_trials(handle, objective, n_trials=len(returned))
    trials = handle.study.trials
    assert ran == len(returned) == len(trials)
    non_finite = trials[:6]
    assert [t.state for t in non_finite] == [TrialState.FAIL] * 6
    assert all(t.value is None and t.values is None for t in non_finite)
    assert [t.user_attrs["fail_reason"] for t in non_finite] == [NO_FINITE_VALUE] * 6
    assert [t.state for t in trials[6:]] == [TrialState.COMPLETE] * 2

    best = handle.study.best_trial
    assert best.number == (6 if direction == "maximize" else 7)
    assert math.isfinite(handle.study.best_value)
    assert handle.study.best_value == (0.5 if direction == "maximize" else 0.25)


def test_item13_a_study_of_only_non_finite_trials_has_no_best() -> None:
    handle = _memory_study("maximize")
    sweep.run_trials(handle, lambda t: float("nan") if t.number % 2 else float("inf"), 4)
    assert {t.state for t in handle.study.trials} == {TrialState.FAIL}
    # mlengine.run then raises "No trial of study ... completed" (item 14)
    assert not handle.study.get_trials(states=(TrialState.COMPLETE,))
    with pytest.raises(ValueError):
        _ = handle.study.best_trial


def test_item13_a_non_finite_trial_is_never_an_ensemble_member() -> None:
    from types import SimpleNamespace

    from mlengine import ensemble
    from mlengine.run import _members
    from mlengine.search import CrossValidatedObjective

    n = 200
    y = np.zeros(n, dtype=int)
    y[::2] = 1
    rows = np.arange(n)

    def probabilities(right: np.ndarray) -> np.ndarray:
        """0.9 on the true class where `right`, 0.6 on the wrong one elsewhere."""
        on_true = np.where(right, 0.9, 0.4)
        out = np.empty((n, 2))
        out[rows, y], out[rows, 1 - y] = on_true, 1 - on_true
        return out

    # Trials 0 and 1 are each right on 70% of the rows and complementary (their blend is
    # right everywhere); trial 2 is worse. Trial 0's mean fold score was NaN.
    oof = {
        0: probabilities(rows < 140),
        1: probabilities(rows >= 60),
        2: probabilities(rows % 10 < 6),
    }
    cv = CrossValidatedObjective(
        model=None,
        make_preprocessor=None,
        X=pd.DataFrame({"x": np.zeros(n)}),
        y=pd.Series(y),
        task="classification",
        metric="accuracy",
        folds=[],
        seed=0,
        keep_oof=ensemble.CANDIDATES_PER_MEMBER * 2,
    )
    values = [float("nan"), 0.7, 0.6]

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("C", 0.1, 1.0)
        # What CrossValidatedObjective.__call__ does after its last fold: keep the trial's
        # out-of-fold predictions with its mean fold score, and return that mean.
        cv._keep(trial.number, oof[trial.number], values[trial.number])
        return values[trial.number]

    handle = _memory_study("maximize")
    sweep.run_trials(handle, objective, n_trials=3)
    study = handle.study
    assert [t.state for t in study.trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 2

    conf = SimpleNamespace(search=SimpleNamespace(ensemble=2))  # search.ensemble=2
    members = _members(conf, cv, study, pd.Series(y), "accuracy", "classification")
    assert [(t.number, t.state) for t, _ in members if t.state != TrialState.COMPLETE] == []
    # select() itself passes over a non-finite score, even when handed one with its rows.
    weights = ensemble.select(oof, dict(enumerate(values)), y, "accuracy", 2, np.array([0, 1]))
    assert weights and 0 not in weights
