"""The holdout's pictures, drawn by scikit-learn's Display classes on Agg figures.

Classification: confusion matrix, ROC and precision-recall curves (one-vs-rest per class
for more than two), calibration curve. Regression: predicted vs actual, residuals.
Permutation importance as a bar plot with its spread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlengine.eda.plots import figure


def classification_plots(y: Any, pred: Any, proba: Any, classes: Any, out_dir: Path) -> list[Path]:
    """The confusion matrix, and with probabilities (`proba` not None) the ROC,
    precision-recall and calibration curves."""
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    y, classes = np.asarray(y), list(classes)
    # Binary: the curves of the second class (sklearn's positive label); else one per class.
    shown = classes[1:] if len(classes) == 2 else classes

    def confusion(ax: Any) -> None:
        ConfusionMatrixDisplay.from_predictions(y, pred, labels=classes, ax=ax, colorbar=False)

    def roc(ax: Any) -> None:
        for i, c in enumerate(shown):
            k = classes.index(c)
            RocCurveDisplay.from_predictions(
                y == c, proba[:, k], name=str(c), ax=ax, plot_chance_level=i == 0
            )

    def precision_recall(ax: Any) -> None:
        for c in shown:
            PrecisionRecallDisplay.from_predictions(
                y == c, proba[:, classes.index(c)], name=str(c), ax=ax
            )

    def calibration(ax: Any) -> None:
        for i, c in enumerate(shown):
            CalibrationDisplay.from_predictions(
                y == c, proba[:, classes.index(c)], n_bins=10, name=str(c), ax=ax, ref_line=i == 0
            )

    paths = [_draw(out_dir / "confusion_matrix.png", 5, 4.5, confusion)]
    if proba is None:  # a classifier without predict_proba: no curves
        return paths
    return [
        *paths,
        _draw(out_dir / "roc_curve.png", 5.5, 4.5, roc),
        _draw(out_dir / "precision_recall_curve.png", 5.5, 4.5, precision_recall),
        _draw(out_dir / "calibration_curve.png", 5.5, 4.5, calibration),
    ]


def regression_plots(y: Any, pred: Any, out_dir: Path) -> list[Path]:
    from sklearn.metrics import PredictionErrorDisplay

    def error_plot(kind: str) -> Any:
        def draw(ax: Any) -> None:
            PredictionErrorDisplay.from_predictions(
                y, pred, kind=kind, ax=ax, subsample=2000, random_state=0
            )

        return draw

    return [
        _draw(out_dir / "predicted_vs_actual.png", 5, 4.5, error_plot("actual_vs_predicted")),
        _draw(out_dir / "residuals.png", 5, 4.5, error_plot("residual_vs_predicted")),
    ]


def importance_plot(frame: Any, metric: str, out_dir: Path) -> Path:
    shown = frame.head(25).iloc[::-1]  # most important on top
    # A group of redundant columns is named by all of them: shortened, or it squeezes the
    # bars to nothing (the table keeps the full name).
    labels = [name if len(name) <= 40 else name[:39] + "…" for name in shown["feature"]]

    def bars(ax: Any) -> None:
        ax.barh(labels, shown["importance"], xerr=shown["std"], color="#1c7ed6")
        ax.set_xlabel(f"drop in holdout {metric} when shuffled")
        ax.set_title("Permutation importance (holdout)")

    return _draw(out_dir / "permutation_importance.png", 6.5, 1.2 + 0.3 * len(shown), bars)


def _draw(path: Path, width: float, height: float, draw: Any) -> Path:
    fig = figure(width, height)
    draw(fig.add_subplot())
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
