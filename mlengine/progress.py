"""The sweep's progress on stderr: a live bar in a terminal, a few plain lines in a log.

In a log file (CI, a SLURM job, `> log.txt`) a bar's every redraw becomes a line of its own,
so there the sweep prints one line per tenth of the trials, and a last one when it ends.
"""

from __future__ import annotations

import sys
from typing import Any

LOG_STEPS = 10  # plain lines per sweep when stderr is not a terminal


class SweepProgress:
    """An Optuna callback reporting each finished trial: trial n of N, best so far."""

    def __init__(self, study: Any, total: int, metric: str, stream: Any = None) -> None:
        self.study, self.total, self.metric = study, total, metric
        self.stream = stream or sys.stderr
        self.bar: Any = None
        self.done = 0
        self.logged = 0  # trials done when the last plain line was printed

    def __enter__(self) -> SweepProgress:
        if self.stream.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.total, desc="trials", unit="trial", dynamic_ncols=True, file=self.stream
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.done != self.logged:
            self._line()

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"last={trial.state.name.lower()} {self._best(study)}")
            self.bar.update(1)
        elif self.done * LOG_STEPS // self.total > self.logged * LOG_STEPS // self.total:
            self._line()
        if trial.state == TrialState.FAIL:
            reason = trial.user_attrs.get("fail_reason") or "the objective returned no finite value"
            self._write(f"trial {trial.number} failed: {reason.splitlines()[0][:200]}")

    def _best(self, study: Any) -> str:
        try:
            return f"best {self.metric}={study.best_value:.4f}"
        except ValueError:  # no trial has completed yet
            return f"best {self.metric}=-"

    def _line(self) -> None:
        self.logged = self.done
        self._write(f"trials {self.done}/{self.total}, {self._best(self.study)}")

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)
