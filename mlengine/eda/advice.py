"""Model-family advice from the problem's shape and the baselines, its two findings, and
the columns `features.select: eda` drops (with why).

Families come from conf/model/*.yaml (mlengine/families.py) and are ranked by their
declared profile, never by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.eda._util import _r
from mlengine.eda.registry import check, step
from mlengine.eda.report import (
    Baseline,
    ColumnProfile,
    FamilyAdvice,
    FeatureRelevance,
    Finding,
    LeakageSuspect,
    ModelAdvice,
)
from mlengine.families import FamilyProfile, builtin_families

if TYPE_CHECKING:
    from mlengine.eda.registry import EdaContext


@step("family_ranking", stage="verdicts")
def step_family_ranking(ctx: EdaContext) -> None:
    """Rank the families from the problem's facts and the baselines: ctx.advice."""
    run = ctx.baselines
    problem = _problem_facts(
        ctx.n, ctx.X.shape[1], ctx.model_columns, ctx.kinds, ctx.profiles, run.baselines, run.metric
    )
    problem["baseline_rows"] = int(len(run.rows))
    ranking = _rank_families(problem, ctx.families or builtin_families(ctx.task))
    ctx.advice = ModelAdvice(run.metric, run.baselines, ranking, problem)


@check("baseline_signal", stage="verdicts")
def check_baseline_signal(ctx: EdaContext) -> list[Finding]:
    """No baseline beats the dummy: little signal to sweep for (family_ranking's facts)."""
    advice = ctx.advice
    lift = advice.problem.get("lift_over_dummy")
    if lift is not None and lift < 0.01:
        return [
            Finding(
                "baseline_signal",
                "warn",
                [],
                f"Neither a linear model nor a tree beats the dummy baseline (lift "
                f"{lift:+.3f} {advice.metric}): little usable signal at this sample "
                f"size; check the target and features before sweeping.",
                {b.name: b.mean for b in advice.baselines},
            )
        ]
    return []


@check("model_advice", stage="verdicts")
def check_model_advice(ctx: EdaContext) -> list[Finding]:
    """The three best-ranked families, and the first reason of the best."""
    advice = ctx.advice
    if not advice.ranking:
        return []
    top = advice.ranking[:3]
    return [
        Finding(
            "model_advice",
            "info",
            [],
            "Recommended families: " + ", ".join(a.label for a in top) + f" ({top[0].reasons[0]}).",
            {
                "ranking": [a.family for a in advice.ranking],
                "baselines": {b.name: b.mean for b in advice.baselines},
            },
        )
    ]


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
    # a baseline whose every fold failed has no score (None)
    b = {x.name: x.mean for x in baselines if x.mean is not None and np.isfinite(x.mean)}
    gap = (b["tree"] - b["linear"]) if {"tree", "linear"} <= set(b) else None
    lift = (max(b["tree"], b["linear"]) - b["dummy"]) if gap is not None and "dummy" in b else None
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
    fitted = {f.name: f.fitted for f in families}
    return [
        FamilyAdvice(f, i, round(score[f], 2), reasons[f] or ["default prior"], fitted[f])
        for i, f in enumerate(ranked, start=1)
    ]


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
