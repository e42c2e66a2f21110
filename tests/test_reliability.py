"""Faults a run must survive (shared/RELIABILITY.md): failing trials, kills, bad stores."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlengine.api import _new_folder
from mlengine.tracking import redact
from tests.helpers import run_cli


def _client(workdir: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")


def _all_runs(workdir: Path):
    client = _client(workdir)
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, max_results=1000)


def test_redact_hides_passwords_only() -> None:
    assert (
        redact("postgresql://bob:s3cr%40t@db:5432/optuna") == "postgresql://bob:***@db:5432/optuna"
    )
    assert redact("sqlite:///outputs/mlflow.db") == "sqlite:///outputs/mlflow.db"
    assert redact("http://host:5000") == "http://host:5000"


def test_folders_claimed_in_the_same_second_differ(tmp_path: Path) -> None:
    wanted = tmp_path / "runs" / "2026-01-01_00-00-00-abc"
    first, second = _new_folder(wanted), _new_folder(wanted)
    assert first != second and first.is_dir() and second.is_dir()


def test_unreachable_tracking_store_fails_before_training(workdir: Path) -> None:
    started = time.perf_counter()
    result = run_cli(["tracking.uri=http://127.0.0.1:9", "eda=off"], workdir, timeout=120)
    assert result.returncode != 0
    assert "MLflow tracking store http://127.0.0.1:9 is unreachable" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "outputs" / "optuna").exists(), "no study may be created"
    assert time.perf_counter() - started < 60


def test_secrets_in_storage_url_never_leak(workdir: Path) -> None:
    result = run_cli(
        [
            "search.storage=postgresql://bob:hunter2@127.0.0.1:9/optuna",
            "eda=off",
            "experiment_name=secret",
        ],
        workdir,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Cannot open Optuna storage postgresql://bob:***@127.0.0.1:9/optuna" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    (run,) = _all_runs(workdir)
    assert run.info.status == "FAILED"
    assert run.data.params["search.storage"] == "postgresql://bob:***@127.0.0.1:9/optuna"
    config = next((workdir / "outputs").rglob("config.yaml")).read_text()
    assert "hunter2" not in config and "bob:***@" in config


@pytest.mark.slow
def test_failing_trials_are_recorded_and_the_sweep_goes_on(workdir: Path) -> None:
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
def test_all_trials_failing_exits_nonzero_and_exports_nothing(workdir: Path) -> None:
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
    return subprocess.Popen(
        [sys.executable, "-m", "mlengine", *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_trials(workdir: Path, n: int, timeout: float = 180) -> None:
    """Until the study holds `n` finished trials (warm starts are WAITING until they run)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    deadline = time.monotonic() + timeout
    journal = workdir / "outputs" / "optuna" / "journal.log"
    while time.monotonic() < deadline:
        if journal.exists():
            storage = JournalStorage(JournalFileBackend(str(journal)))
            summaries = optuna.get_all_study_summaries(storage)
            if summaries:
                name = summaries[0].study_name
                trials = optuna.load_study(study_name=name, storage=storage).trials
                if sum(t.state.is_finished() for t in trials) >= n:
                    return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} trials finished in {timeout} s")


SWEEP = [
    "dataset=digits",
    "model=random_forest",
    "search.cv_folds=3",
    "eda=off",
    "search.n_trials=8",
    "experiment_name=faults",
]


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_the_same_study(workdir: Path) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    process = _start(workdir, SWEEP)
    _wait_for_trials(workdir, 2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    storage = JournalStorage(JournalFileBackend(str(workdir / "outputs/optuna/journal.log")))
    (summary,) = optuna.get_all_study_summaries(storage)
    before = optuna.load_study(study_name=summary.study_name, storage=storage).trials
    done_before = {
        t.number: t.params for t in before if t.state == optuna.trial.TrialState.COMPLETE
    }
    assert len(done_before) >= 2

    rerun = run_cli(SWEEP, workdir, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).trials
    finished = (
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    )
    assert all(t.state in finished for t in trials), "the killed trial must not stay RUNNING"
    assert len([t for t in trials if t.state.is_finished()]) == 8
    for number, params in done_before.items():  # kept, not re-run
        assert trials[number].params == params
    assert all(r.info.status != "RUNNING" for r in _all_runs(workdir))
    statuses = sorted(
        r.info.status for r in _all_runs(workdir) if "mlflow.parentRunId" not in r.data.tags
    )
    assert statuses == ["FINISHED", "KILLED"]


@pytest.mark.slow
def test_ctrl_c_marks_the_run_killed_and_exits_130(workdir: Path) -> None:
    process = _start(workdir, SWEEP)
    _wait_for_trials(workdir, 1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "rerun the same command to resume" in stderr
    parents = [r for r in _all_runs(workdir) if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parents] == ["KILLED"]


@pytest.mark.slow
def test_two_runs_started_together_write_separate_folders(workdir: Path) -> None:
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
def test_one_failed_multirun_job_does_not_stop_the_others(workdir: Path) -> None:
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
        if "search.n_trials=-1" in line and line.startswith("  #")
    )
    assert "failed" in failed_line and "must be at least 1" in failed_line
    parents = [r for r in _all_runs(workdir) if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parents] == ["FINISHED"]
