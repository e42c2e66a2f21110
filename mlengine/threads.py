"""How a job shares the machine's cores: one stated policy.

A worker runs its trials one after another, and a trial its CV folds one after another, so
the estimator gets the worker's cores as threads: a family names its thread argument in its
YAML (`threads: n_jobs` for XGBoost and the forests, `num_threads` for the torch MLP). K
workers on one machine get `cores // K` each, so together they never oversubscribe the
cores. A family whose YAML fixes the argument's value keeps it. BLAS (numpy, behind the
linear models) keeps its library default.
"""

from __future__ import annotations

import os
from typing import Any


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a SLURM or container limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_worker(n_workers: int = 1) -> int:
    return max(1, available_cores() // max(1, n_workers))


def apply_thread_policy(
    estimator: Any, param: str | None, fixed: dict[str, Any], n_workers: int = 1
) -> None:
    """Set the family's thread argument `param` to the policy's count, unless `fixed` sets it."""
    if param and param not in fixed:
        estimator.set_params(**{param: threads_per_worker(n_workers)})
