"""The holdout report: how good the refit model is on rows the sweep never saw, and why.

Metrics (`mlengine.metrics.HOLDOUT_METRICS`) with bootstrap intervals
(`mlengine.intervals`), scikit-learn's plots (`mlengine.holdout_plots`) and permutation
importance per raw column (`mlengine.importance`), written under `holdout/` in the run
folder. Why not `mlflow.models.evaluate`: it needs the model as an MLflow model for
probabilities, and the model the holdout scores (the train-split one) is not the exported
one under `export.refit=all`; its classifier plots are the same sklearn curves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlengine.intervals import LEVEL, RESAMPLES, bootstrap_intervals

MAX_BOOTSTRAP_CELLS = 2_000_000  # resamples x rows: bounds the intervals' time (~0.5 s)


@dataclass
class HoldoutReport:
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    level: float = LEVEL
    resamples: int = 0
    rows: int = 0
    importance: list[Any] = field(default_factory=list)  # mlengine.importance.Importance
    groups: list[list[str]] = field(default_factory=list)  # columns shuffled together
    plots: list[Path] = field(default_factory=list)

    def metric_values(self) -> dict[str, float]:
        """`holdout_<m>`, `holdout_<m>_ci_low`, `holdout_<m>_ci_high` for MLflow."""
        values = {f"holdout_{k}": v for k, v in self.metrics.items()}
        for name, (low, high) in self.intervals.items():
            values[f"holdout_{name}_ci_low"] = low
            values[f"holdout_{name}_ci_high"] = high
        return values

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "metrics": self.metrics,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "level": self.level,
            "resamples": self.resamples,
            "importance": [asdict(i) for i in self.importance],
            "groups": self.groups,
            "plots": [p.name for p in self.plots],
        }

    def line(self) -> str:
        """The console's holdout line: each metric with its interval."""
        shown = []
        for name, value in self.metrics.items():
            low_high = self.intervals.get(name)
            shown.append(
                f"{name}={value:.4f}"
                + (f" [{low_high[0]:.4f}, {low_high[1]:.4f}]" if low_high else "")
            )
        how = f", {self.level:.0%} CI of {self.resamples} bootstrap resamples"
        return f"Holdout: {', '.join(shown)} ({self.rows} rows{how if self.intervals else ''})"


def evaluate_holdout(
    task: str,
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    metric: str,
    out_dir: Path | None,
    *,
    seed: int = 0,
    intervals: bool = True,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    importance: bool = True,
    redundant_pairs: list[dict[str, Any]] = (),
) -> HoldoutReport:
    """Score `pipeline` on the holdout (X, y); with `out_dir`, draw the plots there."""
    from mlengine.metrics import holdout_predictions, holdout_scores

    predictions, proba = holdout_predictions(task, pipeline, X)
    classes = getattr(pipeline, "classes_", None)
    report = HoldoutReport(
        holdout_scores(task, y, predictions, proba, classes), rows=len(X), level=level
    )
    if intervals and len(X) >= 2:
        report.resamples = max(100, min(resamples, MAX_BOOTSTRAP_CELLS // len(X)))
        report.intervals = bootstrap_intervals(
            task,
            y,
            predictions=predictions,
            proba=proba,
            classes=classes,
            metrics=list(report.metrics),
            level=level,
            n_resamples=report.resamples,
            seed=seed,
        )
    if importance and metric in report.metrics:
        from mlengine.importance import permutation_importance, redundant_groups

        report.groups = redundant_groups(list(redundant_pairs), list(X.columns))
        report.importance = permutation_importance(pipeline, X, y, metric, report.groups, seed=seed)
    if out_dir is not None:
        report.plots = _plots(task, y, predictions, proba, classes, report, metric, Path(out_dir))
    return report


def _plots(
    task: str,
    y: Any,
    predictions: Any,
    proba: Any,
    classes: Any,
    report: HoldoutReport,
    metric: str,
    out_dir: Path,
) -> list[Path]:
    from mlengine import holdout_plots
    from mlengine.importance import to_frame

    out_dir.mkdir(parents=True, exist_ok=True)
    if task == "classification":
        paths = holdout_plots.classification_plots(y, predictions, proba, classes, out_dir)
    else:
        paths = holdout_plots.regression_plots(
            np.asarray(y, dtype=float), np.asarray(predictions, dtype=float), out_dir
        )
    if report.importance:
        frame = to_frame(report.importance)
        frame.to_csv(out_dir / "permutation_importance.csv", index=False)
        paths.append(holdout_plots.importance_plot(frame, metric, out_dir))
    return paths
