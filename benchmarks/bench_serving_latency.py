"""Serving cost of the two MLflow models a run exports: native (sklearn flavour, skops) vs ONNX.

For every model family in conf/model (all but `auto`), build the pipeline from the family's
YAML as the runner does (`features.build_preprocessor` + `search.make_estimator` with the
family's first warm-start setting; XGBoost 300 rounds, the MLP 20 epochs, in place of the
rounds early stopping would pick), fit it on a mixed-type table (12 numeric columns with NaN,
5 string categoricals of 5-200 levels with missing values, 2 booleans, 1 datetime; binary
string target) loaded through `mlengine.data.load_dataset`, then write both forms as a run
does (`mlengine.delivery`):

- native: `mlflow.sklearn.save_model` with the options `mlengine.export.export_model` passes
  (skops, trusted types, pinned requirements, the serving signature, schema.json);
- ONNX: `mlengine.onnx.convert_pipeline` on 500 training rows, then
  `mlengine.onnx_pyfunc.save_onnx_model` (a loader-module pyfunc over ONNX Runtime, fed per
  the table schema). A family that does not convert is skipped with the reason; parity of
  the loaded ONNX form against the pipeline is checked on 1,000 held-out rows.

Measured per form:

1. in process, through `mlflow.pyfunc.load_model(folder)` (the path a server takes): median
   of `--row-calls` single-row `predict` calls (the same held-out row, as `delivery` times
   it) and of `--batch-repeats` calls on `--batch-rows` held-out rows; the same calls on the
   unwrapped model (the pipeline's `predict`, the ONNX loader's `OnnxModel.predict`; 1 row
   max(100, row_calls / 5) times) tell how much of a call is MLflow's pyfunc layer (its
   schema enforcement); for the ONNX form, its feed and its session are also timed alone;
2. over HTTP, through `mlflow models serve -m FOLDER --env-manager local --workers 1`:
   `--http-requests` sequential single-row `dataframe_split` JSON requests on one kept-alive
   connection (`http.client`, see benchmarks/scoring_http.py), cycling through 100 held-out
   rows, after 20 warm-up requests: p50 and p99 ms, client on the same machine;
3. size: the model folder (`env_size.folder_bytes`) and the environment its requirements.txt
   installs (`env_size.installed_bytes`).

Targets (PASS/FAIL): ONNX >= 50x faster per single row in process, no larger on disk, and a
serving environment >= 5x smaller. Everything runs on one thread: threadpoolctl in this
process, `n_jobs`/`num_threads` = 1 on the fitted estimator (as `run._fit` sets it), one ONNX
Runtime intra-op thread (the ONNX pyfunc's own setting), OMP/BLAS/MKL_NUM_THREADS=1 for the
server.

    python benchmarks/bench_serving_latency.py --json benchmarks/results/serving_mlflow.json
    python benchmarks/bench_serving_latency.py --families random_forest --row-calls 50 \\
        --http-requests 30                                                   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scoring_http import request_latencies_ms, scoring_server

TARGET = "target"
# Round counts standing in for what the runner's early stopping would pick (the YAML's
# n_estimators / max_epochs are ceilings for it).
REFIT_ROUNDS = {"xgboost": 300, "torch_mlp": 20}
CONVERT_ROWS = 500  # the conversion's sample, as delivery takes it
PARITY_ROWS = 1_000
HTTP_DISTINCT_ROWS = 100
HTTP_WARMUP = 20
BARE_CALLS_SHARE = 5  # unwrapped single-row calls: row_calls / 5 (at least 100)
TARGET_SPEEDUP = 50.0
TARGET_ENV_RATIO = 5.0
VERSIONS = (
    "mlflow",
    "scikit-learn",
    "onnxruntime",
    "skl2onnx",
    "skops",
    "xgboost",
    "torch",
    "numpy",
    "pandas",
    "pyarrow",
)


# ---------------------------------------------------------------------------------------------
# The table and the pipelines
# ---------------------------------------------------------------------------------------------
def make_table(n: int, seed: int = 0) -> pd.DataFrame:
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
    cols[TARGET] = np.where(score + rng.normal(scale=1.0, size=n) > 0.6, "churn", "stay")
    return pd.DataFrame(cols)


@dataclass
class Split:
    ds: Any  # mlengine.data.Dataset of the whole table (its schema, types, date formats)
    usable: list[str]  # the feature columns; the others are optional inputs
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame


def load_split(n_train: int, n_test: int) -> Split:
    """The table typed by the loader, first `n_train` rows to fit, the rest held out."""
    from mlengine.config import DatasetConfig
    from mlengine.data import load_dataset

    cfg = DatasetConfig(name="bench", source="dataframe", target=TARGET)
    ds = load_dataset(cfg, frame=make_table(n_train + n_test))
    usable = [c for c in ds.X.columns if c not in ds.drop_columns and ds.column_types[c] != "id"]
    return Split(
        ds,
        usable,
        ds.X.iloc[:n_train],
        ds.y.iloc[:n_train],
        ds.X.iloc[n_train:].reset_index(drop=True),
    )


def family_names() -> list[str]:
    """Every single-family model config under conf/model."""
    from mlengine.cli import config_dir

    return sorted(p.stem for p in (Path(config_dir()) / "model").glob("*.yaml") if p.stem != "auto")


def family_config(name: str) -> Any:
    """The validated run config with model=NAME, as the CLI composes it."""
    from hydra import compose, initialize_config_dir

    from mlengine.cli import config_dir
    from mlengine.config import validate

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return validate(compose("config", overrides=[f"model={name}"]))


def fit_pipeline(conf: Any, split: Split) -> Any:
    """The family's pipeline, fitted as the runner refits its first warm-start trial, then set
    to predict on one thread (`run._fit`)."""
    from sklearn.pipeline import Pipeline

    from mlengine.features import build_preprocessor
    from mlengine.search import fit_kwargs, make_estimator, warm_start_params

    ds, model = split.ds, conf.model
    params = (warm_start_params(model, ds.task) or [{}])[0]
    estimator = make_estimator(model, ds.task, params, seed=0)
    if model.iterative and model.name in REFIT_ROUNDS:
        estimator.set_params(**{model.iterative.param: REFIT_ROUNDS[model.name]})
    preprocess = build_preprocessor(
        {c: ds.column_types[c] for c in split.usable},
        model,
        conf.features,
        ds.date_formats,
        conf.dataset.na_values,
    )
    pipeline = Pipeline([("preprocess", preprocess), ("model", estimator)])
    weights = fit_kwargs(model, estimator, split.y_train)
    pipeline.fit(split.X_train, split.y_train, **{f"model__{k}": v for k, v in weights.items()})
    if model.threads:
        pipeline[-1].set_params(**{model.threads: 1})
    return pipeline


# ---------------------------------------------------------------------------------------------
# The two MLflow models
# ---------------------------------------------------------------------------------------------
def save_native(pipeline: Any, split: Split, signature: Any, path: Path) -> None:
    """The sklearn-flavour model as `export.export_model` saves it (without logging it)."""
    import mlflow.sklearn

    from mlengine.export import import_skops, pip_requirements

    skops_io = import_skops()
    trusted = skops_io.get_untrusted_types(data=skops_io.dumps(pipeline))
    schema = split.ds.schema
    mlflow.sklearn.save_model(
        pipeline,
        path=str(path),
        serialization_format="skops",
        skops_trusted_types=trusted,
        signature=signature,
        input_example=split.X_train.head(5),
        pip_requirements=pip_requirements({t.split(".")[0] for t in trusted}),
        metadata={"mlengine_schema": schema.to_dict()},
    )
    schema.write(path)


def save_onnx(pipeline: Any, split: Split, signature: Any, path: Path) -> str | None:
    """The ONNX pyfunc model as `delivery` writes it; None, or why the pipeline does not
    convert."""
    from mlengine.onnx import convert_pipeline
    from mlengine.onnx_pyfunc import save_onnx_model

    ds = split.ds
    sample = split.X_train.sample(min(len(split.X_train), CONVERT_ROWS), random_state=0)
    converted = convert_pipeline(pipeline, sample, ds.task, ds.schema)
    if converted.model is None:
        return converted.reason
    classes = getattr(pipeline, "classes_", None) if ds.task == "classification" else None
    example = split.X_train.head(5)
    save_onnx_model(converted.model, ds.schema, ds.task, classes, signature, example, path)
    return None


def check_parity(pipeline: Any, onnx_model: Any, split: Split) -> dict[str, Any]:
    """The loaded ONNX form against the pipeline on held-out rows (`onnx.parity` tolerances)."""
    from mlengine.onnx import compare_predictions
    from mlengine.onnx_pyfunc import served_outputs

    rows = split.X_test.head(PARITY_ROWS)
    outputs = served_outputs(onnx_model, rows, split.ds.task)
    parity = compare_predictions(pipeline, rows, split.ds.task, outputs)
    return {
        "passed": parity.passed,
        "rows": parity.rows,
        "max_abs_diff": parity.max_abs_diff,
        "label_agreement": parity.label_agreement,
        "reason": parity.reason,
    }


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
def timings_ms(fn: Callable[[], Any], n: int, warmup: int) -> np.ndarray:
    """Milliseconds of each of `n` calls of fn, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = np.empty(n)
    for i in range(n):
        started = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - started
    return times * 1000.0


def unwrapped_predict(model: Any) -> Callable[[pd.DataFrame], Any]:
    """The loaded model's own predict, without MLflow's pyfunc layer (schema enforcement)."""
    impl = model._model_impl  # MLflow's "stable developer API" to the loaded implementation
    if hasattr(impl, "get_raw_model"):  # the native form: its pipeline
        return impl.get_raw_model().predict
    return impl.predict  # the ONNX form: mlengine_serving.onnx_model.OnnxModel


def in_process(model: Any, split: Split, args: argparse.Namespace) -> dict[str, float]:
    """Medians through `mlflow.pyfunc` and through the unwrapped model: one row, one batch."""
    row = split.X_test.iloc[:1]
    batch = split.X_test.iloc[: args.batch_rows]
    bare = unwrapped_predict(model)
    bare_calls = max(100, args.row_calls // BARE_CALLS_SHARE)
    one_row = timings_ms(lambda: model.predict(row), args.row_calls, warmup=10)
    return {
        **onnx_layers(model._model_impl, row, bare_calls),
        "row_ms": float(np.median(one_row)),
        "row_p99_ms": float(np.percentile(one_row, 99)),
        "batch_ms": float(
            np.median(timings_ms(lambda: model.predict(batch), args.batch_repeats, 1))
        ),
        "row_unwrapped_ms": float(np.median(timings_ms(lambda: bare(row), bare_calls, 10))),
        "batch_unwrapped_ms": float(
            np.median(timings_ms(lambda: bare(batch), args.batch_repeats, 1))
        ),
    }


def onnx_layers(impl: Any, row: pd.DataFrame, calls: int) -> dict[str, float]:
    """The ONNX form's 1-row call split in two, each timed alone: the feed (DataFrame ->
    tensors) and the ONNX Runtime session on those tensors. Empty for the native form."""
    if not hasattr(impl, "feed"):
        return {}
    tensors = impl.feed(row)
    return {
        "row_feed_ms": float(np.median(timings_ms(lambda: impl.feed(row), calls, 10))),
        "row_session_ms": float(
            np.median(timings_ms(lambda: impl.session.run(None, tensors), calls, 10))
        ),
    }


def request_bodies(X: pd.DataFrame) -> list[bytes]:
    """One `dataframe_split` JSON body per row, as a client posts it (dates as ISO text,
    missing values as null)."""
    bodies = []
    for i in range(len(X)):
        split = json.loads(X.iloc[[i]].to_json(orient="split", index=False, date_format="iso"))
        bodies.append(json.dumps({"dataframe_split": split}).encode())
    return bodies


def over_http(path: Path, bodies: list[bytes], n_requests: int) -> dict[str, float]:
    """Start-up seconds and p50 / p99 ms of single-row requests to the scoring server."""
    started = time.perf_counter()
    with scoring_server(path) as url:
        ready_s = time.perf_counter() - started
        times = request_latencies_ms(url, bodies, n_requests, warmup=HTTP_WARMUP)
    return {
        "server_ready_s": ready_s,
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "max_ms": float(times.max()),
    }


def sizes(path: Path) -> dict[str, Any]:
    """The model folder's bytes, and its serving environment's (its requirements' closure)."""
    from mlengine.env_size import folder_bytes, installed_bytes, model_requirements

    requirements = model_requirements(path)
    return {
        "disk_bytes": folder_bytes(path),
        "env_bytes": installed_bytes(requirements),
        "requirements": requirements,
    }


def measure_form(path: Path, split: Split, bodies: list[bytes], args: argparse.Namespace) -> dict:
    """One saved form: its sizes, in-process timings and HTTP latencies."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(path))
    return {
        **sizes(path),
        **in_process(model, split, args),
        **{f"http_{k}": v for k, v in over_http(path, bodies, args.http_requests).items()},
    }


def targets(native: dict, onnx: dict) -> dict[str, bool]:
    """The ONNX form against the native one: 50x per row in process, disk, environment 5x."""
    return {
        "speedup_50x": native["row_ms"] / onnx["row_ms"] >= TARGET_SPEEDUP,
        "disk_no_larger": onnx["disk_bytes"] <= native["disk_bytes"],
        "env_5x_smaller": native["env_bytes"] / onnx["env_bytes"] >= TARGET_ENV_RATIO,
    }


def measure_family(name: str, split: Split, workdir: Path, args: argparse.Namespace) -> dict:
    """Fit, save both forms, measure each; the family's row of the table."""
    import mlflow.pyfunc
    from threadpoolctl import threadpool_limits

    from mlengine.export import serving_signature

    started = time.perf_counter()
    pipeline = fit_pipeline(family_config(name), split)
    result: dict[str, Any] = {"family": name, "fit_s": time.perf_counter() - started}
    example = split.X_train.head(5)
    signature = serving_signature(pipeline.predict(example), split.ds.task)
    native_path, onnx_path = workdir / name, workdir / f"{name}_onnx"
    save_native(pipeline, split, signature, native_path)
    started = time.perf_counter()
    reason = save_onnx(pipeline, split, signature, onnx_path)
    result["convert_s"] = time.perf_counter() - started
    if reason is not None:
        return {**result, "skipped": reason}
    result["parity"] = check_parity(pipeline, mlflow.pyfunc.load_model(str(onnx_path)), split)
    bodies = request_bodies(split.X_test.head(HTTP_DISTINCT_ROWS))
    with threadpool_limits(1):
        result["native"] = measure_form(native_path, split, bodies, args)
        result["onnx"] = measure_form(onnx_path, split, bodies, args)
    result["targets"] = targets(result["native"], result["onnx"])
    return result


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """CPUs, load, Python, platform and the versions that decide the numbers."""
    versions = {}
    for name in VERSIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "versions": versions,
    }


def print_machine(info: dict[str, Any]) -> None:
    load = info["load_average"]
    print(
        f"python {info['python']}, {info['cpus']} CPUs ({info['cpus_usable']} usable), "
        f"{info['machine']}, {info['platform']}"
        + (f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else "")
    )
    print(", ".join(f"{k} {v}" for k, v in info["versions"].items() if v))


COLUMNS = (  # (header line 1, header line 2, width)
    ("family", "", 23),
    ("disk MB", "native", 8),
    ("", "onnx", 7),
    ("env MB", "native", 8),
    ("", "onnx", 7),
    ("1 row ms", "native", 9),
    ("", "onnx", 7),
    ("", "ratio", 7),
    ("batch ms", "native", 9),
    ("", "onnx", 8),
    ("HTTP p50 ms", "native", 12),
    ("", "onnx", 7),
    ("HTTP p99 ms", "native", 12),
    ("", "onnx", 7),
    ("parity", "", 7),
    ("50x", "1 row", 6),
    ("disk", "<=", 6),
    ("env", "5x", 6),
)


def table_line(cells: list[str]) -> str:
    first, *rest = zip(cells, COLUMNS, strict=True)
    return f"{first[0]:<{first[1][2]}}" + "".join(f"{c:>{col[2]}}" for c, col in rest)


def family_cells(r: dict) -> list[str]:
    n, o = r["native"], r["onnx"]

    def mb(value: int) -> str:
        return f"{value / 1e6:.1f}"

    def flag(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    return [
        r["family"],
        mb(n["disk_bytes"]),
        mb(o["disk_bytes"]),
        mb(n["env_bytes"]),
        mb(o["env_bytes"]),
        f"{n['row_ms']:.2f}",
        f"{o['row_ms']:.3f}",
        f"{n['row_ms'] / o['row_ms']:.0f}x",
        f"{n['batch_ms']:.0f}",
        f"{o['batch_ms']:.0f}",
        f"{n['http_p50_ms']:.2f}",
        f"{o['http_p50_ms']:.2f}",
        f"{n['http_p99_ms']:.2f}",
        f"{o['http_p99_ms']:.2f}",
        "ok" if r["parity"]["passed"] else "FAIL",
        flag(r["targets"]["speedup_50x"]),
        flag(r["targets"]["disk_no_larger"]),
        flag(r["targets"]["env_5x_smaller"]),
    ]


def print_pyfunc_layer(rows: list[dict]) -> None:
    """What MLflow's pyfunc layer (schema enforcement, mostly) adds to each call."""
    print(
        "\nMLflow's pyfunc layer: pyfunc median - the unwrapped model's median, ms "
        "(its share of the pyfunc call); unwrapped 1-row ratio native/onnx"
    )
    print(
        f"{'family':<23}{'1 row native':>16}{'1 row onnx':>16}{'batch native':>16}"
        f"{'batch onnx':>16}{'unwrapped ratio':>17}{'onnx feed':>11}{'session':>9}"
    )
    for r in rows:
        cells = []
        for size, kind in (
            ("row", "native"),
            ("row", "onnx"),
            ("batch", "native"),
            ("batch", "onnx"),
        ):
            whole, bare = r[kind][f"{size}_ms"], r[kind][f"{size}_unwrapped_ms"]
            cells.append(f"{whole - bare:.2f} ({100 * (whole - bare) / whole:.0f}%)")
        ratio = r["native"]["row_unwrapped_ms"] / r["onnx"]["row_unwrapped_ms"]
        layers = f"{r['onnx']['row_feed_ms']:>11.3f}{r['onnx']['row_session_ms']:>9.3f}"
        print(
            f"{r['family']:<23}" + "".join(f"{c:>16}" for c in cells) + f"{ratio:>16.0f}x{layers}"
        )


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    print(
        f"\nExported MLflow models, native (sklearn flavour, skops) vs ONNX pyfunc "
        f"({args.rows:,} training rows, 20 raw columns, binary target; 1 thread)\n"
        f"in process via mlflow.pyfunc.load_model: 1 row = median of {args.row_calls:,} calls, "
        f"batch = {args.batch_rows:,} rows, median of {args.batch_repeats}; "
        f"HTTP: {args.http_requests:,} sequential 1-row requests to mlflow models serve"
    )
    print(table_line([c[0] for c in COLUMNS]))
    print(table_line([c[1] for c in COLUMNS]))
    for r in rows:
        if "skipped" in r:
            print(f"{r['family']:<23}  skipped, no ONNX form: {r['skipped']}")
        else:
            print(table_line(family_cells(r)))
    measured = [r for r in rows if "skipped" not in r]
    if not measured:
        return
    print_pyfunc_layer(measured)
    print(
        "\nfit / convert s, server ready s (native, onnx): "
        + ", ".join(
            f"{r['family']} {r['fit_s']:.1f} / {r['convert_s']:.1f}, "
            f"{r['native']['http_server_ready_s']:.1f} {r['onnx']['http_server_ready_s']:.1f}"
            for r in measured
        )
    )


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None, names: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--families", nargs="+", default=names, choices=names)
    parser.add_argument("--rows", type=int, default=10_000, help="training rows")
    parser.add_argument("--row-calls", type=int, default=1_000, help="1-row pyfunc calls timed")
    parser.add_argument("--batch-rows", type=int, default=10_000, help="rows per batch call")
    parser.add_argument("--batch-repeats", type=int, default=3, help="batch calls timed")
    parser.add_argument("--http-requests", type=int, default=500, help="1-row requests timed")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--models-dir",
        type=Path,
        help="keep the MLflow model folders here, one per form (it must not hold them already; "
        "default: a temporary folder, removed after)",
    )
    return parser.parse_args(argv)


def quiet() -> None:
    """MLflow's save-time notices and progress bars are not what this measures."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow  # configures its loggers on import: set the level after

    logging.getLogger(mlflow.__name__).setLevel(logging.WARNING)
    # skl2onnx reads the calibrated SVC's deprecated probA_/probB_ while converting
    warnings.filterwarnings("ignore", message="Attribute `prob[AB]_` was deprecated")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, family_names())
    quiet()
    info = machine_info()
    print_machine(info)
    n_test = max(args.batch_rows, PARITY_ROWS, HTTP_DISTINCT_ROWS)
    split = load_split(args.rows, n_test)
    rows = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.models_dir:
            args.models_dir.mkdir(parents=True, exist_ok=True)
            workdir = args.models_dir
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-serve-")))
        for name in args.families:
            print(f"... {name}", file=sys.stderr, flush=True)
            family_started = time.perf_counter()
            rows.append(measure_family(name, split, workdir, args))
            print(f"    {time.perf_counter() - family_started:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    print_table(rows, args)
    print(f"\ntotal {elapsed:.0f} s")
    if args.json:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        report = {"machine": info, "settings": settings, "elapsed_s": elapsed, "families": rows}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
