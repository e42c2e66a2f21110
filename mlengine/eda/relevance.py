"""Relevance: each feature's bias-corrected mutual information with the target, against
shuffled copies of real features (the noise floor); then the rescue of features that matter
only given the others."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.eda._util import _r
from mlengine.eda.registry import check, step
from mlengine.eda.report import EdaSettings, FeatureRelevance, Finding, Verdict
from mlengine.eda.sample import _bin_numeric, _SampleColumn

if TYPE_CHECKING:
    from mlengine.eda.baselines import _BaselineRun
    from mlengine.eda.registry import EdaContext
    from mlengine.eda.target import _Target


@step("relevance", stage="relevance")
def step_relevance(ctx: EdaContext) -> None:
    """Score the sample's features (identifiers aside): ctx.relevance, ctx.probe_scores."""
    s = ctx.sample
    ctx.relevance, ctx.probe_scores = _relevance(s.features, s.target, ctx.settings, ctx.rng)


@check("irrelevant_features", stage="verdicts")
def check_irrelevant_features(ctx: EdaContext) -> list[Finding]:
    """The verdicts: univariate, then rescued if they explain the linear baseline's residual."""
    run, settings, relevance, probe_scores = (
        ctx.baselines,
        ctx.settings,
        ctx.relevance,
        ctx.probe_scores,
    )
    if run.residual is not None:
        _conditional_relevance(
            relevance, ctx.sample.columns, set(ctx.model_columns), run, settings, ctx.rng
        )
    irrelevant = ctx.irrelevant = [r.column for r in relevance if r.verdict == "irrelevant"]
    if not irrelevant:
        return []
    return [
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
    ]


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
    probes = _probe_scores(binned, names, score, settings.n_probes, rng)
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
    probes = _probe_scores(binned, names, score, settings.n_probes, rng)
    floor = max(probes) if probes else 0.0
    alpha = settings.relevance_alpha / len(names)
    for r in cands:
        sc, p = score(*binned[r.column])
        if p < alpha and sc > floor:
            r.verdict, r.conditional = "weak", True


def _probe_scores(binned: dict, names: list, score: Any, n_probes: int, rng: Any) -> list:
    """Scores of `n_probes` shuffled copies of random columns: what chance reaches."""
    probes = []
    for _ in range(n_probes):
        xc, kx = binned[names[int(rng.integers(len(names)))]]
        probes.append(score(rng.permutation(xc), kx)[0])
    return probes
