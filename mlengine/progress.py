"""The sweep's progress bar: trial n of N and the best score so far, on stderr."""

from __future__ import annotations

from typing import Any


class SweepProgress:
    """An Optuna callback that advances a tqdm bar once per finished trial."""

    def __init__(self, study: Any, total: int, metric: str) -> None:
        self.study, self.total, self.metric = study, total, metric
        self.bar: Any = None

    def __enter__(self) -> SweepProgress:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, desc="trials", unit="trial", dynamic_ncols=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        try:
            best = f"{study.best_value:.4f}"
        except ValueError:  # no trial has completed yet
            best = "-"
        self.bar.set_postfix_str(f"last={trial.state.name.lower()} best {self.metric}={best}")
        self.bar.update(1)
        if trial.state == TrialState.FAIL:
            reason = trial.user_attrs.get("fail_reason") or "the objective returned no finite value"
            self.bar.write(f"trial {trial.number} failed: {reason.splitlines()[0][:200]}")
