"""Baseline models: dummy, linear and tree cross-validated on the sample in a few seconds.
The gap between them is what the family advice reads; the linear model's out-of-fold
residual is what the conditional relevance test reads."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.eda._util import _r
from mlengine.eda.registry import step
from mlengine.eda.report import Baseline, EdaSettings
from mlengine.eda.sample import _SampleColumn, _stratified_sample

if TYPE_CHECKING:
    from mlengine.eda.registry import EdaContext
    from mlengine.eda.target import _Target


@dataclass
class _BaselineRun:
    baselines: list[Baseline]
    metric: str | None
    rows: np.ndarray  # indices into the sample the baselines used
    residual: np.ndarray | None  # out-of-fold residual, linear model on relevant features


@step("baselines", stage="baselines")
def step_baselines(ctx: EdaContext) -> None:
    """Fit the baselines on the model columns (ctx.baselines); none when eda.run_baselines
    is off or the target cannot be cross-validated."""
    sample, settings, cols = ctx.sample, ctx.settings, ctx.model_columns
    run = _BaselineRun([], None, np.zeros(0, dtype=np.int64), None)
    if settings.run_baselines and cols and sample.target.ok_for_models():
        context = [r.column for r in ctx.relevance if r.verdict != "irrelevant"]
        run = _baselines(sample.columns, cols, sample.target, settings, ctx.seed, ctx.rng, context)
    ctx.baselines = run


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
            try:
                scores = cross_validate(model, Z, y, cv=cv, scoring=metric, error_score=np.nan)[
                    "test_score"
                ]
            except ValueError:  # every fold failed (values near 1e300 overflow the scaler)
                scores = np.full(1, np.nan)
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
