"""The cheap checks, read from every row: shape, missing values, constant and duplicated
columns, duplicate rows, infinities. Then `sampling`, which draws the sample the expensive
checks read, and `mixed_types`, read on that sample.

Identifiers and high-cardinality columns are ids.py's checks, the target's target.py's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlengine.eda._util import _r
from mlengine.eda.registry import check
from mlengine.eda.report import Finding, Severity
from mlengine.eda.sample import Sample, _SampleColumn, _stratified_sample

if TYPE_CHECKING:
    from mlengine.eda.columns import _ColumnFacts
    from mlengine.eda.registry import EdaContext


@check("shape", stage="checks")
def check_shape(ctx: EdaContext) -> list[Finding]:
    """The table's size and kinds of columns; a warning when rows are few for the columns."""
    n, p, memory, profiles = ctx.n, ctx.X.shape[1], ctx.memory_bytes, ctx.profiles
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


@check("missing_values", stage="checks")
def check_missing_values(ctx: EdaContext) -> list[Finding]:
    profiles, settings = ctx.profiles, ctx.settings
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


@check("constant", stage="checks")
def check_constant(ctx: EdaContext) -> list[Finding]:
    """Columns with no value, or a single value and no missing one (whether a value is
    missing is information, as the loader keeps it); the expensive checks skip them."""
    profiles = ctx.profiles
    constant = ctx.constant = [
        c for c, p in profiles.items() if p.n_unique == 0 or (p.n_unique == 1 and not p.n_missing)
    ]
    if not constant:
        return []
    return [
        Finding(
            "constant",
            "warn",
            constant,
            f"{len(constant)} column(s) hold a single value (or none) on every row: no "
            f"information; dropped.",
            {c: profiles[c].n_unique for c in constant},
        )
    ]


@check("quasi_constant", stage="checks")
def check_quasi_constant(ctx: EdaContext) -> list[Finding]:
    profiles, settings = ctx.profiles, ctx.settings
    quasi = [
        c
        for c, p in profiles.items()
        if p.n_unique > 1 and p.top_share >= settings.quasi_constant_share
    ]
    if not quasi:
        return []
    return [
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
    ]


@check("duplicate_rows", stage="checks")
def check_duplicate_rows(ctx: EdaContext) -> list[Finding]:
    """Rows whose features are all equal, and those of them whose targets differ."""
    row_hash, tgt, n = ctx.row_hash, ctx.target, ctx.n
    ctx.row_hash = None  # a hash per row: this check's only, freed once read
    assert row_hash is not None
    h = pd.Series(row_hash, copy=False)
    dup = h.duplicated().to_numpy()
    n_dup = int(dup.sum())
    if not n_dup:
        return []
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
    return [
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
    ]


@check("duplicate_columns", stage="checks")
def check_duplicate_columns(ctx: EdaContext) -> list[Finding]:
    """Columns that copy another; the copies are dropped, the first of each group kept."""
    groups = ctx.duplicates = _duplicate_column_groups(ctx.X, ctx.facts)
    if not groups:
        return []
    copies = [c for g in groups for c in g[1:]]
    return [
        Finding(
            "duplicate_columns",
            "warn",
            [c for g in groups for c in g],
            f"{len(copies)} column(s) are exact copies of another: "
            + "; ".join(f"{', '.join(g[1:])} = {g[0]}" for g in groups)
            + ". The copies are dropped.",
            {"groups": groups},
        )
    ]


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


@check("infinite_values", stage="checks")
def check_infinite_values(ctx: EdaContext) -> list[Finding]:
    profiles = ctx.profiles
    cols = [c for c, p in profiles.items() if p.n_infinite]
    if not cols:
        return []
    return [
        Finding(
            "infinite_values",
            "error",
            cols,
            f"{len(cols)} column(s) contain +/-inf (usually a division by zero upstream): most "
            f"estimators refuse them; fix at the source or clip.",
            {c: profiles[c].n_infinite for c in cols},
        )
    ]


@check("sampling", stage="sample")
def check_sampling(ctx: EdaContext) -> list[Finding]:
    """Draw the sample the expensive checks read (`ctx.sample`); a note when it is one."""
    X, n, kinds, settings = ctx.X, ctx.n, ctx.kinds, ctx.settings
    idx = _stratified_sample(ctx.target.strata, n, settings.sample_rows, ctx.rng)
    sampled = len(idx) < n
    Xs = X.iloc[idx].reset_index(drop=True) if sampled else X
    ys = ctx.target.take(idx) if sampled else ctx.target
    usable = [c for c in X.columns if kinds[c] != "text" and c not in ctx.constant]
    enc = {c: _SampleColumn.build(Xs[c], kinds[c]) for c in usable}
    features = {c: e for c, e in enc.items() if c not in ctx.id_like}
    ctx.sample = Sample(idx, sampled, Xs, ys, usable, enc, features)
    if not sampled:
        return []
    return [
        Finding(
            "sampling",
            "info",
            [],
            f"Relevance, leakage, redundancy and baselines used a stratified "
            f"sample of {len(idx):,} of {n:,} rows (eda.sample_rows).",
            {"n_rows": n, "n_rows_used": int(len(idx))},
        )
    ]


@check("mixed_types", stage="sample")
def check_mixed_types(ctx: EdaContext) -> list[Finding]:
    """Object columns mixing Python types, or numbers stored as text (checked on the sample)."""
    Xs, kinds, profiles = ctx.sample.X, ctx.kinds, ctx.profiles
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
    if not mixed:
        return []
    return [
        Finding(
            "mixed_types",
            "warn",
            list(mixed),
            f"{len(mixed)} column(s) mix value types or hold numbers as text: encoders will "
            f"treat each distinct string as a category; parse them (pd.to_numeric) or clean "
            f"the odd values.",
            mixed,
        )
    ]
