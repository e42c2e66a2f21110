"""Permutation importance on the holdout split, per raw input column.

The pipeline takes the user's raw columns, so shuffling one column of the holdout rows
and scoring again measures what that column is worth in the user's terms (never one-hot
pieces). Columns the EDA found redundant are shuffled together as one group: shuffled
alone, each of two near-copies looks useless because the other still carries the signal.
sklearn's `permutation_importance` has no groups, hence this loop (same method: score drop
over `n_repeats` shuffles, mean and spread).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MAX_ROWS = 2000  # holdout rows scored per shuffle: enough to rank, bounded in time
REPEATS = 5


@dataclass
class Importance:
    name: str  # the column, or "a + b" for a group
    columns: list[str]
    mean: float  # the metric's drop when the columns are shuffled (higher: more important)
    std: float  # over the repeats


def redundant_groups(pairs: list[dict[str, Any]], columns: list[str]) -> list[list[str]]:
    """Connected groups of the EDA's redundant pairs, among `columns`, in column order."""
    parent = {c: c for c in columns}

    def root(c: str) -> str:
        while parent[c] != c:
            c = parent[c]
        return c

    for pair in pairs:
        a, b = pair["column_a"], pair["column_b"]
        if a in parent and b in parent:
            parent[root(b)] = root(a)
    groups: dict[str, list[str]] = {}
    for c in columns:
        groups.setdefault(root(c), []).append(c)
    return [g for g in groups.values() if len(g) > 1]


def permutation_importance(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    metric: str,
    groups: list[list[str]] = (),
    n_repeats: int = REPEATS,
    seed: int = 0,
) -> list[Importance]:
    """Each column's (or group's) importance, most important first."""
    from mlengine.metrics import METRICS, score

    if len(X) > MAX_ROWS:
        keep = np.random.default_rng(seed).choice(len(X), MAX_ROWS, replace=False)
        X, y = X.iloc[keep], y.iloc[keep]
    sign = 1.0 if METRICS[metric].direction == "maximize" else -1.0
    base = score(metric, pipeline, X, y)
    grouped = {c for g in groups for c in g}
    units = [list(g) for g in groups] + [[c] for c in X.columns if c not in grouped]
    rng = np.random.default_rng(seed)
    found = []
    for columns in units:
        drops = []
        for _ in range(n_repeats):
            shuffled = X.copy()
            order = rng.permutation(len(X))  # one order for the group: rows stay consistent
            for column in columns:
                shuffled[column] = X[column].to_numpy()[order]
            drops.append(sign * (base - score(metric, pipeline, shuffled, y)))
        found.append(
            Importance(" + ".join(columns), columns, float(np.mean(drops)), float(np.std(drops)))
        )
    return sorted(found, key=lambda i: -i.mean)


def to_frame(importances: list[Importance]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feature": [i.name for i in importances],
            "importance": [i.mean for i in importances],
            "std": [i.std for i in importances],
            "columns": [len(i.columns) for i in importances],
        }
    )
