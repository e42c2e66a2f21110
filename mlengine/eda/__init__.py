"""Fast, decisive EDA checks that run before every sweep.

Why: the first questions about a table are structural -- which columns are usable, which are
noise, identifiers or leaks, and which model families fit. `run_eda` answers them in seconds.
Cheap checks (types, missing values, distinct counts, duplicates, infinities) read every row
with vectorised pandas/numpy; the expensive ones (relevance against probe features, leakage,
redundancy, baseline models) read a stratified sample of `EdaSettings.sample_rows` rows, so
the cost stops growing with the table once it is larger than the sample.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlengine.eda._util import _lap, _r
from mlengine.eda.report import (
    Baseline,
    ColumnProfile,
    EdaReport,
    EdaSettings,
    FamilyAdvice,
    FeatureRelevance,
    Finding,
    LeakageSuspect,
    ModelAdvice,
    RedundantPair,
    Severity,
    Verdict,
    _hydra_value,
    drop_override,
)
from mlengine.eda.structure import id_shape, order_association, sequential_counter, split_overlap
from mlengine.families import FamilyProfile, builtin_families

KINDS = ("numeric", "boolean", "categorical", "datetime", "text", "id")
# Every check name a Finding can carry: the words `eda.fail_on` accepts (plus severities).
CHECKS = (
    "shape",
    "sampling",
    "missing_values",
    "constant",
    "quasi_constant",
    "duplicate_rows",
    "duplicate_columns",
    "id_like",
    "repeated_entity",
    "high_cardinality",
    "mixed_types",
    "infinite_values",
    "target_distribution",
    "missing_target",
    "irrelevant_features",
    "leakage",
    "redundancy",
    "baseline_signal",
    "model_advice",
)
_SEVERITY_ORDER = {"error": 0, "warn": 1, "info": 2}
_ENTITY_MAX_ROWS = 10  # a plain integer repeated on more rows each reads as a quantity
_ENTITY_MIN_GAP = 0.03  # row-wise minus grouped CV score that makes such an integer an entity
_ORDER_RHO = 0.3  # |Spearman| of an identifier's order with the target: sorted by outcome
_ORDER_EPSILON2 = 0.1  # the same for several classes (Kruskal-Wallis epsilon squared)
_ID_TOKENS = {"id", "ids", "uuid", "guid", "uid", "pk", "key", "identifier"}
_ENTITY_WORDS = {
    "patient",
    "customer",
    "user",
    "account",
    "client",
    "subject",
    "member",
    "session",
    "device",
    "household",
    "player",
    "person",
    "visitor",
    "driver",
}


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------
def run_eda(
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    settings: EdaSettings | None = None,
    seed: int = 0,
    column_types: Mapping[str, str] | None = None,
    n_missing_target: int = 0,
    families: Sequence[FamilyProfile] | None = None,
) -> EdaReport:
    """Run every check on features X and target y; returns the report (writes nothing).

    `families`: what the model advice ranks (default: the families shipped in conf/model/).
    """
    t_start = time.perf_counter()
    settings = settings or EdaSettings()
    timings: dict[str, float] = {}
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    y = pd.Series(np.asarray(y), name=getattr(y, "name", None))
    X = X.reset_index(drop=True)  # never mutates the caller's frame (copy-on-write)
    if not all(isinstance(c, str) for c in X.columns):
        X = X.rename(columns=str)
    target_na = y.isna().to_numpy()
    if target_na.any():  # defensive: the contract says they are dropped already
        n_missing_target += int(target_na.sum())
        X, y = X.loc[~target_na].reset_index(drop=True), y[~target_na].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    findings: list[Finding] = []
    kinds = _resolve_kinds(X, column_types)
    n = len(X)

    # ---- target encoding ----
    tgt = _Target.build(y, task)
    timings["setup"] = _lap(t_start)

    # ---- full-data pass: profiles, digests, row hashes ----
    t0 = time.perf_counter()
    profiles: dict[str, ColumnProfile] = {}
    facts: dict[str, _ColumnFacts] = {}
    row_hash = np.zeros(n, dtype=np.uint64)
    for name in X.columns:
        prof, fact, col_hash = _profile_column(X[name], name, kinds[name])
        profiles[name], facts[name] = prof, fact
        row_hash *= np.uint64(1099511628211)
        row_hash ^= col_hash
    memory_bytes = int(X.memory_usage(deep=True, index=False).sum())
    timings["profile"] = _lap(t0)

    t0 = time.perf_counter()
    findings += _shape_findings(n, X.shape[1], memory_bytes, profiles)
    findings += _missing_findings(profiles, settings)
    constant, _quasi = _constant_findings(profiles, settings, findings)
    duplicates = _duplicate_column_groups(X, facts)
    findings += _duplicate_findings(row_hash, tgt, duplicates, n)
    del row_hash
    id_like, entity, entity_drop, candidates, entity_ev = _id_findings(
        X, profiles, facts, kinds, findings
    )
    _high_card_findings(profiles, kinds, id_like + entity, settings, findings)
    _infinite_findings(profiles, findings)
    findings += _target_findings(tgt, settings, n_missing_target, n)
    timings["checks"] = _lap(t0)

    # ---- sample for the expensive checks ----
    t0 = time.perf_counter()
    idx = _stratified_sample(tgt.strata, n, settings.sample_rows, rng)
    sampled = len(idx) < n
    Xs = X.iloc[idx].reset_index(drop=True) if sampled else X
    ys = tgt.take(idx) if sampled else tgt
    if sampled:
        findings.append(
            Finding(
                "sampling",
                "info",
                [],
                f"Relevance, leakage, redundancy and baselines used a stratified "
                f"sample of {len(idx):,} of {n:,} rows (eda.sample_rows).",
                {"n_rows": n, "n_rows_used": int(len(idx))},
            )
        )
    _mixed_type_findings(Xs, kinds, profiles, findings)
    usable = [c for c in X.columns if kinds[c] != "text" and c not in constant]
    enc = {c: _SampleColumn.build(Xs[c], kinds[c]) for c in usable}
    # Identifiers are judged by what they are, not by what they seem to predict.
    features = {c: e for c, e in enc.items() if c not in id_like}
    timings["sample"] = _lap(t0)

    # ---- relevance vs probes ----
    t0 = time.perf_counter()
    relevance, probe_scores = _relevance(features, ys, settings, rng)
    timings["relevance"] = _lap(t0)

    # ---- leakage ----
    t0 = time.perf_counter()
    leakage = _leakage(features, ys, settings, rng)
    for s in leakage:
        findings.append(
            Finding(
                "leakage",
                "error",
                [s.column],
                _leak_message(s, settings),
                {
                    "metric": s.metric,
                    "score": s.score,
                    "exact_relation": s.exact_relation,
                    **s.evidence,
                },
                [drop_override([s.column])],
            )
        )
    order_leaks = _order_leaks(Xs, [c for c in id_like if c in Xs], ys)
    for s in order_leaks:
        findings.append(
            Finding(
                "leakage",
                "warn",
                [s.column],
                f"`{s.column}` is an identifier whose order tracks the target ({s.metric} "
                f"{s.score:.2f}): the rows were collected or sorted by outcome. It predicts "
                f"nothing on new rows; drop it, and check how the rows were gathered before "
                f"trusting an order- or time-based split.",
                {"metric": s.metric, "score": s.score, **s.evidence},
                [drop_override([s.column])],
            )
        )
    leakage += order_leaks
    timings["leakage"] = _lap(t0)

    # ---- redundancy ----
    t0 = time.perf_counter()
    dup_pairs = {frozenset((g[0], other)) for g in duplicates for other in g[1:]}
    pairs, correlation = _redundancy(enc, relevance, settings, dup_pairs)
    if pairs:
        findings.append(
            Finding(
                "redundancy",
                "info",
                sorted({c for p in pairs for c in (p.column_a, p.column_b)}),
                f"{len(pairs)} feature pair(s) are near-duplicates (|Spearman| or Cramer's V >= "
                f"{settings.correlation_threshold}): keep one of each pair for linear models and "
                f"for clearer importances.",
                {"pairs": [[p.column_a, p.column_b, round(p.value, 4)] for p in pairs[:50]]},
            )
        )
    timings["redundancy"] = _lap(t0)

    # ---- baselines + model advice ----
    t0 = time.perf_counter()
    leak_cols = {s.column for s in leakage}
    base_cols = [c for c in usable if c not in id_like and c not in leak_cols]
    run = _BaselineRun([], None, np.zeros(0, dtype=np.int64), None)
    if settings.run_baselines and base_cols and ys.ok_for_models():
        context = [r.column for r in relevance if r.verdict != "irrelevant"]
        run = _baselines(enc, base_cols, ys, settings, seed, rng, context)
    findings += _entity_findings(
        X, enc, base_cols, ys, settings, seed, entity, entity_ev, candidates
    )
    confirmed = {c for f in findings if f.check == "repeated_entity" for c in f.columns}
    entity_drop += [c for c in candidates if c in confirmed]
    problem = _problem_facts(n, X.shape[1], base_cols, kinds, profiles, run.baselines, run.metric)
    problem["baseline_rows"] = int(len(run.rows))
    ranking = _rank_families(problem, families or builtin_families(task))
    advice = ModelAdvice(run.metric, run.baselines, ranking, problem)
    findings += _advice_findings(advice)
    timings["baselines"] = _lap(t0)

    # ---- verdicts: univariate, then rescued if they explain the linear model's residual ----
    t0 = time.perf_counter()
    if run.residual is not None:
        _conditional_relevance(relevance, enc, set(base_cols), run, settings, rng)
    irrelevant = [r.column for r in relevance if r.verdict == "irrelevant"]
    if irrelevant:
        findings.append(
            Finding(
                "irrelevant_features",
                "info",
                irrelevant,
                f"{len(irrelevant)} feature(s) carry no more information about the target than "
                f"shuffled noise (mutual information <= best of {settings.n_probes} probes, or not "
                f"significant"
                + (", alone or given the linear baseline" if run.residual is not None else "")
                + "); `features.select: eda` drops them. A feature that matters only in a "
                "non-additive interaction can still look irrelevant.",
                {"noise_floor": max(probe_scores) if probe_scores else 0.0},
            )
        )
    timings["verdicts"] = _lap(t0)

    # ---- drop list ----
    drop_reasons = _drop_reasons(
        list(X.columns),
        constant,
        id_like,
        entity_drop,
        leak_cols,
        irrelevant,
        duplicates,
        relevance,
        leakage,
    )
    for name, reasons in drop_reasons.items():
        profiles[name].flags = sorted(set(profiles[name].flags) | {"drop:" + "/".join(reasons)})
    findings.sort(
        key=lambda f: (
            _SEVERITY_ORDER[f.severity],
            CHECKS.index(f.check) if f.check in CHECKS else 99,
        )
    )
    for f in findings:
        for col in f.columns:
            if col in profiles and f.check not in profiles[col].flags:
                profiles[col].flags.append(f.check)
    return EdaReport(
        task=task,
        n_rows=n,
        n_columns=X.shape[1],
        memory_bytes=memory_bytes,
        sampled=sampled,
        n_rows_used=int(len(idx)),
        n_missing_target=int(n_missing_target),
        findings=findings,
        columns=list(profiles.values()),
        relevance=relevance,
        probe_scores=probe_scores,
        leakage=leakage,
        redundant_pairs=pairs,
        model_advice=advice,
        target=tgt.summary,
        correlation=correlation,
        drop_reasons=drop_reasons,
        settings=settings,
        seconds=round(time.perf_counter() - t_start, 3),
        timings=timings,
    )


# ---------------------------------------------------------------------------------------------
# Column kinds and the full-data pass
# ---------------------------------------------------------------------------------------------
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
        integral = bool(len(fin) and len(lengths) >= 20 and np.all(np.mod(fin, 1.0) == 0))
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


# ---------------------------------------------------------------------------------------------
# Target
# ---------------------------------------------------------------------------------------------
@dataclass
class _Target:
    """The target as codes (classification) or floats (regression), plus its summary."""

    task: str
    codes: np.ndarray | None  # 0..k-1
    values: np.ndarray | None
    labels: list[str]
    strata: np.ndarray | None
    summary: dict[str, Any]

    @classmethod
    def build(cls, y: pd.Series, task: str) -> _Target:
        if task == "classification":
            try:
                codes, uniq = pd.factorize(y, sort=True)
            except TypeError:  # unorderable mixed labels
                codes, uniq = pd.factorize(y)
            codes = codes.astype(np.int64)
            counts = np.bincount(codes, minlength=len(uniq))
            labels = [str(u) for u in uniq]
            order = np.argsort(-counts, kind="stable")
            n = max(len(codes), 1)
            summary = {
                "n_classes": len(uniq),
                "classes": [
                    {"label": labels[i], "count": int(counts[i]), "share": _r(counts[i] / n)}
                    for i in order
                ],
                "minority_share": _r(counts.min() / n) if len(counts) else None,
                "minority_class": labels[order[-1]] if len(counts) else None,
                "imbalance_ratio": _r(counts.max() / max(counts.min(), 1)) if len(counts) else None,
            }
            strata = codes if len(uniq) <= 200 else None
            return cls(task, codes, None, labels, strata, summary)
        values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        summary = _regression_summary(values)
        strata = None
        if len(values) > 20:
            edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)[1:-1]))
            strata = np.searchsorted(edges, values, side="right")
        return cls(task, None, values, [], strata, summary)

    def take(self, idx: np.ndarray) -> _Target:
        return _Target(
            self.task,
            None if self.codes is None else self.codes[idx],
            None if self.values is None else self.values[idx],
            self.labels,
            None if self.strata is None else self.strata[idx],
            self.summary,
        )

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def ok_for_models(self) -> bool:
        if self.task == "classification":
            assert self.codes is not None
            return self.n_classes >= 2 and int(np.bincount(self.codes).min()) >= 2
        assert self.values is not None
        return len(self.values) >= 20 and float(np.nanstd(self.values)) > 0

    def binned(self, n_bins: int) -> tuple[np.ndarray, int]:
        """Target as small integer codes for mutual information."""
        if self.codes is not None:
            return self.codes, self.n_classes
        assert self.values is not None
        return _bin_numeric(self.values, n_bins)


def _regression_summary(v: np.ndarray) -> dict[str, Any]:
    from scipy.stats import skew

    if len(v) == 0:
        return {}
    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    outliers = int(((v < q1 - 3 * iqr) | (v > q3 + 3 * iqr)).sum()) if iqr > 0 else 0
    sk = float(skew(v)) if np.std(v) > 0 else 0.0
    log_skew = None
    if v.min() >= 0 and np.std(v) > 0:
        lv = np.log1p(v)
        log_skew = float(skew(lv)) if np.std(lv) > 0 else 0.0
    counts, edges = np.histogram(v, bins=40)
    return {
        "mean": _r(v.mean()),
        "std": _r(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "min": _r(v.min()),
        "q25": _r(q1),
        "median": _r(med),
        "q75": _r(q3),
        "max": _r(v.max()),
        "skew": _r(sk),
        "log1p_skew": _r(log_skew),
        "n_outliers": outliers,
        "outlier_share": _r(outliers / len(v)),
        "n_unique": int(len(np.unique(v))) if len(v) <= 1_000_000 else None,
        "histogram": {"counts": counts.tolist(), "edges": [_r(e) for e in edges]},
    }


# ---------------------------------------------------------------------------------------------
# Cheap checks
# ---------------------------------------------------------------------------------------------
def _shape_findings(
    n: int, p: int, memory: int, profiles: dict[str, ColumnProfile]
) -> list[Finding]:
    kinds: dict[str, int] = {}
    for prof in profiles.values():
        kinds[prof.kind] = kinds.get(prof.kind, 0) + 1
    ev = {"n_rows": n, "n_columns": p, "memory_bytes": memory, "kinds": kinds}
    msg = (
        f"{n:,} rows x {p} columns, {memory / 2**20:.1f} MiB in memory; "
        + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        + "."
    )
    out = [Finding("shape", "info", [], msg, ev)]
    if n < 100 or n < p:
        out.append(
            Finding(
                "shape",
                "warn",
                [],
                f"Few rows for the number of features ({n:,} rows, {p} features): "
                f"cross-validated scores will be noisy; prefer strongly regularised "
                f"linear models and few hyperparameters.",
                ev,
            )
        )
    return out


def _missing_findings(profiles: dict[str, ColumnProfile], settings: EdaSettings) -> list[Finding]:
    some = {c: p.missing_share for c, p in profiles.items() if 0 < p.missing_share < 1}
    if not some:
        return []
    heavy = [c for c, s in some.items() if s >= settings.high_missing_share]
    light = [c for c in some if c not in heavy]
    out = []
    if heavy:
        out.append(
            Finding(
                "missing_values",
                "warn",
                heavy,
                f"{len(heavy)} column(s) are mostly missing (>= "
                f"{settings.high_missing_share:.0%}): their missing-indicator may "
                f"matter more than their values; impute with an indicator or drop.",
                {c: some[c] for c in heavy},
            )
        )
    if light:
        out.append(
            Finding(
                "missing_values",
                "info",
                light,
                f"{len(light)} column(s) have missing values (up to "
                f"{max(some[c] for c in light):.1%}): models without native NaN "
                f"support need imputation.",
                {c: some[c] for c in light},
            )
        )
    return out


def _constant_findings(
    profiles: dict[str, ColumnProfile], settings: EdaSettings, findings: list[Finding]
) -> tuple[list[str], list[str]]:
    constant = [c for c, p in profiles.items() if p.n_unique <= 1]
    quasi = [
        c
        for c, p in profiles.items()
        if p.n_unique > 1 and p.top_share >= settings.quasi_constant_share
    ]
    if constant:
        findings.append(
            Finding(
                "constant",
                "warn",
                constant,
                f"{len(constant)} column(s) hold a single value (or none): no "
                f"information; dropped.",
                {c: profiles[c].n_unique for c in constant},
            )
        )
    if quasi:
        findings.append(
            Finding(
                "quasi_constant",
                "warn",
                quasi,
                f"{len(quasi)} column(s) have one value in >= "
                f"{settings.quasi_constant_share:.0%} of rows: little information "
                f"and unstable across CV folds; keep only if the rare values "
                f"matter (see relevance).",
                {c: profiles[c].top_share for c in quasi},
            )
        )
    return constant, quasi


def _duplicate_column_groups(X: pd.DataFrame, facts: dict[str, _ColumnFacts]) -> list[list[str]]:
    """Groups of columns with identical values (first column kept, the rest are copies)."""
    by_digest: dict[str, list[str]] = {}
    for c, f in facts.items():
        if f.n_unique > 1:  # constant columns are reported (and dropped) as constant
            by_digest.setdefault(f.digest, []).append(c)
    groups = []
    for cols in by_digest.values():
        if len(cols) < 2:
            continue
        first = X[cols[0]]  # verify: a digest collision must not drop a real column
        same = [cols[0]] + [c for c in cols[1:] if _same_values(first, X[c])]
        if len(same) > 1:
            groups.append(same)
    return groups


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    try:
        if pd.api.types.is_numeric_dtype(a.dtype) and pd.api.types.is_numeric_dtype(b.dtype):
            return bool(
                np.array_equal(
                    a.to_numpy(np.float64, na_value=np.nan),
                    b.to_numpy(np.float64, na_value=np.nan),
                    equal_nan=True,
                )
            )
        return bool(a.astype(object).equals(b.astype(object)))
    except (TypeError, ValueError):
        return False


def _duplicate_findings(
    row_hash: np.ndarray, tgt: _Target, groups: list[list[str]], n: int
) -> list[Finding]:
    out = []
    h = pd.Series(row_hash, copy=False)
    dup = h.duplicated().to_numpy()
    n_dup = int(dup.sum())
    if n_dup:
        any_dup = h.duplicated(keep=False).to_numpy()
        y = tgt.codes if tgt.codes is not None else tgt.values
        sub = pd.DataFrame({"h": row_hash[any_dup], "y": y[any_dup]})
        per = sub.groupby("h", sort=False)["y"].nunique()
        conflict_rows = int(sub["h"].isin(per.index[per > 1]).sum())
        share = n_dup / n
        sev: Severity = "warn" if share >= 0.01 or conflict_rows else "info"
        msg = (
            f"{n_dup:,} duplicate rows ({share:.1%}): a row-wise CV split puts copies in "
            f"train and test, inflating scores; deduplicate or split by group."
        )
        if conflict_rows:
            msg += (
                f" {conflict_rows:,} rows share identical features but different targets "
                f"(label noise or missing features)."
            )
        out.append(
            Finding(
                "duplicate_rows",
                sev,
                [],
                msg,
                {
                    "n_duplicates": n_dup,
                    "share": _r(share),
                    "rows_with_conflicting_target": conflict_rows,
                },
            )
        )
    if groups:
        copies = [c for g in groups for c in g[1:]]
        out.append(
            Finding(
                "duplicate_columns",
                "warn",
                [c for g in groups for c in g],
                f"{len(copies)} column(s) are exact copies of another: "
                + "; ".join(f"{', '.join(g[1:])} = {g[0]}" for g in groups)
                + ". The copies are dropped.",
                {"groups": groups},
            )
        )
    return out


def _name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def _id_hint(name: str) -> bool:
    tokens = _name_tokens(name)
    return bool(tokens) and (
        any(t in _ID_TOKENS for t in tokens)
        or tokens[-1] in _ENTITY_WORDS
        or name.endswith("ID")
        or name.endswith("Id")
    )


def _code_like(s: pd.Series) -> bool:
    """Values look like codes ('C00123', 'a3f9-...'): nearly all contain a digit."""
    values = pd.Series(pd.unique(s.dropna())[:2000]).astype(str)
    return bool(len(values)) and float(values.str.contains(r"\d", regex=True).mean()) >= 0.9


def _id_findings(
    X: pd.DataFrame,
    profiles: dict[str, ColumnProfile],
    facts: dict[str, _ColumnFacts],
    kinds: dict[str, str],
    findings: list[Finding],
) -> tuple[list[str], list[str], list[str]]:
    """Unique identifiers (dropped) and repeated-entity ids (warn: split by them)."""
    id_like: list[str] = []
    id_ev: dict[str, str] = {}
    entity: list[str] = []
    entity_drop: list[str] = []
    entity_ev: dict[str, Any] = {}
    candidates: list[str] = []
    for c, p in profiles.items():
        k, f = kinds[c], facts[c]
        n_valid = len(X) - p.n_missing
        hint = _id_hint(c)
        if p.n_unique <= 1 or k in ("boolean", "datetime", "text"):
            continue
        numeric = _numeric_like(X[c], k)
        if numeric and not f.integral and k != "id":
            continue  # continuous measurements are never identifiers
        shape = None if numeric else id_shape(X[c])
        counter = numeric and sequential_counter(_to_float(X[c], k))
        # unique identifiers: (nearly) a distinct value per row
        dense = f.value_range is not None and p.n_unique / (f.value_range + 1) >= 0.5
        reason = None
        if k == "id" and p.unique_share >= 0.5:
            reason = "typed as id by the data loader"
        elif not numeric and p.unique_share >= 0.9 and p.n_unique >= 20:
            reason = f"{p.unique_share:.1%} of values are distinct"
        elif (
            numeric
            and p.unique_share >= 0.99
            and p.n_unique >= 20
            and (f.monotonic or dense or hint)
        ):
            reason = "unique integers, " + (
                "increasing"
                if f.monotonic
                else "dense integer range"
                if dense
                else "name looks like an id"
            )
        elif counter:
            reason = "a sequential counter: counts up with the rows"
        elif shape and p.unique_share >= 0.5:
            reason = f"{shape} values"
        if reason:
            id_like.append(c)
            id_ev[c] = reason
            continue
        # repeated-entity ids: many distinct values, most rows share theirs with others
        repeated_share = f.repeated_rows / n_valid if n_valid else 0.0
        mean_rows = n_valid / p.n_unique
        structural = (
            p.n_unique >= 20 and mean_rows >= 2 and repeated_share >= 0.9 and p.unique_share <= 0.5
        )
        looks = (
            hint
            or k == "id"
            or shape is not None
            or (not numeric and p.n_unique >= max(100, 0.05 * n_valid) and _code_like(X[c]))
        )
        if structural and not looks and numeric and mean_rows <= _ENTITY_MAX_ROWS:
            candidates.append(c)  # a plain integer: an entity only if grouping shows it
            entity_ev[c] = {
                "n_entities": p.n_unique,
                "mean_rows_per_entity": _r(mean_rows),
                "repeated_row_share": _r(repeated_share),
                "name_hint": False,
            }
        if structural and looks:
            entity.append(c)
            entity_ev[c] = {
                "n_entities": p.n_unique,
                "mean_rows_per_entity": _r(mean_rows),
                "repeated_row_share": _r(repeated_share),
                "name_hint": hint,
                "id_shape": shape,
            }
            if hint or k == "id" or shape:
                entity_drop.append(c)
    if id_like:
        findings.append(
            Finding(
                "id_like",
                "warn",
                id_like,
                f"{len(id_like)} column(s) look like identifiers (row numbers, counters or "
                f"codes): no generalisable signal, and any apparent one is an artefact of "
                f"row order; drop them.",
                id_ev,
                [drop_override(id_like)],
            )
        )
    return id_like, entity, entity_drop, candidates, entity_ev


def _entity_findings(
    X: pd.DataFrame,
    enc: dict[str, _SampleColumn],
    cols: list[str],
    tgt: _Target,
    settings: EdaSettings,
    seed: int,
    columns: list[str],
    evidence: dict[str, Any],
    confirm: list[str],
) -> list[Finding]:
    """Repeated-entity warnings, with what a row-wise split costs: the share of holdout
    rows whose entity is also in training, and the tree baseline's CV score with row-wise
    and with grouped folds. `confirm`: plain-integer candidates, reported only when
    grouping lowers the score."""
    out = []
    for c in columns + confirm:
        ev = dict(evidence[c])
        ev["holdout_overlap"] = _r(split_overlap(pd.factorize(X[c])[0], 0.2, seed))
        scores = (
            _grouped_scores(enc, cols, tgt, settings, seed, c)
            if settings.run_baselines and c in enc
            else None
        )
        if scores:
            ev["cv_metric"], ev["cv_row_wise"], ev["cv_grouped"] = scores
        gap = ev["cv_row_wise"] - ev["cv_grouped"] if scores else None
        if c in confirm and (gap is None or gap < _ENTITY_MIN_GAP):
            continue
        fix = f"dataset.split_by={_hydra_value(c)}"
        cost = (
            f"; the tree baseline scores {ev['cv_row_wise']:.3f} {ev['cv_metric']} with "
            f"row-wise folds but {ev['cv_grouped']:.3f} with folds grouped by `{c}`"
            if scores
            else ""
        )
        out.append(
            Finding(
                "repeated_entity",
                "warn",
                [c],
                f"`{c}` looks like an entity id ({ev['n_entities']:,} values, "
                f"~{ev['mean_rows_per_entity']:.1f} rows each): a row-wise split puts "
                f"{ev['holdout_overlap']:.0%} of holdout rows beside rows of the same entity "
                f"in training{cost}. Set {fix}.",
                ev,
                [fix],
            )
        )
    return out


def _grouped_scores(
    enc: dict[str, _SampleColumn],
    cols: list[str],
    tgt: _Target,
    settings: EdaSettings,
    seed: int,
    group: str,
) -> tuple[str, float, float] | None:
    """(metric, row-wise CV, CV grouped by `group`) of the tree baseline on the sample."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, cross_val_score
    from threadpoolctl import threadpool_limits

    if not cols or not tgt.ok_for_models():
        return None
    rng = np.random.default_rng(seed)
    n = len(tgt.codes) if tgt.codes is not None else len(tgt.values)  # type: ignore[arg-type]
    idx = _stratified_sample(tgt.strata, n, settings.baseline_rows, rng)
    Z, is_cat = _design_matrix(enc, cols, idx)
    column = enc[group]
    groups = column.values[idx] if column.numeric else column.codes[idx]  # type: ignore[index]
    model, metric, y = _tree_model(tgt.take(idx), is_cat, seed)
    classify = tgt.task == "classification"
    row_folds: Any = (StratifiedKFold if classify else KFold)(3, shuffle=True, random_state=seed)
    if len(np.unique(groups)) < 3:
        return None
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        row = cross_val_score(model, Z, y, cv=row_folds, scoring=metric, error_score=np.nan)
        grouped = cross_val_score(
            model, Z, y, cv=GroupKFold(3), groups=groups, scoring=metric, error_score=np.nan
        )
    if not (np.isfinite(row).all() and np.isfinite(grouped).all()):
        return None
    return metric, _r(float(row.mean()), 4), _r(float(grouped.mean()), 4)


def _order_leaks(Xs: pd.DataFrame, id_like: list[str], tgt: _Target) -> list[LeakageSuspect]:
    """Identifiers whose order tracks the target: the rows were collected or sorted by
    outcome, so the identifier 'predicts' it without meaning anything."""
    classify = tgt.task == "classification"
    y = tgt.codes if classify else tgt.values
    out = []
    for c in id_like:
        try:
            order = Xs[c].rank(method="dense").to_numpy(dtype=np.float64, na_value=np.nan)
        except TypeError:  # values of several types have no order
            continue
        ok = np.isfinite(order) & np.isfinite(np.asarray(y, dtype=np.float64))
        multiclass = classify and tgt.n_classes > 2
        score = order_association(order[ok], np.asarray(y)[ok], classify)
        threshold = _ORDER_EPSILON2 if multiclass else _ORDER_RHO
        if score >= threshold:
            metric = "kruskal_epsilon2" if multiclass else "abs_spearman"
            out.append(
                LeakageSuspect(
                    c, metric, _r(score, 4), "row order", {"order_association": _r(score, 4)}
                )
            )
    return out


def _high_card_findings(
    profiles: dict[str, ColumnProfile],
    kinds: dict[str, str],
    id_like: list[str],
    settings: EdaSettings,
    findings: list[Finding],
) -> None:
    cols = [
        c
        for c, p in profiles.items()
        if kinds[c] in ("categorical", "id")
        and c not in id_like
        and p.n_unique >= settings.high_cardinality
    ]
    if cols:
        findings.append(
            Finding(
                "high_cardinality",
                "warn",
                cols,
                f"{len(cols)} categorical column(s) have >= {settings.high_cardinality} distinct "
                f"values: one-hot encoding explodes the width and rare levels overfit; prefer "
                f"target/ordinal encoding, grouping rare levels, or native categorical support "
                f"(hist_gradient_boosting, xgboost).",
                {c: profiles[c].n_unique for c in cols},
            )
        )


def _infinite_findings(profiles: dict[str, ColumnProfile], findings: list[Finding]) -> None:
    cols = [c for c, p in profiles.items() if p.n_infinite]
    if cols:
        findings.append(
            Finding(
                "infinite_values",
                "error",
                cols,
                f"{len(cols)} column(s) contain +/-inf (usually a division by zero upstream): most "
                f"estimators refuse them; fix at the source or clip.",
                {c: profiles[c].n_infinite for c in cols},
            )
        )


def _mixed_type_findings(
    Xs: pd.DataFrame,
    kinds: dict[str, str],
    profiles: dict[str, ColumnProfile],
    findings: list[Finding],
) -> None:
    """Object columns mixing Python types, or numbers stored as text (checked on the sample)."""
    mixed: dict[str, Any] = {}
    for c in Xs.columns:
        s = Xs[c]
        if (
            pd.api.types.is_numeric_dtype(s.dtype)
            or pd.api.types.is_bool_dtype(s.dtype)
            or pd.api.types.is_datetime64_any_dtype(s.dtype)
            or isinstance(s.dtype, pd.CategoricalDtype)
        ):
            continue
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("mixed", "mixed-integer"):
            types = s.dropna().iloc[:5000].map(lambda v: type(v).__name__).value_counts()
            mixed[c] = {"inferred": inferred, "types": {str(k): int(v) for k, v in types.items()}}
            continue
        if inferred == "string" and kinds[c] in ("categorical", "id"):
            vals = s.dropna().iloc[:2000]
            if len(vals):
                parsed = pd.to_numeric(vals, errors="coerce").notna().mean()
                if 0.9 <= parsed < 1.0 or (parsed == 1.0 and profiles[c].n_unique > 20):
                    mixed[c] = {"inferred": "numbers_as_text", "numeric_share": _r(parsed)}
    if mixed:
        findings.append(
            Finding(
                "mixed_types",
                "warn",
                list(mixed),
                f"{len(mixed)} column(s) mix value types or hold numbers as text: encoders will "
                f"treat each distinct string as a category; parse them (pd.to_numeric) or clean "
                f"the odd values.",
                mixed,
            )
        )


def _target_findings(
    tgt: _Target, settings: EdaSettings, n_missing_target: int, n: int
) -> list[Finding]:
    out = []
    s = tgt.summary
    if n_missing_target:
        share = n_missing_target / (n + n_missing_target)
        out.append(
            Finding(
                "missing_target",
                "warn" if share >= 0.01 else "info",
                [],
                f"{n_missing_target:,} rows ({share:.1%}) had no target and were "
                f"dropped: check whether they are unlabelled data or a broken join.",
                {"n_missing_target": n_missing_target, "share": _r(share)},
            )
        )
    if tgt.task == "classification":
        assert tgt.codes is not None
        counts = np.bincount(tgt.codes, minlength=tgt.n_classes)
        ev = {"classes": s["classes"][:20], "minority_share": s["minority_share"]}
        if tgt.n_classes < 2:
            out.append(
                Finding(
                    "target_distribution",
                    "error",
                    [],
                    "The target has a single class: nothing to learn.",
                    ev,
                )
            )
            return out
        if counts.min() < 2 * settings.baseline_folds:
            out.append(
                Finding(
                    "target_distribution",
                    "error",
                    [],
                    f"Class '{s['minority_class']}' has only {counts.min()} rows: "
                    f"too few for stratified cross-validation; merge or drop it.",
                    ev,
                )
            )
        elif s["minority_share"] < settings.imbalance_share * 2 / tgt.n_classes:
            out.append(
                Finding(
                    "target_distribution",
                    "warn",
                    [],
                    f"Imbalanced target: minority class '{s['minority_class']}' is "
                    f"{s['minority_share']:.1%} of rows (ratio "
                    f"{s['imbalance_ratio']:.0f}:1): use stratified CV, a metric "
                    f"that ignores the base rate (average precision, balanced "
                    f"accuracy, AUC) and class weights rather than accuracy.",
                    ev,
                )
            )
        else:
            out.append(
                Finding(
                    "target_distribution",
                    "info",
                    [],
                    f"{tgt.n_classes} classes, minority share "
                    f"{s['minority_share']:.1%}: balanced enough.",
                    ev,
                )
            )
        if tgt.n_classes > 50:
            out.append(
                Finding(
                    "target_distribution",
                    "warn",
                    [],
                    f"{tgt.n_classes} classes: if the labels are ordered numbers, "
                    f"this may be a regression problem (dataset.task=regression).",
                    {"n_classes": tgt.n_classes},
                )
            )
        return out
    ev = {
        k: s.get(k)
        for k in (
            "mean",
            "std",
            "min",
            "median",
            "max",
            "skew",
            "log1p_skew",
            "n_outliers",
            "outlier_share",
        )
    }
    sk, lsk = s.get("skew") or 0.0, s.get("log1p_skew")
    if abs(sk) >= 1.0 and lsk is not None and abs(lsk) < 0.5 * abs(sk):
        out.append(
            Finding(
                "target_distribution",
                "warn",
                [],
                f"Skewed target (skew {sk:.2f}; log1p(y) has skew {lsk:.2f}): "
                f"squared-error models chase the tail; try a log target "
                f"(log1p) or a robust loss.",
                {**ev, "suggestion": "log1p target"},
            )
        )
    elif abs(sk) >= 1.0 or (s.get("outlier_share") or 0) >= 0.01:
        out.append(
            Finding(
                "target_distribution",
                "warn",
                [],
                f"Target has skew {sk:.2f} and {s.get('n_outliers', 0):,} far "
                f"outliers (beyond 3 IQR): consider a robust loss (huber / absolute "
                f"error) or a rank-based metric.",
                ev,
            )
        )
    else:
        out.append(
            Finding(
                "target_distribution",
                "info",
                [],
                f"Target roughly symmetric (skew {sk:.2f}), "
                f"{s.get('n_outliers', 0):,} far outliers.",
                ev,
            )
        )
    nu = s.get("n_unique")
    if nu is not None and nu <= 10:
        out.append(
            Finding(
                "target_distribution",
                "warn",
                [],
                f"The regression target has only {nu} distinct values: if they are "
                f"labels, use dataset.task=classification.",
                {"n_unique": nu},
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Sampling and per-column encodings of the sample
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Relevance: mutual information against shuffled probes
# ---------------------------------------------------------------------------------------------
def _mutual_information(xc: np.ndarray, kx: int, yc: np.ndarray, ky: int) -> tuple[float, int, int]:
    """Plug-in MI (nats) of two code arrays, with the numbers of non-empty bins."""
    joint = np.bincount(xc * ky + yc, minlength=kx * ky).reshape(kx, ky).astype(np.float64)
    n = joint.sum()
    px, py = joint.sum(1), joint.sum(0)
    nz = joint > 0
    expected = np.outer(px, py)[nz] / n
    mi = float((joint[nz] * np.log(joint[nz] / expected)).sum() / n)
    return max(mi, 0.0), int((px > 0).sum()), int((py > 0).sum())


def _entropy(codes: np.ndarray) -> float:
    p = np.bincount(codes) / len(codes)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _relevance(
    enc: dict[str, _SampleColumn], tgt: _Target, settings: EdaSettings, rng: np.random.Generator
) -> tuple[list[FeatureRelevance], list[float]]:
    """Bias-corrected binned MI per feature; 'irrelevant' = not better than shuffled probes."""
    from scipy.stats import chi2

    n = len(tgt.codes) if tgt.codes is not None else len(tgt.values)  # type: ignore[arg-type]
    if not enc or n < 20 or (tgt.task == "classification" and tgt.n_classes < 2):
        return [], []
    ky_bins = int(np.clip(n // 50, 4, 10))
    yc, ky = tgt.binned(ky_bins)
    h_y = _entropy(yc)
    n_by = int((np.bincount(yc, minlength=ky) > 0).sum())
    n_bins = int(np.clip(n // (5 * n_by), 4, 16))

    def score(xc: np.ndarray, kx: int) -> tuple[float, float]:
        mi, bx, by = _mutual_information(xc, kx, yc, ky)
        dof = max((bx - 1) * (by - 1), 1)
        corrected = mi - (bx - 1) * (by - 1) / (2 * n)
        return corrected, float(chi2.sf(2 * n * mi, dof))

    binned = {c: col.binned(n_bins, 64, 5) for c, col in enc.items()}
    results = {c: score(*b) for c, b in binned.items()}
    names = list(binned)
    probes = []
    for _ in range(settings.n_probes):
        xc, kx = binned[names[int(rng.integers(len(names)))]]
        probes.append(score(rng.permutation(xc), kx)[0])
    floor = max(probes) if probes else 0.0
    alpha = settings.relevance_alpha / max(len(names), 1)
    ranked = sorted(names, key=lambda c: (-results[c][0], results[c][1]))
    out = []
    for rank, c in enumerate(ranked, start=1):
        sc, p = results[c]
        share = sc / h_y if h_y > 0 else 0.0
        verdict: Verdict = (
            "irrelevant"
            if p >= alpha or sc <= floor
            else ("useful" if share >= settings.useful_share else "weak")
        )
        out.append(FeatureRelevance(c, rank, _r(sc), _r(share), float(f"{p:.3g}"), verdict))
    return out, [_r(p) for p in probes]


# ---------------------------------------------------------------------------------------------
# Leakage: cheap single-feature models and exact relations
# ---------------------------------------------------------------------------------------------
def _leakage(
    enc: dict[str, _SampleColumn], tgt: _Target, settings: EdaSettings, rng: np.random.Generator
) -> list[LeakageSuspect]:
    """Flag features whose out-of-fold binned target model (or an exact rule) hits the target."""
    n = len(tgt.codes) if tgt.codes is not None else len(tgt.values)  # type: ignore[arg-type]
    if n < 20 or (tgt.task == "classification" and tgt.n_classes < 2):
        return []
    n_folds = int(max(2, min(settings.leakage_folds, n // 10)))
    folds = rng.permutation(np.arange(n) % n_folds)
    n_bins = int(np.clip(n // 25, 8, 64))
    binary = tgt.task == "classification" and tgt.n_classes == 2
    if tgt.task == "classification":
        assert tgt.codes is not None
        y = tgt.codes
        metric = "cv_auc" if binary else "cv_balanced_accuracy"
        min_class = int(np.bincount(y).min())
    else:
        assert tgt.values is not None
        y = tgt.values
        metric = "cv_r2"
        min_class = 0
    out = []
    for c, col in enc.items():
        xc, kx = col.binned(n_bins, 1000, 2)
        pred = _oof_binned(xc, kx, folds, n_folds, y, tgt)
        if binary:
            score = _auc(y, pred[:, 1])
        elif tgt.task == "classification":
            score = _balanced_accuracy(y, pred.argmax(1), tgt.n_classes)
        else:
            sst = float(((y - y.mean()) ** 2).sum())
            score = 1.0 - float(((y - pred) ** 2).sum()) / sst if sst > 0 else 0.0
        evidence: dict[str, Any] = {metric: _r(score), "bins": int(kx), "folds": n_folds}
        relation = None
        if binary and col.numeric and min_class >= 20:
            relation = _threshold_relation(col, y, settings, evidence)
        if relation is None and tgt.task == "classification" and min_class >= 20:
            relation = _missing_relation(col, y, tgt, settings, evidence)
        if relation is None and tgt.task == "classification" and min_class >= 20:
            relation = _purity_relation(col, y, tgt, settings, evidence)
        if relation is None and tgt.task == "regression":
            relation = _monotone_relation(col, y, evidence) if col.numeric else None
            relation = relation or _function_relation(col, y, settings, evidence)
        if score >= settings.leakage_threshold or relation is not None:
            if col.numeric:
                evidence["pearson"] = _pearson(col.values, y.astype(np.float64))
            out.append(LeakageSuspect(c, metric, _r(score), relation, evidence))
    out.sort(key=lambda s: -s.score)
    return out


def _oof_binned(
    xc: np.ndarray, kx: int, folds: np.ndarray, n_folds: int, y: np.ndarray, tgt: _Target
) -> np.ndarray:
    """Out-of-fold per-bin target rate (or mean): a single-feature model with no fitting."""
    if tgt.task == "classification":
        k = tgt.n_classes
        cnt = np.bincount((folds * kx + xc) * k + y, minlength=n_folds * kx * k)
        cnt = cnt.reshape(n_folds, kx, k).astype(np.float64)
        other = cnt.sum(0, keepdims=True) - cnt
        prior = other.sum(1, keepdims=True) / other.sum(axis=(1, 2), keepdims=True)
        probs = (other + prior) / (other.sum(2, keepdims=True) + 1.0)
        return probs[folds, xc]
    cnt = np.bincount(folds * kx + xc, minlength=n_folds * kx).reshape(n_folds, kx)
    sm = np.bincount(folds * kx + xc, weights=y, minlength=n_folds * kx).reshape(n_folds, kx)
    cnt_o = cnt.sum(0, keepdims=True) - cnt
    sm_o = sm.sum(0, keepdims=True) - sm
    mean_o = sm_o.sum(1, keepdims=True) / np.maximum(cnt_o.sum(1, keepdims=True), 1)
    means = (sm_o + mean_o) / (cnt_o + 1.0)
    return means[folds, xc]


def _auc(y01: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC with ties counted half; O(n log n) via one unique() (scores are bin rates)."""
    values, inv = np.unique(score, return_inverse=True)
    pos = np.bincount(inv, weights=y01, minlength=len(values))
    tot = np.bincount(inv, minlength=len(values))
    neg = tot - pos
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return 0.5
    neg_below = np.cumsum(neg) - neg
    return float((pos * (neg_below + 0.5 * neg)).sum() / (n_pos * n_neg))


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    counts = np.bincount(y, minlength=k)
    hits = np.bincount(y[pred == y], minlength=k)
    present = counts > 0
    return float((hits[present] / counts[present]).mean())


def _threshold_relation(
    col: _SampleColumn, y: np.ndarray, settings: EdaSettings, evidence: dict[str, Any]
) -> str | None:
    """Binary target reproduced by one threshold on the feature (on its non-missing rows)."""
    assert col.values is not None
    m = ~np.isnan(col.values)
    x, t = col.values[m], y[m]
    pos = int(t.sum())
    neg = len(t) - pos
    if pos < 10 or neg < 10:
        return None
    order = np.argsort(x, kind="stable")
    xs, ts = x[order], t[order]
    splits = np.flatnonzero(xs[1:] != xs[:-1])
    if splits.size == 0:
        return None
    left_pos = np.cumsum(ts)[splits]
    left_neg = splits + 1 - left_pos
    bal = 0.5 * (left_neg / neg + (pos - left_pos) / pos)  # left -> class 0
    flip = 1.0 - bal
    i = int(np.argmax(np.maximum(bal, flip)))
    best = float(max(bal[i], flip[i]))
    evidence["threshold_balanced_accuracy"] = _r(best)
    if best < settings.exact_relation_accuracy:
        return None
    thr = float((xs[splits[i]] + xs[splits[i] + 1]) / 2)
    op = ">" if bal[i] >= flip[i] else "<="
    evidence["threshold"] = _r(thr)
    evidence["coverage"] = _r(m.mean())
    return f"target == ({col.name} {op} {thr:.6g}) on {m.mean():.0%} of rows (non-missing)"


def _missing_relation(
    col: _SampleColumn, y: np.ndarray, tgt: _Target, settings: EdaSettings, evidence: dict[str, Any]
) -> str | None:
    """A class that occurs exactly when the feature is missing (a data-collection leak)."""
    miss = col.missing()
    n_miss = int(miss.sum())
    if n_miss < 10 or n_miss > len(miss) - 10:
        return None
    k = tgt.n_classes
    both = np.bincount(y[miss], minlength=k)
    counts = np.bincount(y, minlength=k)
    tpr = both / np.maximum(counts, 1)
    tnr = 1.0 - (n_miss - both) / np.maximum(len(y) - counts, 1)
    bal = 0.5 * (tpr + tnr)
    j = int(np.argmax(bal))
    evidence["missing_indicator_balanced_accuracy"] = _r(float(bal[j]))
    if bal[j] < settings.exact_relation_accuracy:
        return None
    return f"{col.name} is missing exactly when the target is '{tgt.labels[j]}'"


def _monotone_relation(col: _SampleColumn, y: np.ndarray, evidence: dict[str, Any]) -> str | None:
    """Regression target a monotone function of the feature (|Spearman| ~ 1)."""
    from scipy.stats import rankdata

    assert col.values is not None
    m = np.isfinite(col.values)
    if m.sum() < 20 or len(col.uniq) < 20:  # type: ignore[arg-type]
        return None
    rho = _pearson(rankdata(col.values[m]), rankdata(y[m]))
    evidence["spearman"] = rho
    if rho is None or abs(rho) < 0.999:
        return None
    return (
        f"target is an {'increasing' if rho > 0 else 'decreasing'} function of {col.name} "
        f"(Spearman {rho:.4f})"
    )


def _function_relation(
    col: _SampleColumn, y: np.ndarray, settings: EdaSettings, evidence: dict[str, Any]
) -> str | None:
    """Regression target (almost) any function of the feature, monotone or not.

    Sorted by the feature, consecutive targets of a function differ only by the function's
    small steps: 1 - sum(diff^2) / (2 SST) estimates the share of target variance that is a
    function of the feature (a nearest-neighbour R2; ~0 for noise, ~1 for y = f(x)).
    """
    x = col.values if col.values is not None else col.codes.astype(np.float64)  # type: ignore
    m = np.isfinite(x) if col.values is not None else col.codes >= 0  # type: ignore[operator]
    if m.sum() < 20:
        return None
    ys = y[m][np.argsort(x[m], kind="stable")]
    sst = float(((ys - ys.mean()) ** 2).sum())
    if sst <= 0:
        return None
    r2 = 1.0 - float((np.diff(ys) ** 2).sum()) / (2.0 * sst)
    evidence["neighbour_r2"] = _r(r2)
    if r2 < settings.leakage_threshold:
        return None
    return (
        f"target is (almost) a function of {col.name}: sorted by it, neighbouring targets "
        f"agree (neighbour R2 {r2:.4f})"
    )


def _purity_relation(
    col: _SampleColumn, y: np.ndarray, tgt: _Target, settings: EdaSettings, evidence: dict[str, Any]
) -> str | None:
    """Each value of a discrete feature maps to a single class (a lookup table)."""
    if col.values is not None:
        if col.uniq is None or len(col.uniq) > 1000:
            return None
        xc, kx = _bin_numeric(col.values, len(col.uniq), col.uniq)
    else:
        assert col.codes is not None
        xc = np.where(col.codes >= 0, col.codes, col.codes.max() + 1)
        kx = int(xc.max()) + 1
    n, k = len(y), tgt.n_classes
    joint = np.bincount(xc * k + y, minlength=kx * k).reshape(kx, k)
    sizes = joint.sum(1)
    groups = sizes >= 2
    n_groups = int(groups.sum())
    covered = int(sizes[groups].sum())
    if n_groups < 2 or n_groups > n / 10 or covered < 0.9 * n:
        return None
    purity = float(joint[groups].max(1).sum() / covered)
    evidence["purity"] = _r(purity)
    if purity < settings.exact_relation_accuracy:
        return None
    return f"each of the {n_groups} values of {col.name} determines the class (a lookup table)"


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    m = np.isfinite(a) & np.isfinite(b)
    if m.sum() < 3:
        return None
    a, b = a[m] - a[m].mean(), b[m] - b[m].mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return _r(float((a * b).sum()) / den) if den > 0 else None


_METRIC_NAMES = {
    "cv_auc": "CV AUC",
    "cv_r2": "CV R2",
    "cv_balanced_accuracy": "CV balanced accuracy",
}


def _leak_message(s: LeakageSuspect, settings: EdaSettings) -> str:
    why = [
        f"single-feature {_METRIC_NAMES.get(s.metric, s.metric)} {s.score:.3f}"
        + (f" >= {settings.leakage_threshold}" if s.score >= settings.leakage_threshold else "")
    ]
    if s.exact_relation:
        why.append(f"exact relation: {s.exact_relation}")
    return (
        f"Suspected leakage: `{s.column}` alone predicts the target almost perfectly ("
        + "; ".join(why)
        + "). It is probably derived from, or recorded after, the target; "
        "drop it unless it is truly known at prediction time."
    )


# ---------------------------------------------------------------------------------------------
# Redundancy
# ---------------------------------------------------------------------------------------------
def _redundancy(
    enc: dict[str, _SampleColumn],
    relevance: list[FeatureRelevance],
    settings: EdaSettings,
    dup_pairs: set[frozenset[str]],
) -> tuple[list[RedundantPair], dict[str, Any]]:
    """Spearman between numeric features, bias-corrected Cramer's V between categoricals."""
    from scipy.stats import rankdata

    order = {r.column: r.rank for r in relevance}
    num = sorted(
        (c for c, col in enc.items() if col.numeric and len(col.uniq) > 1),
        key=lambda c: order.get(c, 10**9),
    )[:500]
    pairs: list[RedundantPair] = []
    correlation: dict[str, Any] = {"method": "spearman", "columns": [], "matrix": []}
    thr = settings.correlation_threshold
    if len(num) >= 2:
        ranks = np.empty((len(enc[num[0]].values), len(num)))  # type: ignore[arg-type]
        for j, c in enumerate(num):
            v = enc[c].values
            r = rankdata(v, nan_policy="omit")
            ranks[:, j] = np.where(np.isnan(r), np.nanmean(r), r)
        ranks -= ranks.mean(0)
        sd = np.sqrt((ranks**2).sum(0))
        ranks /= np.where(sd > 0, sd, 1.0)
        corr = ranks.T @ ranks
        del ranks
        ii, jj = np.nonzero(np.triu(np.abs(corr) >= thr, k=1))
        for i, j in zip(ii, jj, strict=True):
            if frozenset((num[i], num[j])) not in dup_pairs:
                pairs.append(RedundantPair(num[i], num[j], "spearman", _r(float(corr[i, j]))))
        top = min(len(num), 25)
        correlation["columns"] = num[:top]
        correlation["matrix"] = [[_r(float(x), 3) for x in row] for row in corr[:top, :top]]
    cats = [c for c, col in enc.items() if not col.numeric][:60]
    binned = {c: enc[c].binned(0, 64, 5) for c in cats}
    for a_i, a in enumerate(cats):
        for b in cats[a_i + 1 :]:
            if frozenset((a, b)) in dup_pairs:
                continue
            v = _cramers_v(*binned[a], *binned[b])
            if v >= thr:
                pairs.append(RedundantPair(a, b, "cramers_v", _r(v)))
    pairs.sort(key=lambda p: -abs(p.value))
    return pairs, correlation


def _cramers_v(xa: np.ndarray, ka: int, xb: np.ndarray, kb: int) -> float:
    """Bias-corrected Cramer's V (Bergsma 2013) of two code arrays."""
    n = len(xa)
    joint = np.bincount(xa * kb + xb, minlength=ka * kb).reshape(ka, kb).astype(np.float64)
    joint = joint[joint.sum(1) > 0][:, joint.sum(0) > 0]
    r, k = joint.shape
    if r < 2 or k < 2 or n < 3:
        return 0.0
    expected = np.outer(joint.sum(1), joint.sum(0)) / n
    phi2 = float(((joint - expected) ** 2 / expected).sum()) / n
    phi2c = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    rc, kc = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    den = min(kc - 1, rc - 1)
    return math.sqrt(phi2c / den) if den > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Baselines and model-family advice
# ---------------------------------------------------------------------------------------------
# A small boosted model: enough to expose non-linearity, ~1 s per fold on 10k rows.
_TREE_BASELINE: dict[str, Any] = {
    "max_iter": 60,
    "learning_rate": 0.15,
    "max_leaf_nodes": 15,
    "early_stopping": False,
}


def _tree_baseline(n_classes: int = 2) -> dict[str, Any]:
    """The tree baseline's settings: a multiclass model grows a tree per class and round,
    so its rounds shrink with the classes (about 120 trees in all, at least 20 rounds)."""
    rounds = _TREE_BASELINE["max_iter"]
    if n_classes > 2:
        rounds = max(20, 2 * rounds // n_classes)
    return {**_TREE_BASELINE, "max_iter": rounds}


def _baselines(
    enc: dict[str, _SampleColumn],
    cols: list[str],
    tgt: _Target,
    settings: EdaSettings,
    seed: int,
    rng: np.random.Generator,
    context: Sequence[str] = (),
) -> _BaselineRun:
    """Dummy, linear and tree CV baselines on (a sample of) the sample: a few seconds.

    Also returns the out-of-fold residual of a linear model on the `context` features only
    (those already judged relevant), for the conditional relevance test.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict, cross_validate
    from threadpoolctl import threadpool_limits

    n = len(tgt.codes) if tgt.codes is not None else len(tgt.values)  # type: ignore[arg-type]
    idx = _stratified_sample(tgt.strata, n, settings.baseline_rows, rng)
    sub = tgt.take(idx)
    cols = [c for c in cols if enc[c].numeric] + [c for c in cols if not enc[c].numeric]
    Z, is_cat = _design_matrix(enc, cols, idx)
    binary = tgt.task == "classification" and tgt.n_classes == 2
    if tgt.task == "classification":
        y = sub.codes
        assert y is not None
        metric = "roc_auc" if binary else "balanced_accuracy"
        folds = max(2, min(settings.baseline_folds, int(np.bincount(y).min())))
        cv: Any = StratifiedKFold(folds, shuffle=True, random_state=seed)
        models = [
            ("dummy", "DummyClassifier(prior)", DummyClassifier(strategy="prior")),
            ("linear", "LogisticRegression", _linear_model(is_cat, tgt.task)),
            ("tree", "HistGradientBoostingClassifier", _tree_model(sub, is_cat, seed)[0]),
        ]
    else:
        y = sub.values
        assert y is not None
        metric = "r2"
        cv = KFold(settings.baseline_folds, shuffle=True, random_state=seed)
        models = [
            ("dummy", "DummyRegressor(mean)", DummyRegressor()),
            ("linear", "Ridge", _linear_model(is_cat, tgt.task)),
            ("tree", "HistGradientBoostingRegressor", _tree_model(sub, is_cat, seed)[0]),
        ]
    out = []
    residual = None
    # One thread: on a busy (or small) machine, spinning OpenMP/BLAS workers made these small
    # fits up to 25x slower; single-threaded they take about a second.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        for name, label, model in models:
            t0 = time.perf_counter()
            scores = cross_validate(model, Z, y, cv=cv, scoring=metric, error_score=np.nan)[
                "test_score"
            ]
            ok = np.isfinite(scores).any()
            out.append(
                Baseline(
                    name,
                    label,
                    metric,
                    _r(np.nanmean(scores) if ok else None),
                    _r(np.nanstd(scores) if ok else None),
                    round(time.perf_counter() - t0, 3),
                )
            )
        ctx = [j for j, c in enumerate(cols) if c in set(context)]
        if ctx and (binary or tgt.task == "regression"):
            try:
                pred = cross_val_predict(
                    _linear_model(is_cat[ctx], tgt.task),
                    Z[:, ctx],
                    y,
                    cv=cv,
                    method="predict_proba" if binary else "predict",
                )
                residual = y - (pred[:, 1] if binary else pred)
            except ValueError:  # e.g. a fold without both classes: skip the rescue
                residual = None
    return _BaselineRun(out, metric, idx, residual)


def _design_matrix(
    enc: dict[str, _SampleColumn], cols: list[str], idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The sample rows `idx` of `cols` as floats (categories as codes, missing as NaN), and
    which columns are categorical."""
    blocks = []
    for c in cols:
        col = enc[c]
        if col.numeric:
            v = col.values[idx]  # type: ignore[index]
            blocks.append(np.where(np.isfinite(v), v, np.nan))
        else:
            xc, k = col.binned(0, 250, 5)
            xc = xc[idx].astype(np.float64)
            xc[xc == k - 1] = np.nan  # the missing bin: native NaN for the tree
            blocks.append(xc)
    return np.column_stack(blocks), np.array([not enc[c].numeric for c in cols])


def _tree_model(tgt: _Target, is_cat: np.ndarray, seed: int) -> tuple[Any, str, np.ndarray]:
    """The tree baseline, its CV metric, and the target it fits."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if tgt.task == "classification":
        metric = "roc_auc" if tgt.n_classes == 2 else "balanced_accuracy"
        model = HistGradientBoostingClassifier(
            **_tree_baseline(tgt.n_classes), categorical_features=is_cat, random_state=seed
        )
        return model, metric, tgt.codes  # type: ignore[return-value]
    model = HistGradientBoostingRegressor(
        **_TREE_BASELINE, categorical_features=is_cat, random_state=seed
    )
    return model, "r2", tgt.values  # type: ignore[return-value]


def _linear_model(is_cat: np.ndarray, task: str) -> Any:
    """Impute + scale numbers (with missing indicators), one-hot categories, then linear."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num_idx, cat_idx = np.flatnonzero(~is_cat), np.flatnonzero(is_cat)
    transformers = []
    if len(num_idx):
        transformers.append(
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                ),
                num_idx,
            )
        )
    if len(cat_idx):
        transformers.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True),
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        max_categories=20,
                        min_frequency=5,
                        sparse_output=False,
                    ),
                ),
                cat_idx,
            )
        )
    pre = ColumnTransformer(transformers, sparse_threshold=0.0)
    model = LogisticRegression(max_iter=300) if task == "classification" else Ridge(alpha=1.0)
    return make_pipeline(pre, model)


def _conditional_relevance(
    relevance: list[FeatureRelevance],
    enc: dict[str, _SampleColumn],
    eligible: set[str],
    run: _BaselineRun,
    settings: EdaSettings,
    rng: np.random.Generator,
) -> None:
    """Rescue 'irrelevant' features that explain what the linear baseline could not.

    Why: a univariate filter misses features that matter only given the others (e.g. sex in
    the diabetes data). Same test as the univariate pass -- binned MI, probes, Bonferroni --
    but against the out-of-fold residual of a linear model on the relevant features: what is
    left to explain once they are known (an added-variable test).
    """
    from scipy.stats import chi2

    assert run.residual is not None
    cands = [r for r in relevance if r.verdict == "irrelevant" and r.column in eligible]
    n = len(run.rows)
    if not cands or n < 100:
        return
    rc, kr = _bin_numeric(run.residual, int(np.clip(n // 100, 4, 10)))
    n_bins = int(np.clip(n // (5 * kr), 4, 16))

    def score(xc: np.ndarray, kx: int) -> tuple[float, float]:
        mi, bx, by = _mutual_information(xc, kx, rc, kr)
        return mi - (bx - 1) * (by - 1) / (2 * n), float(
            chi2.sf(2 * n * mi, max((bx - 1) * (by - 1), 1))
        )

    binned = {}
    for r in cands:
        xc, kx = enc[r.column].binned(n_bins, 64, 5)
        binned[r.column] = (xc[run.rows], kx)
    names = list(binned)
    probes = []
    for _ in range(settings.n_probes):
        xc, kx = binned[names[int(rng.integers(len(names)))]]
        probes.append(score(rng.permutation(xc), kx)[0])
    floor = max(probes) if probes else 0.0
    alpha = settings.relevance_alpha / len(names)
    for r in cands:
        sc, p = score(*binned[r.column])
        if p < alpha and sc > floor:
            r.verdict, r.conditional = "weak", True


@dataclass
class _BaselineRun:
    baselines: list[Baseline]
    metric: str | None
    rows: np.ndarray  # indices into the sample the baselines used
    residual: np.ndarray | None  # out-of-fold residual, linear model on relevant features


def _problem_facts(
    n: int,
    p: int,
    cols: list[str],
    kinds: dict[str, str],
    profiles: dict[str, ColumnProfile],
    baselines: list[Baseline],
    metric: str | None,
) -> dict[str, Any]:
    used = cols or list(profiles)
    cat = sum(kinds[c] in ("categorical", "id", "text") for c in used)
    missing = float(np.mean([profiles[c].missing_share for c in used])) if used else 0.0
    b = {x.name: x.mean for x in baselines}
    gap = (
        (b["tree"] - b["linear"])
        if {"tree", "linear"} <= set(b) and np.isfinite(b["tree"]) and np.isfinite(b["linear"])
        else None
    )
    lift = (
        (max(b["tree"], b["linear"]) - b["dummy"])
        if gap is not None and "dummy" in b and np.isfinite(b["dummy"])
        else None
    )
    return {
        "n_rows": n,
        "n_columns": p,
        "n_features_used": len(used),
        "categorical_share": _r(cat / len(used)) if used else 0.0,
        "missing_cell_share": _r(missing),
        "metric": metric,
        "baseline_rows": None,
        "nonlinearity_gap": _r(gap),
        "lift_over_dummy": _r(lift),
        "max_category_count": max(
            (profiles[c].n_unique for c in used if kinds[c] in ("categorical", "id")), default=0
        ),
    }


def _rank_families(pb: dict[str, Any], families: Sequence[FamilyProfile]) -> list[FamilyAdvice]:
    """Problem shape + baseline gap -> ranked families, each score change with its reason.

    Families are scored by their declared profile (mlengine/families.py), never by name:
    a family file of the user's own is ranked like the built-in ones of its kind.
    """
    score = {f.name: float(f.prior) for f in families}
    reasons: dict[str, list[str]] = {f.name: [] for f in families}

    def of(*profiles: str) -> list[str]:
        return [f.name for f in families if f.profile in profiles]

    def bump(names: Sequence[str], delta: float, why: str) -> None:
        for f in names:
            score[f] += delta
            reasons[f].append(why)

    boost, bags, linear = of("boosting"), of("bagging"), of("linear")
    kernel, neighbours, neural = of("kernel"), of("neighbours"), of("neural")

    n, p = pb["n_rows"], pb["n_features_used"]
    gap, metric = pb.get("nonlinearity_gap"), pb.get("metric")
    if gap is not None:
        if gap >= 0.02:
            why = f"tree baseline beats linear by {gap:+.3f} {metric}: non-linear structure"
            bump(boost, 1.5, why)
            bump(bags, 1.0, why)
            bump(neural + kernel, 0.3, why)
            bump(linear, -1.5, f"linear baseline trails the tree by {gap:.3f} {metric}")
        elif gap <= 0.005:
            bump(
                linear,
                2.0,
                f"linear baseline as good as the tree ({gap:+.3f} {metric} "
                "for the tree): signal is mostly additive; simplest and fastest "
                "to serve",
            )
            bump(kernel, 0.5, "linear-ish problem")
            bump(boost, -0.5, f"no gain over linear ({gap:+.3f} {metric})")
        else:
            bump(linear, 0.5, f"linear baseline close to the tree ({gap:+.3f} {metric})")
    if n < 2_000:
        bump(linear, 0.5, f"small data ({n:,} rows) favours strong regularisation")
        bump(kernel, 1.0, f"kernel SVM is cheap and strong on {n:,} rows")
        bump(neural, -1.5, f"{n:,} rows are too few for a neural net")
        bump(boost, -0.3, "boosting overfits easily on small data")
    elif n > 100_000:
        bump(kernel, -3.0, f"kernel SVM scales O(n^2)+ on {n:,} rows")
        bump(neighbours, -1.5, "kNN prediction cost grows with the training rows")
        bump(bags, -0.5, "deep forests are slow and large on many rows")
        bump(boost, 0.5, "histogram boosting scales linearly with rows")
        bump(neural, 0.7, f"enough rows ({n:,}) for a neural net")
    elif n > 20_000:
        bump(kernel, -1.5, f"kernel SVM gets slow beyond ~20k rows ({n:,})")
    if pb["categorical_share"] >= 0.3:
        bump(
            boost,
            0.5,
            f"{pb['categorical_share']:.0%} categorical features: native categorical support",
        )
        bump(neighbours + kernel, -1.0, "distances on one-hot codes are poor")
    levels = pb["max_category_count"]
    limited = [f.name for f in families if f.max_categories and f.max_categories < levels]
    if limited:
        bump(limited, -0.3, f"a categorical has {levels} levels (over its native limit)")
    if pb["missing_cell_share"] >= 0.05:
        bump(boost, 0.5, f"{pb['missing_cell_share']:.0%} missing cells: native NaN handling")
        bump(neighbours + kernel + neural, -0.2, "needs imputation")
    if p > 200 or (p > 0 and n < 10 * p):
        bump(linear, 1.0, f"{p} features for {n:,} rows: regularised linear models cope")
        bump(neighbours, -1.0, "many dimensions make neighbours meaningless")
    lift = pb.get("lift_over_dummy")
    if lift is not None and lift < 0.01:
        for f in score:
            reasons[f].append(f"no baseline beats the dummy (lift {lift:+.3f}): fix data first")
    ranked = sorted(score, key=lambda f: -score[f])
    return [
        FamilyAdvice(f, i, round(score[f], 2), reasons[f] or ["default prior"])
        for i, f in enumerate(ranked, start=1)
    ]


def _advice_findings(advice: ModelAdvice) -> list[Finding]:
    out = []
    lift = advice.problem.get("lift_over_dummy")
    if lift is not None and lift < 0.01:
        out.append(
            Finding(
                "baseline_signal",
                "warn",
                [],
                f"Neither a linear model nor a tree beats the dummy baseline (lift "
                f"{lift:+.3f} {advice.metric}): little usable signal at this sample "
                f"size; check the target and features before sweeping.",
                {b.name: b.mean for b in advice.baselines},
            )
        )
    if advice.ranking:
        top = advice.ranking[:3]
        out.append(
            Finding(
                "model_advice",
                "info",
                [],
                "Recommended families: "
                + ", ".join(a.family for a in top)
                + f" ({top[0].reasons[0]}).",
                {
                    "ranking": [a.family for a in advice.ranking],
                    "baselines": {b.name: b.mean for b in advice.baselines},
                },
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Drop list
# ---------------------------------------------------------------------------------------------
def _drop_reasons(
    columns: list[str],
    constant: list[str],
    id_like: list[str],
    entity_drop: list[str],
    leaking: set[str],
    irrelevant: list[str],
    duplicates: list[list[str]],
    relevance: list[FeatureRelevance],
    leakage: list[LeakageSuspect],
) -> dict[str, list[str]]:
    """Why each column goes; keeps at least one column (the best-ranked safe one)."""
    reasons: dict[str, list[str]] = {}
    tagged = [
        ("constant", constant),
        ("id_like", id_like),
        ("repeated_entity", entity_drop),
        ("leakage", sorted(leaking)),
        ("duplicate", [c for g in duplicates for c in g[1:]]),
        ("irrelevant", irrelevant),
    ]
    for why, cols in tagged:
        for c in cols:
            reasons.setdefault(c, []).append(why)
    if columns and len(reasons) == len(columns):
        rank = {r.column: r.rank for r in relevance}
        leak_score = {s.column: s.score for s in leakage}

        def keep_key(c: str) -> tuple[int, float]:
            r = set(reasons[c])
            tier = (
                0
                if r <= {"irrelevant", "duplicate"}
                else 1
                if not r & {"constant", "leakage"}
                else 2
                if "constant" not in r
                else 3
            )
            return tier, rank.get(c, 10**9) + leak_score.get(c, 0.0)

        keep = min(columns, key=keep_key)
        del reasons[keep]
    return {c: reasons[c] for c in columns if c in reasons}
