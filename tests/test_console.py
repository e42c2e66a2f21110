"""What the console shows: a quiet start, and a log-friendly progress report off a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

import optuna
import pytest

from mlengine.progress import LOG_STEPS, SweepProgress
from tests.helpers import run_cli


def _sweep(n_trials: int, stream: io.StringIO) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    with SweepProgress(study, n_trials, "rmse", stream=stream) as progress:
        study.optimize(
            lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=n_trials, callbacks=[progress]
        )


@pytest.mark.parametrize("n_trials", [3, 10, 57, 200])
def test_off_a_terminal_progress_prints_a_line_per_tenth(n_trials: int) -> None:
    stream = io.StringIO()  # not a TTY, as a log file or CI
    _sweep(n_trials, stream)
    lines = stream.getvalue().splitlines()
    assert 1 <= len(lines) <= LOG_STEPS
    assert lines[-1].startswith(f"trials {n_trials}/{n_trials}, best rmse=")
    assert "\r" not in stream.getvalue()


def test_a_sweep_stopped_early_still_ends_with_its_count() -> None:
    stream = io.StringIO()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study()
    with SweepProgress(study, 100, "r2", stream=stream) as progress:
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=7, callbacks=[progress])
    assert stream.getvalue().splitlines()[-1].startswith("trials 7/100")


@pytest.mark.slow
def test_default_run_has_no_mlflow_info_lines_and_few_progress_lines(workdir: Path) -> None:
    result = run_cli(["search.n_trials=12", "search.cv_folds=3"], workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert not re.search(r"INFO (mlflow|alembic)", output), output[:2000]
    progress = [line for line in result.stderr.splitlines() if line.startswith("trials ")]
    assert 1 <= len(progress) <= LOG_STEPS and progress[-1].startswith("trials 12/12")
    # breast_cancer has columns the EDA rates irrelevant; the run keeps them unless asked.
    assert "(opt in: features.select=eda)" in result.stdout
    assert "features.select=eda drops" not in result.stdout
