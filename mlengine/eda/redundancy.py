"""Redundancy: near-duplicate feature pairs (|Spearman| between numbers, bias-corrected
Cramer's V between categories), and the correlation matrix the heatmap draws."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.eda._util import _r
from mlengine.eda.registry import check
from mlengine.eda.report import EdaSettings, FeatureRelevance, Finding, RedundantPair

if TYPE_CHECKING:
    from mlengine.eda.registry import EdaContext
    from mlengine.eda.sample import _SampleColumn


@check("redundancy", stage="redundancy")
def check_redundancy(ctx: EdaContext) -> list[Finding]:
    """Pairs of the sample's columns (identifiers too) that carry the same information,
    exact copies aside (duplicate_columns reports those)."""
    settings = ctx.settings
    dup_pairs = {frozenset((g[0], other)) for g in ctx.duplicates for other in g[1:]}
    pairs, ctx.correlation = _redundancy(ctx.sample.columns, ctx.relevance, settings, dup_pairs)
    ctx.redundant_pairs = pairs
    if not pairs:
        return []
    return [
        Finding(
            "redundancy",
            "info",
            sorted({c for p in pairs for c in (p.column_a, p.column_b)}),
            f"{len(pairs)} feature pair(s) are near-duplicates (|Spearman| or Cramer's V >= "
            f"{settings.correlation_threshold}): keep one of each pair for linear models and "
            f"for clearer importances.",
            {"pairs": [[p.column_a, p.column_b, round(p.value, 4)] for p in pairs[:50]]},
        )
    ]


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
