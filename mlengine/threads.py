"""How a job shares the machine's cores: one stated policy.

A worker runs its trials one after another, and a trial its CV folds one after another, so
the estimator gets the worker's cores as threads: a family names its thread argument in its
YAML (`threads: n_jobs` for XGBoost and the forests, `num_threads` for the torch MLP). K
workers on one machine get `cores // K` each, so together they never oversubscribe the
cores. A family whose YAML fixes the argument's value keeps it. While K workers share the
machine (`search.n_jobs`), each also caps its OpenMP pool (sklearn's histogram boosting) to
the same count, with threadpoolctl. BLAS (numpy, behind the linear models) gets one thread
fewer than the worker's count, at least one: a sweep's trial writer (trial_runs.py) runs on
that core, and the linear models' small BLAS calls gain little from it (measured in
benchmarks/bench_overhead.py: with it, the writer slowed cheap trials by ~50%).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

_workers = 1  # workers sharing this machine now (set by `shared_by` for a sweep)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a SLURM or container limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_worker(n_workers: int | None = None) -> int:
    return max(1, available_cores() // max(1, n_workers or _workers))


@contextlib.contextmanager
def shared_by(n_workers: int) -> Iterator[None]:
    """This process is one of `n_workers` sweeping on this machine, until the block ends."""
    global _workers
    from threadpoolctl import threadpool_limits

    previous, _workers = _workers, max(1, n_workers)
    limits = {"blas": max(1, threads_per_worker() - 1)}
    if n_workers > 1:
        limits["openmp"] = threads_per_worker()
    try:
        with threadpool_limits(limits=limits):
            yield
    finally:
        _workers = previous


def apply_thread_policy(estimator: Any, param: str | None, fixed: dict[str, Any]) -> None:
    """Set the family's thread argument `param` to the policy's count, unless `fixed` sets it."""
    if param and param not in fixed:
        estimator.set_params(**{param: threads_per_worker()})
