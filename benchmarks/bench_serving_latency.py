"""Serving size and latency: the fitted sklearn Pipeline vs its ONNX form in ONNX Runtime.

For each model family the runner offers, fit the pipeline the runner builds
(`features.build_preprocessor` + estimator) on a mixed-type table, convert it with
`mlengine.onnx.convert_pipeline` (parity-checked on 1,000 held-out rows), then
measure:

- size: `skops.io.dumps(pipeline)` bytes (what `export_model` saves) vs ONNX bytes;
- 1-row latency: `pipeline.predict(one_row_df)` vs `session.run(onnx_feed(model, row))`
  (the DataFrame -> tensor conversion included, as a server pays it), plus the session call
  alone;
- 1,000-row latency: the same on a 1,000-row DataFrame.

Everything runs on one thread (threadpoolctl for sklearn/OpenMP/BLAS, n_jobs=1 for trees
and XGBoost, one ONNX Runtime intra-op thread), as one serving worker per core would.
Medians of `--repeats` 1-row calls and `--repeats // 10` batch calls.

    python benchmarks/bench_serving_latency.py
    python benchmarks/bench_serving_latency.py --families xgboost torch_mlp --rows 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

COLUMN_TYPES = {
    **{f"num_{i}": "numeric" for i in range(12)},
    **{f"cat_{i}": "categorical" for i in range(5)},
    "flag_0": "boolean",
    "flag_1": "boolean",
    "signup": "datetime",
}


def make_table(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """20 raw columns (12 numeric with NaN, 5 categoricals of 5-200 levels with NaN, 2
    booleans, 1 datetime) and a binary string target that depends on several of them."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    score = np.zeros(n)
    for i in range(12):
        x = rng.normal(size=n)
        if i < 4:
            score += x / (i + 1)
        x[rng.random(n) < 0.03] = np.nan
        cols[f"num_{i}"] = x
    for i, levels in enumerate((5, 12, 30, 80, 200)):
        pool = np.array([f"level_{j}" for j in range(levels)], dtype=object)
        codes = rng.integers(0, levels, size=n)
        if i < 2:
            score += 0.6 * (codes % 3 == 0)
        values = pool[codes]
        values[rng.random(n) < 0.02] = None
        cols[f"cat_{i}"] = pd.Series(values, dtype="str")
    cols["flag_0"] = rng.random(n) < 0.3
    cols["flag_1"] = rng.random(n) < 0.6
    score += 0.5 * cols["flag_0"]
    cols["signup"] = pd.Timestamp("2018-01-01") + pd.to_timedelta(
        rng.integers(0, 6 * 365 * 24, size=n), unit="h"
    )
    y = np.where(score + rng.normal(scale=1.0, size=n) > 0.6, "churn", "stay")
    return pd.DataFrame(cols), pd.Series(y, name="target")


def families() -> dict[str, tuple[Callable[[], Any], bool, str]]:
    """name -> (estimator factory, scale, encoding): the families' YAML defaults, with fixed
    values where the YAML leaves a knob to the search."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    def xgboost() -> Any:
        from mlengine.models.xgb import XGBLabelClassifier

        return XGBLabelClassifier(
            n_estimators=300, max_depth=6, learning_rate=0.1, tree_method="hist", n_jobs=1
        )

    def torch_mlp() -> Any:
        from mlengine.models.torch_mlp import TorchMLPClassifier

        return TorchMLPClassifier(
            n_layers=2, hidden_size=128, max_epochs=20, device="cpu", num_threads=1
        )

    return {
        "logistic_regression": (lambda: LogisticRegression(max_iter=2000), True, "onehot"),
        "random_forest": (
            lambda: RandomForestClassifier(
                n_estimators=200, min_samples_leaf=5, n_jobs=1, random_state=0
            ),
            False,
            "ordinal",
        ),
        "hist_gradient_boosting": (
            lambda: HistGradientBoostingClassifier(max_iter=200, random_state=0),
            False,
            "ordinal",
        ),
        "xgboost": (xgboost, False, "ordinal"),
        "torch_mlp": (torch_mlp, True, "onehot"),
    }


def measure(
    name: str, X: pd.DataFrame, y: pd.Series, X_test: pd.DataFrame, repeats: int
) -> dict[str, Any]:
    import skops.io
    from sklearn.pipeline import Pipeline

    from mlengine.config import FeaturesConfig, ModelConfig
    from mlengine.features import build_preprocessor
    from mlengine.onnx import convert_pipeline, measure_latency

    make, scale, encoding = families()[name]
    model_cfg = ModelConfig(
        name=name, classifier={"_target_": "unused"}, scale=scale, encoding=encoding
    )
    pipeline = Pipeline(
        [
            ("preprocess", build_preprocessor(COLUMN_TYPES, model_cfg, FeaturesConfig())),
            ("model", make()),
        ]
    )
    started = time.perf_counter()
    pipeline.fit(X, y)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    result = convert_pipeline(pipeline, X_test, "classification")
    convert_s = time.perf_counter() - started
    row: dict[str, Any] = {
        "family": name,
        "fit_s": fit_s,
        "convert_s": convert_s,
        "skops_bytes": len(skops.io.dumps(pipeline)),
    }
    if result.model is None:
        row["reason"] = result.reason
        return row
    row.update(measure_latency(pipeline, result.model, X_test, repeats=repeats))
    row["max_abs_diff"] = result.max_abs_diff
    row["label_agreement"] = result.label_agreement
    return row


def print_table(rows: list[dict[str, Any]], n_train: int, n_batch: int) -> None:
    print(
        f"\nServing latency ({n_train:,} training rows, 20 raw columns, binary target; "
        f"batch = {n_batch:,} rows; 1 thread; medians)"
    )
    header = (
        f"{'family':<23}{'skops KB':>9}{'onnx KB':>9}{'1-row native ms':>16}"
        f"{'1-row onnx ms':>14}{'(run only)':>11}{'speedup':>8}"
        f"{'batch native ms':>16}{'batch onnx ms':>14}{'speedup':>8}"
        f"{'max|dp|':>9}{'agree':>7}"
    )
    print(header)
    for r in rows:
        if "reason" in r:
            print(f"{r['family']:<23}{r['skops_bytes'] / 1024:>9.0f}  no ONNX: {r['reason']}")
            continue
        print(
            f"{r['family']:<23}{r['skops_bytes'] / 1024:>9.0f}{r['size_bytes'] / 1024:>9.0f}"
            f"{r['native_1row_ms']:>16.2f}{r['onnx_1row_ms']:>14.3f}"
            f"{r['onnx_session_1row_ms']:>11.3f}"
            f"{r['native_1row_ms'] / r['onnx_1row_ms']:>7.0f}x"
            f"{r['native_batch_ms']:>16.1f}{r['onnx_batch_ms']:>14.1f}"
            f"{r['native_batch_ms'] / r['onnx_batch_ms']:>7.1f}x"
            f"{r['max_abs_diff']:>9.1e}{r['label_agreement']:>7.3f}"
        )
    print(
        "\nfit / convert seconds: "
        + ", ".join(f"{r['family']} {r['fit_s']:.1f} / {r['convert_s']:.1f}" for r in rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="training rows")
    parser.add_argument("--batch", type=int, default=1_000, help="rows per batch call")
    parser.add_argument("--repeats", type=int, default=200, help="1-row calls timed")
    parser.add_argument("--families", nargs="+", default=list(families()), choices=list(families()))
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    X_all, y_all = make_table(args.rows + args.batch)
    X, y = X_all.iloc[: args.rows], y_all.iloc[: args.rows]
    X_test = X_all.iloc[args.rows :].reset_index(drop=True)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}",
        file=sys.stderr,
    )
    rows = []
    with threadpool_limits(1):
        for name in args.families:
            print(f"... {name}", file=sys.stderr, flush=True)
            rows.append(measure(name, X, y, X_test, args.repeats))
    print_table(rows, args.rows, args.batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
