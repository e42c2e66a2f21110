"""One time budget for the whole job, and where the time went.

`search.timeout` covers everything a job does: loading, EDA, the sweep, the refits and the
export. The sweep gets what is left after a reserve for the steps that follow it; the
reserve starts as a guess and is re-estimated from the trials' own fit times, and a trial
that would not finish before the sweep's deadline is not started (or stops as PRUNED).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Seconds the export takes on this 2-core machine (benchmarks/README.md): saving the model
# (skops + MLflow, ONNX with its parity and latency checks), plus the first import of skops
# and of the ONNX converters when the process has not loaded them yet.
EXPORT_RESERVE_S = 1.5
SKOPS_IMPORT_S = 3.0
ONNX_IMPORT_S = 2.0
# The two refits (train split, then all rows with scaled-up rounds) cost about five CV
# folds together: each fits more rows than a fold, and an iterative family more rounds.
REFIT_FOLDS = 5.0


def process_started() -> float:
    """The time.monotonic() at which this process started (Linux /proc; elsewhere: now)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        since_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return time.monotonic()
    return time.monotonic() - max(0.0, uptime - since_boot)


@dataclass
class Budget:
    seconds: float | None  # None: no limit
    started: float = field(default_factory=time.monotonic)
    stages: dict[str, float] = field(default_factory=dict)  # stage -> seconds spent

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def sweep_deadline(self, reserve: float) -> float | None:
        """The monotonic time by which the sweep must end, leaving `reserve` seconds."""
        if self.seconds is None:
            return None
        return self.started + self.seconds - reserve

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time one step of the job (load, eda, sweep, refit, export)."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.monotonic() - start

    def summary(self) -> str:
        """ "load 1.2s, eda 0.6s, sweep 21.9s, ... (total 28.4s of a 30s budget)"."""
        parts = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.stages.items())
        limit = f" of a {self.seconds:g}s budget" if self.seconds else ""
        return f"{parts} (total {self.elapsed():.1f}s{limit})"


def export_reserve(onnx: bool) -> float:
    """Seconds to keep for the export, by what this process still has to import."""
    seconds = EXPORT_RESERVE_S
    if "skops.io" not in sys.modules:
        seconds += SKOPS_IMPORT_S
    if onnx and "skl2onnx" not in sys.modules:
        seconds += ONNX_IMPORT_S
    return seconds


class StopAtDeadline:
    """Trial callback: stop the sweep when the next trial would not end before the deadline.

    The next trial is assumed to take as long as the slowest of the last few; the reserve
    for the refits grows with the trials' fit times.
    """

    def __init__(self, budget: Budget, n_folds: int, export_seconds: float) -> None:
        self.budget, self.n_folds, self.export_seconds = budget, n_folds, export_seconds
        self.durations: list[float] = []
        self.stopped = False  # the trial loop (sweep.run_trials) ends once this is set

    def reserve(self) -> float:
        if not self.durations:
            return self.export_seconds
        per_fold = sorted(self.durations)[len(self.durations) // 2] / self.n_folds
        return self.export_seconds + REFIT_FOLDS * per_fold

    def deadline(self) -> float | None:
        """When a running trial must stop; none before a first trial has completed, so a
        budget too small for one trial still ends with a model."""
        return self.budget.sweep_deadline(self.reserve()) if self.durations else None

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        if trial.state == TrialState.COMPLETE and trial.duration is not None:
            self.durations.append(trial.duration.total_seconds())
        deadline = self.budget.sweep_deadline(self.reserve())
        if deadline is None:
            return
        next_trial = max(self.durations[-5:], default=0.0)
        if time.monotonic() + next_trial > deadline:
            self.stopped = True
