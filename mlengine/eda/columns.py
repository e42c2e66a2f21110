"""Column kinds and the one full-data pass: each column's public profile, the private facts
the checks read (digests, integrality, order), and its share of the row hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlengine.eda._util import _r
from mlengine.eda.report import ColumnProfile

KINDS = ("numeric", "boolean", "categorical", "datetime", "text", "id")


def infer_kinds(X: pd.DataFrame) -> dict[str, str]:
    """A simple typing used when the loader gives none: dtype first, then a text sniff."""
    return {str(c): _infer_kind(X[c]) for c in X.columns}


def _infer_kind(s: pd.Series) -> str:
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt):
        return "numeric"
    head = s.dropna()
    head = head.iloc[:2000].astype(str)
    if len(head) and head.str.len().mean() > 30 and head.str.count(" ").mean() >= 3:
        return "text"
    return "categorical"


def _resolve_kinds(X: pd.DataFrame, column_types: Mapping[str, str] | None) -> dict[str, str]:
    kinds = infer_kinds(X) if column_types is None else {}
    for c in X.columns:
        if column_types is not None:
            k = column_types.get(c) or _infer_kind(X[c])
            if k not in KINDS:
                raise ValueError(f"column_types[{c!r}] = {k!r}; expected one of {KINDS}")
            kinds[c] = k
    return kinds


def _numeric_like(s: pd.Series, kind: str) -> bool:
    """Whether a column is handled as numbers (sorted, binned by quantiles)."""
    if kind in ("numeric", "boolean", "datetime"):
        return True
    return (
        kind == "id"
        and pd.api.types.is_numeric_dtype(s.dtype)
        and not pd.api.types.is_bool_dtype(s.dtype)
    )


def _to_float(s: pd.Series, kind: str) -> np.ndarray:
    """Float64 values with NaN for missing; datetimes become seconds since the first."""
    dt = s.dtype
    if kind == "datetime" or pd.api.types.is_datetime64_any_dtype(dt):
        d = s if pd.api.types.is_datetime64_any_dtype(dt) else pd.to_datetime(s, errors="coerce")
        return ((d - d.min()) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_timedelta64_dtype(dt):
        return (s / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _codes(s: pd.Series) -> np.ndarray:
    """Integer codes of a column's values, -1 for missing."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy(dtype=np.int64)
    return pd.factorize(s, use_na_sentinel=True)[0].astype(np.int64, copy=False)


@dataclass
class _ColumnFacts:
    """Full-data facts that are not part of the public profile."""

    digest: str  # identical digest -> identical values
    n_unique: int
    integral: bool  # every non-missing value is a whole number
    monotonic: bool
    repeated_rows: int  # rows whose value occurs at least twice
    value_range: float | None


def _profile_column(
    s: pd.Series, name: str, kind: str
) -> tuple[ColumnProfile, _ColumnFacts, np.ndarray]:
    """One pass over a column: profile, duplicate digest and its row-hash contribution."""
    from pandas.util import hash_array

    n = len(s)
    if _numeric_like(s, kind):
        v = _to_float(s, kind)
        nan = np.isnan(v)
        n_missing = int(nan.sum())
        srt = np.sort(v[~nan]) if n_missing else np.sort(v)
        n_inf = int(np.isinf(srt[0]) + np.isinf(srt[-1])) if len(srt) else 0
        if n_inf:  # rare: count them exactly
            n_inf = int(np.isinf(srt).sum())
        lengths = _run_lengths(srt)
        fin = srt[np.isfinite(srt)] if n_inf else srt
        stats = (
            dict(
                mean=float(fin.mean()),
                std=float(fin.std(ddof=1)) if len(fin) > 1 else 0.0,
                min=float(fin[0]),
                max=float(fin[-1]),
            )
            if len(fin)
            else {}
        )
        integral = bool(len(fin) and np.all(np.mod(fin, 1.0) == 0))
        col_hash = hash_array(np.where(nan, np.nan, v + 0.0))
        digest = "n" + hashlib.blake2b(col_hash.tobytes(), digest_size=16).hexdigest()
        monotonic = bool(n_missing == 0 and n > 1 and (np.all(v[1:] >= v[:-1])))
        value_range = float(fin[-1] - fin[0]) if len(fin) else None
    else:
        codes = _codes(s)
        n_missing = int((codes < 0).sum())
        counts = np.bincount(codes[codes >= 0]) if n_missing else np.bincount(codes)
        lengths = counts[counts > 0]
        stats, n_inf, integral, value_range, monotonic = {}, 0, False, None, False
        col_hash = hash_array(codes)
        # same codes -> same partition; the value digest separates relabelled copies
        h = hashlib.blake2b(codes.tobytes(), digest_size=16)
        if len(lengths) <= 100_000:  # values too, so relabelled copies differ
            h.update("\x00".join(map(str, pd.unique(s.dropna()))).encode())
        digest = "c" + h.hexdigest()
    n_valid = n - n_missing
    n_unique = int(len(lengths))
    top = int(lengths.max()) if n_unique else 0
    repeated = int(lengths[lengths >= 2].sum()) if n_unique else 0
    prof = ColumnProfile(
        name=name,
        dtype=str(s.dtype),
        kind=kind,
        n_missing=n_missing,
        missing_share=_r(n_missing / n) if n else 0.0,
        n_unique=n_unique,
        unique_share=_r(n_unique / n_valid) if n_valid else 0.0,
        top_share=_r(top / n) if n else 0.0,
        n_infinite=n_inf,
        **{k: _r(v) for k, v in stats.items()},
    )
    facts = _ColumnFacts(digest, n_unique, integral, monotonic, repeated, value_range)
    return prof, facts, col_hash


def _run_lengths(sorted_values: np.ndarray) -> np.ndarray:
    """Counts of each distinct value of a sorted array."""
    if len(sorted_values) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    return np.diff(np.concatenate(([0], change, [len(sorted_values)])))
