"""Identifiers, repeated entities and high-cardinality categoricals: columns with many
distinct values, told apart by their values (structure.py's measurements), their names, and
for plain integers by what grouping by them does to a model's CV score."""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlengine.eda._util import _r
from mlengine.eda.baselines import _design_matrix, _tree_model
from mlengine.eda.columns import _numeric_like, _to_float
from mlengine.eda.registry import check
from mlengine.eda.report import EdaSettings, Finding, _hydra_value, drop_override
from mlengine.eda.sample import _SampleColumn, _stratified_sample
from mlengine.eda.structure import id_shape, sequential_counter, split_overlap

if TYPE_CHECKING:
    from mlengine.eda.registry import EdaContext
    from mlengine.eda.target import _Target

_ENTITY_MAX_ROWS = 10  # a plain integer repeated on more rows each reads as a quantity
_ENTITY_MIN_GAP = 0.03  # row-wise minus grouped CV score that makes such an integer an entity
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


@check("id_like", stage="checks")
def check_id_like(ctx: EdaContext) -> list[Finding]:
    """Unique identifiers (dropped); and, for `repeated_entity`, the columns that look like
    repeated-entity ids and the plain integers that may be ones."""
    X, profiles, facts, kinds = ctx.X, ctx.profiles, ctx.facts, ctx.kinds
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
    ctx.id_like, ctx.entities, ctx.entity_drop = id_like, entity, entity_drop
    ctx.entity_candidates, ctx.entity_evidence = candidates, entity_ev
    if not id_like:
        return []
    return [
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
    ]


@check("high_cardinality", stage="checks")
def check_high_cardinality(ctx: EdaContext) -> list[Finding]:
    """Categoricals with many levels that are not identifiers (id_like's, run before it)."""
    profiles, kinds, settings = ctx.profiles, ctx.kinds, ctx.settings
    ids = ctx.id_like + ctx.entities
    cols = [
        c
        for c, p in profiles.items()
        if kinds[c] in ("categorical", "id")
        and c not in ids
        and p.n_unique >= settings.high_cardinality
    ]
    if not cols:
        return []
    return [
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
    ]


@check("repeated_entity", stage="baselines")
def check_repeated_entity(ctx: EdaContext) -> list[Finding]:
    """Repeated-entity warnings, with what a row-wise split costs: the share of holdout
    rows whose entity is also in training, and the tree baseline's CV score with row-wise
    and with grouped folds. Plain-integer candidates are reported only when grouping lowers
    the score; those confirmed join `features.select=eda`'s drops."""
    X, settings, seed = ctx.X, ctx.settings, ctx.seed
    enc, cols, tgt = ctx.sample.columns, ctx.model_columns, ctx.sample.target
    columns, evidence, confirm = ctx.entities, ctx.entity_evidence, ctx.entity_candidates
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
    confirmed = {c for f in out for c in f.columns}
    ctx.entity_drop += [c for c in confirm if c in confirmed]
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
