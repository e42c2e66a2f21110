"""Shared fixtures (helpers that tests import live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in its own folder, so outputs/ (MLflow store, studies) is fresh."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
