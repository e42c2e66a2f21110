"""The real `mlengine` command in a subprocess: fail-fast errors and a full run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["model=xgbost"], "Could not find 'model/xgbost'"),
        (["search.n_trials=-1"], "Invalid config 'search.n_trials': must be at least 1"),
        (["search.n_trial=5"], "Key 'n_trial' not in 'SearchConfig'"),
        (["search.n_trials=abc"], "search.n_trials"),
        (["dataset.test_size=1.5"], "Invalid config 'dataset.test_size'"),
        (["dataset=csv"], "dataset.path"),
    ],
)
def test_bad_command_fails_fast_and_writes_nothing(
    workdir: Path, args: list[str], expected: str
) -> None:
    result = run_cli(args, workdir, timeout=60)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "outputs").exists(), "no run, store or folder may be created"
    assert not (workdir / "mlruns").exists()


def test_help_lists_the_groups(workdir: Path) -> None:
    result = run_cli(["--help"], workdir, timeout=60)
    assert result.returncode == 0
    for line in ("model: ", "dataset: ", "search: "):
        assert line in result.stdout
    assert "xgboost" in result.stdout and "breast_cancer" in result.stdout


def test_missing_data_file_names_the_path(workdir: Path) -> None:
    result = run_cli(
        ["dataset=csv", "dataset.path=nowhere.csv", "dataset.target=y", "eda=off"],
        workdir,
        timeout=120,
    )
    assert result.returncode != 0
    assert "nowhere.csv" in result.stderr and "Traceback" not in result.stderr
