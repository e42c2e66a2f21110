"""The target: encoded once (class codes or floats), summarised, and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlengine.eda._util import _r
from mlengine.eda.registry import check
from mlengine.eda.report import Finding
from mlengine.eda.sample import _bin_numeric

if TYPE_CHECKING:
    from mlengine.eda.registry import EdaContext


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


@check("target_distribution", stage="checks")
def check_target_distribution(ctx: EdaContext) -> list[Finding]:
    """Classes too few, too rare or too many; a numeric target's skew, outliers, levels."""
    tgt, settings = ctx.target, ctx.settings
    out = []
    s = tgt.summary
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


@check("missing_target", stage="checks")
def check_missing_target(ctx: EdaContext) -> list[Finding]:
    """Rows dropped for want of a target (by the loader, or by run_eda itself)."""
    n_missing_target, n = ctx.n_missing_target, ctx.n
    if not n_missing_target:
        return []
    share = n_missing_target / (n + n_missing_target)
    return [
        Finding(
            "missing_target",
            "warn" if share >= 0.01 else "info",
            [],
            f"{n_missing_target:,} rows ({share:.1%}) had no target and were "
            f"dropped: check whether they are unlabelled data or a broken join.",
            {"n_missing_target": n_missing_target, "share": _r(share)},
        )
    ]
