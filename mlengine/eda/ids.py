"""Identifiers, repeated entities and high-cardinality categoricals: columns with many
distinct values, told apart by their values (structure.py's measurements), their names, and
for codes and plain columns by whether the rows of one value agree beyond what the other
columns explain."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
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
from mlengine.id_names import name_tokens, says_entity

if TYPE_CHECKING:
    from mlengine.eda.registry import EdaContext
    from mlengine.eda.target import _Target

# Repeated entities (docs/real-tables.md): many groups of few rows each. A column qualifies
# when it has at least max(_MIN_ENTITIES, sqrt(rows)) distinct values, at most
# _ENTITY_MAX_ROWS rows per value on average, most rows sharing their value and no value on
# more than _ENTITY_MAX_SHARE of the rows; a low-cardinality category (a grade, a region)
# fails the square-root line, however informative.
_MIN_ENTITIES = 10
_ENTITY_MAX_ROWS = 50
_ENTITY_MIN_REPEATED = 0.5  # share of rows whose value occurs on other rows too
_ENTITY_MAX_SHARE = 0.1  # the largest group's share of the rows
# A name that says identifier or entity (id_names.says_entity), or a UUID's or hash's
# shape, makes such a column an entity. Codes ("C0012", zero-padded numbers) and plain
# columns stored in one block of rows per value (a panel's role) are entities only when
# the rows show it: the out-of-fold residuals of the tree baseline without the column
# correlate within its groups (intra-class correlation) at least _ENTITY_MIN_ICC. A lower
# score with folds grouped by the column is no evidence: any informative category does
# that. Places (zip, city, county) are categories, whatever their codes look like, and a
# shuffled plain integer (a square footage) is never an entity.
_ENTITY_MIN_ICC = 0.1
_PLACE_WORDS = {"zip", "zipcode", "postcode", "postal", "city", "town", "county", "state"}
_PLACE_WORDS |= {"country", "region", "district", "neighborhood", "neighbourhood", "zone"}


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
    candidates: list[str] = []  # plain columns of entity-like structure, not yet shown
    for c, p in profiles.items():
        k, f = kinds[c], facts[c]
        n_valid = len(X) - p.n_missing
        hint = says_entity(c)
        if p.n_unique <= 1 or k in ("boolean", "datetime") or (k == "text" and not hint):
            continue  # free text is an identifier only by name (R's row names of people)
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
            if not (counter and p.n_unique < n_valid):
                continue  # a counter that repeats may number entities: a panel's person id
        # repeated entities: many groups of few rows each (see the constants above)
        if not _many_small_groups(p.n_unique, n_valid, f.repeated_rows, p.top_share):
            continue
        code_like = not numeric and p.n_unique >= 100 and _code_like(X[c])
        contiguous = _contiguous(X[c])
        ev = {
            "n_entities": p.n_unique,
            "mean_rows_per_entity": _r(n_valid / p.n_unique),
            "repeated_row_share": _r(f.repeated_rows / n_valid),
            "name_hint": hint,
            "id_shape": shape,
            "rows_in_blocks": contiguous,
        }
        entity_ev[c] = ev
        if hint or k == "id" or shape in ("uuid", "hash"):
            entity.append(c)  # an identifier by name or unmistakable shape: an entity
            entity_drop.append(c)
        elif (shape is not None or code_like or contiguous) and not _names_a_place(c):
            candidates.append(c)  # by its shape or role, if the rows agree within groups
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


def _names_a_place(name: str) -> bool:
    return bool(set(name_tokens(name)) & _PLACE_WORDS)


def _many_small_groups(n_groups: int, n_valid: int, repeated_rows: int, top: float) -> bool:
    """The structure of a repeated entity: groups that grow in number with the rows, none
    of them a large share of the rows (a quantity that is mostly 0 is no entity)."""
    if n_valid == 0 or n_groups < max(_MIN_ENTITIES, math.sqrt(n_valid)):
        return False
    return (
        n_valid / n_groups <= _ENTITY_MAX_ROWS
        and repeated_rows / n_valid >= _ENTITY_MIN_REPEATED
        and n_groups <= 0.5 * n_valid
        and top <= _ENTITY_MAX_SHARE
    )


def _contiguous(values: pd.Series) -> bool:
    """Rows come in one block per value (a panel stored entity by entity)."""
    codes = pd.factorize(values, use_na_sentinel=True)[0]
    codes = codes[codes >= 0]
    if len(codes) < 2:
        return False
    runs = 1 + int(np.count_nonzero(codes[1:] != codes[:-1]))
    return runs <= 1.1 * (int(codes.max()) + 1)


@check("repeated_entity", stage="baselines")
def check_repeated_entity(ctx: EdaContext) -> list[Finding]:
    """Repeated-entity warnings, with what a row-wise split costs: the share of holdout
    rows whose entity is also in training, the tree baseline's CV score with row-wise and
    with grouped folds, and how much its out-of-fold residuals agree within an entity.
    A column without an identifier's name is reported only when the residuals agree;
    those confirmed join `features.select=eda`'s drops."""
    X, settings, seed = ctx.X, ctx.settings, ctx.seed
    enc, cols, tgt = ctx.sample.columns, ctx.model_columns, ctx.sample.target
    columns, evidence, confirm = ctx.entities, ctx.entity_evidence, ctx.entity_candidates
    fits = (
        _EntityFits.build(enc, cols, tgt, settings, seed)
        if settings.run_baselines and columns + confirm
        else None
    )
    out = []
    for c in columns + confirm:
        ev = dict(evidence[c])
        ev["holdout_overlap"] = _r(split_overlap(_group_codes(X[c]), 0.2, seed))
        if fits is not None and c in enc:
            ev.update(fits.evidence(c, enc[c]))
        gap = ev["cv_row_wise"] - ev["cv_grouped"] if "cv_grouped" in ev else None
        icc = ev.get("residual_icc")
        if c in confirm and (icc is None or icc < _ENTITY_MIN_ICC):
            continue
        fix = f"dataset.split_by={_hydra_value(c)}"
        cost = (
            f"; the tree baseline scores {ev['cv_row_wise']:.3f} {ev['cv_metric']} with "
            f"row-wise folds but {ev['cv_grouped']:.3f} with folds grouped by `{c}`"
            if gap is not None
            else ""
        )
        if icc is not None:
            cost += f"; its residuals correlate within an entity (ICC {icc:.2f})"
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


def _group_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Group codes; a row without a value is a group of its own (never NaN: grouped
    splitters refuse it)."""
    codes = pd.factorize(np.asarray(values), use_na_sentinel=True)[0].astype(np.int64)
    missing = codes < 0
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return codes


@dataclass(frozen=True)
class _EntityFits:
    """The tree baseline on the sample's model columns, for the entity evidence: its
    row-wise CV score once, then per column a CV grouped by it and the out-of-fold
    residuals of the model without it (an entity's own effect left unexplained)."""

    idx: np.ndarray  # the sample rows fitted
    Z: np.ndarray
    is_cat: np.ndarray
    cols: list[str]
    target: _Target  # on idx
    seed: int
    metric: str
    row_score: float  # the row-wise CV score with every column

    @classmethod
    def build(
        cls,
        enc: dict[str, _SampleColumn],
        cols: list[str],
        tgt: _Target,
        settings: EdaSettings,
        seed: int,
    ) -> _EntityFits | None:
        if not cols or not tgt.ok_for_models():
            return None
        rng = np.random.default_rng(seed)
        n = len(tgt.codes) if tgt.codes is not None else len(tgt.values)  # type: ignore[arg-type]
        idx = _stratified_sample(tgt.strata, n, settings.baseline_rows, rng)
        Z, is_cat = _design_matrix(enc, cols, idx)
        target = tgt.take(idx)
        _, metric, score = _out_of_fold(Z, is_cat, target, seed)
        return cls(idx, Z, is_cat, cols, target, seed, metric, score)

    def evidence(self, name: str, column: _SampleColumn) -> dict[str, Any]:
        """The CV scores row-wise and grouped by `column`, and the ICC of the residuals of
        the model without it."""
        from sklearn.model_selection import GroupKFold, cross_val_score
        from threadpoolctl import threadpool_limits

        raw = column.values if column.numeric else column.codes
        groups = _group_codes(np.where(raw < 0, np.nan, raw) if not column.numeric else raw)
        groups = groups[self.idx]
        keep = np.array([c != name for c in self.cols])
        out: dict[str, Any] = {}
        if keep.any():
            residual = _out_of_fold(self.Z[:, keep], self.is_cat[keep], self.target, self.seed)[0]
            out["residual_icc"] = _r(_icc(residual, groups), 4)
        if len(np.unique(groups)) < 3 or not np.isfinite(self.row_score):
            return out
        model, metric, y = _tree_model(self.target, self.is_cat, self.seed)
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            grouped = cross_val_score(
                model, self.Z, y, cv=GroupKFold(3), groups=groups, scoring=metric
            )
        if np.isfinite(grouped).all():
            out["cv_metric"] = metric
            out["cv_row_wise"] = _r(self.row_score, 4)
            out["cv_grouped"] = _r(float(grouped.mean()), 4)
        return out


def _out_of_fold(
    Z: np.ndarray, is_cat: np.ndarray, target: _Target, seed: int
) -> tuple[np.ndarray, str, float]:
    """(residuals, metric, CV score) of the tree baseline, out of 3 folds: one column for
    a regressor, one per class but the first for a classifier (indicator - probability)."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    model, metric, y = _tree_model(target, is_cat, seed)
    classify = target.task == "classification"
    folds: Any = (StratifiedKFold if classify else KFold)(3, shuffle=True, random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        if classify:
            proba = cross_val_predict(model, Z, y, cv=folds, method="predict_proba")
            residual = np.eye(proba.shape[1])[y] - proba
            return residual[:, 1:], metric, _score(metric, y, proba)
        pred = cross_val_predict(model, Z, y, cv=folds)
        return (y - pred)[:, None], metric, _score(metric, y, pred)


def _score(metric: str, y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score

    if metric == "roc_auc":
        return float(roc_auc_score(y, pred[:, 1]))
    if metric == "balanced_accuracy":
        return float(balanced_accuracy_score(y, pred.argmax(axis=1)))
    return float(r2_score(y, pred))


def _icc(residuals: np.ndarray, groups: np.ndarray) -> float | None:
    """The intra-class correlation of the residuals (averaged over their columns)."""
    values = [_icc_1d(r, groups) for r in residuals.T]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _icc_1d(residual: np.ndarray, groups: np.ndarray) -> float | None:
    """One-way ANOVA intra-class correlation within groups of 2+ rows: 0 when an
    entity's rows are no more alike than any two rows, up to 1."""
    counts = np.bincount(groups)
    keep = counts[groups] >= 2
    r, g = residual[keep], groups[keep]
    if len(r) < 10:
        return None
    g = np.unique(g, return_inverse=True)[1]
    n_i = np.bincount(g).astype(np.float64)
    k, n = len(n_i), len(r)
    if k < 3 or n <= k:
        return None
    means = np.bincount(g, weights=r) / n_i
    grand = r.mean()
    msb = float((n_i * (means - grand) ** 2).sum() / (k - 1))
    msw = float(((r - means[g]) ** 2).sum() / (n - k))
    n0 = (n - float((n_i**2).sum()) / n) / (k - 1)
    denominator = msb + (n0 - 1) * msw
    return max(0.0, (msb - msw) / denominator) if denominator > 0 else None
