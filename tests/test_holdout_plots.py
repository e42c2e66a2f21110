"""The holdout's importance plot stays readable when a group of redundant columns has a
long name (matplotlib otherwise collapses the axes and draws no bars)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from mlengine.holdout_plots import importance_plot


def test_a_long_group_name_is_shortened_and_the_bars_are_drawn(tmp_path: Path) -> None:
    group = " + ".join(f"worst concave points {i}" for i in range(10))
    frame = pd.DataFrame({"feature": [group, "age"], "importance": [0.3, 0.1], "std": [0.01, 0.02]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied ... collapsed to zero"
        path = importance_plot(frame, "roc_auc", tmp_path)
    assert path.stat().st_size > 5000
    assert frame["feature"][0] == group  # the table keeps the full name
