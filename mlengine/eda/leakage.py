"""Leakage: features that alone reproduce the target, by a cheap out-of-fold single-feature
model or an exact relation (a threshold, a missing-indicator, a lookup table, a function);
and identifiers whose order tracks the target (rows collected or sorted by outcome)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlengine.eda._util import _r
from mlengine.eda.registry import check
from mlengine.eda.report import EdaSettings, Finding, LeakageSuspect, drop_override
from mlengine.eda.sample import _bin_numeric, _SampleColumn
from mlengine.eda.structure import order_association

if TYPE_CHECKING:
    from mlengine.eda.registry import EdaContext
    from mlengine.eda.target import _Target

_ORDER_RHO = 0.3  # |Spearman| of an identifier's order with the target: sorted by outcome
_ORDER_EPSILON2 = 0.1  # the same for several classes (Kruskal-Wallis epsilon squared)
# Near-leaks: below the leak line, one feature that alone explains most of the target is
# worth a question (is it known when you predict?): a single-feature CV R2 of 0.75 (|r| ~
# 0.87: an arrival delay from the departure delay) or a CV AUC / balanced accuracy of 0.97.
# Strong legitimate features stay under them (a card balance for default: AUC 0.94).
NEAR_LEAK = {"cv_r2": 0.75, "cv_auc": 0.97, "cv_balanced_accuracy": 0.97}


@check("leakage", stage="leakage")
def check_leakage(ctx: EdaContext) -> list[Finding]:
    """Leaks (errors) and identifiers sorted by outcome (warnings); ctx.leakage holds both."""
    sample, settings, id_like = ctx.sample, ctx.settings, ctx.id_like
    Xs, ys = sample.X, sample.target
    findings = []
    leakage, ctx.single_feature = _leakage(sample.features, ys, settings, ctx.rng)
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
    ctx.leakage = leakage + order_leaks
    return findings


@check("near_leak", stage="leakage")
def check_near_leak(ctx: EdaContext) -> list[Finding]:
    """Features under the leak line that alone explain most of the target (NEAR_LEAK)."""
    leaks = {s.column for s in ctx.leakage}
    findings = []
    for column, (metric, score) in ctx.single_feature.items():
        if column in leaks or score < NEAR_LEAK[metric]:
            continue
        name = _METRIC_NAMES.get(metric, metric)
        findings.append(
            Finding(
                "near_leak",
                "warn",
                [column],
                f"`{column}` alone explains most of the target (single-feature {name} "
                f"{score:.3f} >= {NEAR_LEAK[metric]}): is it known when you predict? If it is "
                f"recorded with or after the outcome, drop it.",
                {"metric": metric, "score": _r(score), "threshold": NEAR_LEAK[metric]},
                [drop_override([column])],
            )
        )
    return findings


def _leakage(
    enc: dict[str, _SampleColumn], tgt: _Target, settings: EdaSettings, rng: np.random.Generator
) -> tuple[list[LeakageSuspect], dict[str, tuple[str, float]]]:
    """Features whose out-of-fold binned target model (or an exact rule) hits the target,
    and every feature's single-feature (metric, score)."""
    n = len(tgt.codes) if tgt.codes is not None else len(tgt.values)  # type: ignore[arg-type]
    if n < 20 or (tgt.task == "classification" and tgt.n_classes < 2):
        return [], {}
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
    scores: dict[str, tuple[str, float]] = {}
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
        scores[c] = (metric, float(score))
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
    return out, scores


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
