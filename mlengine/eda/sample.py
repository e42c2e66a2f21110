"""The rows the expensive checks read, and their columns as floats or codes, binned.

Why a sample: relevance, leakage, redundancy and the baselines cost grows with the rows;
on a stratified sample of `EdaSettings.sample_rows` it stops growing once the table is
larger than that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlengine.eda.columns import _codes, _numeric_like, _to_float

if TYPE_CHECKING:
    from mlengine.eda.target import _Target


@dataclass
class Sample:
    """What the `sampling` check draws: every row, or a stratified sample of them."""

    rows: np.ndarray  # sorted indices into the full table
    sampled: bool  # fewer rows than the table
    X: pd.DataFrame
    target: _Target
    usable: list[str]  # columns the expensive checks read: not text, not constant
    columns: dict[str, _SampleColumn]  # the usable columns, encoded
    # Identifiers are judged by what they are, not by what they seem to predict.
    features: dict[str, _SampleColumn]  # the usable columns that are not identifiers


def _stratified_sample(
    strata: np.ndarray | None, n: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Sorted row indices: proportional per stratum, at least a few rows of rare ones."""
    if size >= n:
        return np.arange(n)
    if strata is None:
        return np.sort(rng.choice(n, size=size, replace=False))
    counts = np.bincount(strata)
    order = np.argsort(strata, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    parts = []
    for k, (cnt, st) in enumerate(zip(counts, starts, strict=True)):
        if cnt == 0:
            continue
        take = min(cnt, max(round(size * cnt / n), 20))
        members = order[st : st + cnt]
        assert strata[members[0]] == k
        parts.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(parts))


@dataclass
class _SampleColumn:
    """A sample column as floats (numeric-like) or codes (categorical)."""

    name: str
    kind: str
    values: np.ndarray | None  # float64, NaN missing
    codes: np.ndarray | None  # int64, -1 missing
    uniq: np.ndarray | None = None  # sorted distinct non-missing values

    @classmethod
    def build(cls, s: pd.Series, kind: str) -> _SampleColumn:
        if _numeric_like(s, kind):
            v = _to_float(s, kind)
            uniq = np.unique(v[~np.isnan(v)])
            return cls(str(s.name), kind, v, None, uniq)
        return cls(str(s.name), kind, None, _codes(s))

    @property
    def numeric(self) -> bool:
        return self.values is not None

    def missing(self) -> np.ndarray:
        return np.isnan(self.values) if self.values is not None else self.codes < 0

    def binned(self, n_bins: int, max_levels: int, min_count: int) -> tuple[np.ndarray, int]:
        if self.values is not None:
            return _bin_numeric(self.values, n_bins, self.uniq)
        assert self.codes is not None
        return _bin_codes(self.codes, max_levels, min_count)


def _bin_numeric(
    v: np.ndarray, n_bins: int, uniq: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Quantile bins (or the values themselves when few); NaN gets its own bin."""
    nan = np.isnan(v)
    if uniq is None:
        uniq = np.unique(v[~nan])
    out = np.empty(len(v), dtype=np.int64)
    if len(uniq) == 0:
        out[:] = 0
        return out, 1
    valid = ~nan
    if len(uniq) <= n_bins:
        out[valid] = np.searchsorted(uniq, v[valid])
        k = len(uniq)
    else:
        finite = uniq[np.isfinite(uniq)]
        vf = v[valid]
        vf_fin = vf[np.isfinite(vf)]
        q = np.quantile(vf_fin if len(vf_fin) else finite, np.linspace(0, 1, n_bins + 1)[1:-1])
        edges = np.unique(q)
        out[valid] = np.searchsorted(edges, vf, side="right")
        k = len(edges) + 1
    if nan.any():
        out[nan] = k
        k += 1
    return out, k


def _bin_codes(codes: np.ndarray, max_levels: int, min_count: int) -> tuple[np.ndarray, int]:
    """Frequent categories keep their own bin; rare ones share 'other'; missing its own."""
    valid = codes >= 0
    counts = np.bincount(codes[valid]) if valid.any() else np.zeros(1, dtype=np.int64)
    order = np.argsort(-counts, kind="stable")[: max(max_levels - 2, 1)]
    keep = order[counts[order] >= min_count]
    mapping = np.full(len(counts), len(keep), dtype=np.int64)
    mapping[keep] = np.arange(len(keep))
    out = np.where(valid, mapping[np.clip(codes, 0, None)], len(keep) + 1)
    return out, len(keep) + 2
