"""What a table's structure reveals about its rows, from the values alone (no names).

- `id_shape`: identifiers by the shape of their values (UUIDs, hashes, zero-padded numbers,
  letter+digit codes), which stay identifiers when their values repeat;
- `sequential_counter`: an integer that counts up with the rows (a row or sample number);
- `split_overlap`: how much a row-wise split leaks an entity from training into holdout;
- `order_association`: whether an identifier's order tracks the target, i.e. the rows were
  collected or sorted by outcome.

The checks (ids.py, leakage.py) decide what to report; these functions only measure.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MIN_DISTINCT = 20  # fewer distinct values: a category, whatever its values look like
SHAPE_SHARE = 0.95  # share of distinct values that must have the shape
COUNTER_MAX_ROWS = 50  # rows per value of a counter, at most (a batch number repeats a few)
_SAMPLE = 2000  # distinct values read per column

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_HEX = re.compile(r"[0-9a-f]{16,}", re.I)
_DIGITS = re.compile(r"\d{3,}")
# Letters and digits, both present, in one token or a few joined by - _ / . (AB-00123, N12A3)
_CODE = re.compile(r"(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9]+(?:[-_/.][A-Za-z0-9]+){0,3}")


def id_shape(values: pd.Series) -> str | None:
    """'uuid', 'hash', 'zero-padded' or 'code' when nearly every distinct value has that
    shape, else None. Numbers stored as numbers are never zero-padded (no leading zeros)."""
    distinct = pd.Series(pd.unique(values.dropna())[:_SAMPLE])
    if len(distinct) < MIN_DISTINCT:
        return None
    text = distinct.astype(str).str.strip()
    lengths = text.str.len()
    same_length = float((lengths == lengths.mode().iloc[0]).mean()) >= SHAPE_SHARE

    def share(pattern: re.Pattern) -> float:
        return float(text.map(lambda v: pattern.fullmatch(v) is not None).mean())

    if share(_UUID) >= SHAPE_SHARE:
        return "uuid"
    if same_length and share(_HEX) >= SHAPE_SHARE and text.str.contains(r"[a-fA-F]").mean() > 0.5:
        return "hash"
    if same_length and share(_DIGITS) >= SHAPE_SHARE and text.str.startswith("0").mean() >= 0.05:
        return "zero-padded"
    if share(_CODE) >= SHAPE_SHARE and _one_format(text):
        return "code"
    return None


def _one_format(text: pd.Series) -> bool:
    """Most values follow one template of letters (A) and digits (9): 'AB-00123' and
    'XY-00456' do, free text with digits in it does not."""
    template = text.str.replace(r"[A-Za-z]", "A", regex=True).str.replace(r"\d", "9", regex=True)
    return float(template.value_counts(normalize=True).iloc[0]) >= 0.5


def sequential_counter(values: np.ndarray) -> bool:
    """Integers that count up (or down) with the rows in steps of 0 or 1: a row, sample or
    batch number, repeated or not. NaN-free float or int array in row order."""
    if len(values) < MIN_DISTINCT or not np.all(np.isfinite(values)):
        return False
    n_distinct = len(np.unique(values))
    if not np.all(values == np.round(values)) or n_distinct < MIN_DISTINCT:
        return False
    if len(values) / n_distinct > COUNTER_MAX_ROWS:
        return False  # a sorted year or wave, not a row or batch number
    steps = np.diff(values)
    if not (np.all(steps >= 0) or np.all(steps <= 0)):
        return False
    return float(np.isin(np.abs(steps), (0, 1)).mean()) >= 0.95


def split_overlap(groups: np.ndarray, test_share: float, seed: int) -> float:
    """Share of holdout rows whose entity also has rows in training, for a random row-wise
    split (what a split that ignores the entity does)."""
    rng = np.random.default_rng(seed)
    test = rng.random(len(groups)) < test_share
    if not test.any() or test.all():
        return 0.0
    return float(np.isin(groups[test], groups[~test]).mean())


def order_association(order: np.ndarray, y: np.ndarray, classification: bool) -> float:
    """How strongly the target follows an identifier's order, 0 (not at all) to 1.

    Regression or two classes: |Spearman rho| of the order against the target. More
    classes: Kruskal-Wallis epsilon squared of the order across the classes.
    """
    from scipy import stats

    if len(np.unique(y)) < 2 or len(np.unique(order)) < 2:
        return 0.0
    if not classification or len(np.unique(y)) == 2:
        rho = stats.spearmanr(order, y).statistic
        return float(abs(rho)) if np.isfinite(rho) else 0.0
    groups = [order[y == label] for label in np.unique(y)]
    h = stats.kruskal(*groups).statistic
    return float(h / (len(order) - 1)) if np.isfinite(h) else 0.0
