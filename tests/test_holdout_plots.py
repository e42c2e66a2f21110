"""The holdout plots: the importance plot stays readable when a group of redundant columns
has a long name (matplotlib otherwise collapses the axes and draws no bars); a classifier
without probabilities still gets its confusion matrix."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mlengine.holdout_plots import classification_plots, importance_plot


def test_a_long_group_name_is_shortened_and_the_bars_are_drawn(tmp_path: Path) -> None:
    group = " + ".join(f"worst concave points {i}" for i in range(10))
    frame = pd.DataFrame({"feature": [group, "age"], "importance": [0.3, 0.1], "std": [0.01, 0.02]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied ... collapsed to zero"
        path = importance_plot(frame, "roc_auc", tmp_path)
    assert path.stat().st_size > 5000
    assert frame["feature"][0] == group  # the table keeps the full name


def test_a_classifier_without_probabilities_gets_its_confusion_matrix(tmp_path: Path) -> None:
    y = np.array(["a", "b", "a", "c", "b", "a"])
    pred = np.array(["a", "b", "b", "c", "b", "a"])
    paths = classification_plots(y, pred, None, ["a", "b", "c"], tmp_path)
    assert [p.name for p in paths] == ["confusion_matrix.png"] and paths[0].stat().st_size > 5000
    proba = np.eye(3)[[0, 1, 1, 2, 1, 0]]
    names = [p.name for p in classification_plots(y, pred, proba, ["a", "b", "c"], tmp_path)]
    assert names == [
        "confusion_matrix.png",
        "roc_curve.png",
        "precision_recall_curve.png",
        "calibration_curve.png",
    ]
