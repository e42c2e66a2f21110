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
