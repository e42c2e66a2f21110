"""Shared fixtures (helpers that tests import live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """One clear line, not 40 import errors, when this Python lacks the project."""
    import importlib.util
    import sys

    missing = [
        m for m in ("hydra", "mlflow", "optuna", "onnxruntime") if not importlib.util.find_spec(m)
    ]
    if missing:
        raise pytest.UsageError(
            f"{', '.join(missing)} not installed in this Python ({sys.executable}): "
            'run `pip install -e ".[dev]"` here first (or activate the venv that has it)'
        )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in its own folder, so outputs/ (MLflow store, studies) is fresh."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def postgres_server() -> object:
    """The URL of a PostgreSQL server for the tests (see tests/postgres.py)."""
    import os

    from tests.postgres import NOT_INSTALLED, URL_VARIABLE, private_cluster, server_binaries

    if os.environ.get(URL_VARIABLE):
        yield os.environ[URL_VARIABLE]
        return
    binaries = server_binaries()
    if binaries is None:
        pytest.skip(NOT_INSTALLED)
    with private_cluster(binaries) as url:
        yield url


@pytest.fixture(scope="session")
def small_served_run(tmp_path_factory: pytest.TempPathFactory):
    """One small run on tests.helpers.segment_table (its RunResult): the native model
    (`<run>/model`) and the ONNX model (`model_onnx`) that the serving tests start."""
    import os

    from mlengine import run_experiment
    from tests.helpers import SMALL_RUN, segment_table

    previous = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("small_served_run"))
    try:
        result = run_experiment(SMALL_RUN, frame=segment_table(), target="segment")
    finally:
        os.chdir(previous)
    assert result.onnx_path is not None, result.onnx_reason
    return result
