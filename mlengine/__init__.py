"""mlengine: declarative experiments for tabular ML (Hydra + Optuna + MLflow)."""

from __future__ import annotations

from typing import Any

__all__ = ["run_experiment"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import mlengine` (and `mlengine --help`) stays fast.
    if name == "run_experiment":
        from mlengine.api import run_experiment

        return run_experiment
    raise AttributeError(name)
