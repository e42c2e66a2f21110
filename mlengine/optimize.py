"""`mlengine +task=optimize`: a fitted sklearn pipeline mlengine did not train, served lean.

The pipeline (an MLflow model folder of the sklearn flavour, a .skops file, or a pickle
with optimize.allow_pickle=true) becomes the ONNX MLflow model mlengine exports for its own
runs (`mlengine.onnx`, `mlengine.onnx_pyfunc`); loaded back as a server loads it, it must
answer the sample rows like the pipeline (`mlengine.onnx.parity`'s tolerances), else it is
removed. optimize_report.md / .json compare both forms as `mlengine.delivery` measures them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from mlengine.config import ConfigError, MlengineError, OptimizeConfig

ONNX_FOLDER = "model_onnx"
REPORT = "optimize_report"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
TRUSTED_MODULES = ("sklearn", "numpy", "scipy", "mlengine")  # the types skops may build
CONVERT_ROWS = 500  # sample rows convert_pipeline checks; the served form is checked on all


def model_format(path: Path, allow_pickle: bool) -> str:
    """mlflow, skops or pickle; a one-line ConfigError for anything else, and for a pickle
    (or an MLflow model holding one) without the opt-in. Cheap: the config check runs it."""
    pickled = ConfigError(
        "optimize.model",
        f"'{path}' is a pickle: loading it runs the file's code; "
        "set optimize.allow_pickle=true if you trust its source",
    )
    if not path.exists():
        raise ConfigError("optimize.model", f"'{path}' does not exist")
    if path.is_dir():
        if not (path / "MLmodel").is_file():
            raise ConfigError("optimize.model", f"'{path}' is a folder without an MLmodel file")
        if _sklearn_flavour(path).get("serialization_format") != "skops" and not allow_pickle:
            raise pickled
        return "mlflow"
    if path.suffix.lower() == ".skops":
        return "skops"
    if path.suffix.lower() not in PICKLE_SUFFIXES:
        raise ConfigError(
            "optimize.model",
            f"'{path.name}' is not a format optimize reads: an MLflow model folder, a .skops "
            "file, or .pkl/.pickle/.joblib with optimize.allow_pickle=true",
        )
    if not allow_pickle:
        raise pickled
    return "pickle"


def _sklearn_flavour(folder: Path) -> dict[str, Any]:
    import yaml

    flavors = (yaml.safe_load((folder / "MLmodel").read_text()) or {}).get("flavors") or {}
    if "sklearn" not in flavors:
        raise ConfigError(
            "optimize.model",
            f"'{folder}' is an MLflow model of flavours {sorted(flavors)}, not sklearn",
        )
    return flavors["sklearn"] or {}


def load_pipeline(path: Path, kind: str) -> Any:
    """The fitted pipeline; skops only builds TRUSTED_MODULES' types (a folder's: those its
    MLmodel records, which mlflow hands to skops)."""
    types: list[str] = []
    if kind == "skops":
        from mlengine.export import import_skops

        skops_io = import_skops()
        types = skops_io.get_untrusted_types(file=path)
    elif kind == "mlflow":
        types = _sklearn_flavour(path).get("skops_trusted_types") or []
    foreign = [t for t in types if t.split(".")[0] not in TRUSTED_MODULES]
    if foreign:
        raise MlengineError(
            f"{path} would load types outside {', '.join(TRUSTED_MODULES)}, which is not "
            f"safe: {', '.join(foreign)}"
        )
    try:
        if kind == "mlflow":
            import mlflow.sklearn

            pipeline = mlflow.sklearn.load_model(str(path))
        elif kind == "skops":
            pipeline = skops_io.load(path, trusted=types)
        else:
            import joblib

            pipeline = joblib.load(path)
    except Exception as error:  # noqa: BLE001 - any loading failure is the user's file
        problem = (str(error).strip().splitlines() or [""])[0][:300]
        raise MlengineError(f"Could not load {path}: {type(error).__name__}: {problem}") from None
    if not hasattr(pipeline, "predict"):
        raise MlengineError(f"{path} holds a {type(pipeline).__name__}, which has no predict")
    return pipeline


def task_of(pipeline: Any) -> str:
    estimator = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    probabilistic = hasattr(estimator, "predict_proba") or hasattr(estimator, "classes_")
    return "classification" if probabilistic else "regression"


def sample_rows(path: Path, target: str | None, pipeline: Any, task: str) -> tuple[Any, Any]:
    """(the sample's pipeline input columns, the TableSchema the served form checks them by).

    Kinds from the dtypes pd.read_csv gives: numbers, booleans, the rest categories, the
    readings `mlengine.onnx.input_recipes` gives a stock step's columns (float or string).
    """
    from mlengine.serving.schema import ColumnSchema, TableSchema

    frame, columns = pd.read_csv(path), []
    if target is not None:
        if target not in frame.columns:
            raise MlengineError(f"optimize.target '{target}' is not a column of {path}")
        label = "categorical" if task == "classification" else "numeric"
        columns.append(ColumnSchema(target, label, str(frame[target].dtype), "target"))
        frame = frame.drop(columns=target)
    names = [str(c) for c in getattr(pipeline, "feature_names_in_", frame.columns)]
    if missing := [c for c in names if c not in frame.columns]:
        raise MlengineError(f"{path} lacks the pipeline's input columns {missing}")
    if frame.empty:
        raise MlengineError(f"{path} has no rows; parity and latency need some")
    for name in names:
        dtype = frame[name].dtype
        kind = "numeric" if pd.api.types.is_numeric_dtype(dtype) else "categorical"
        kind = "boolean" if pd.api.types.is_bool_dtype(dtype) else kind
        columns.append(ColumnSchema(name, kind, str(dtype), "feature"))
    return frame[names], TableSchema(task, tuple(columns))


def measure_before(pipeline: Any, path: Path, kind: str, batch: pd.DataFrame) -> Any:
    """The input as served today: an MLflow folder through mlflow.pyfunc, a bare file by
    `pipeline.predict` from sklearn's stack, skops and mlflow."""
    from mlengine import delivery
    from mlengine.env_size import installed_bytes
    from mlengine.export import pip_requirements
    from mlengine.onnx.parity import median_ms
    from mlengine.onnx.steps import leaf_steps

    if kind == "mlflow":
        return delivery.measure_form("native", path, "", batch)
    modules = {type(step).__module__.split(".")[0] for step, _ in leaf_steps(pipeline, None)}
    requirements = [*pip_requirements(modules), f"mlflow=={metadata.version('mlflow')}"]
    row = batch.iloc[:1]
    return delivery.ServedForm(
        "native",
        path,
        "",
        size_bytes=path.stat().st_size,
        serving_env_bytes=installed_bytes(requirements),
        latency_1row_ms=median_ms(lambda: pipeline.predict(row), delivery.ROW_REPEATS),
        latency_1000rows_ms=median_ms(lambda: pipeline.predict(batch), delivery.BATCH_REPEATS),
        requirements=requirements,
    )


def optimize(conf: OptimizeConfig, run_dir: Path) -> dict[str, Any]:
    """Convert, check, measure, report (OUT: conf.out, else run_dir); the report dict.

    Raises MlengineError, after writing the report, when there is no ONNX form."""
    from mlengine import delivery
    from mlengine.export import safe_child, serving_signature
    from mlengine.onnx import compare_predictions, convert_pipeline
    from mlengine.onnx_pyfunc import load_served, save_onnx_model, served_outputs

    source, out = Path(conf.model), Path(conf.out or run_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = safe_child(out, ONNX_FOLDER)  # never overwrites one; said before any work
    kind = model_format(source, conf.allow_pickle)
    pipeline = load_pipeline(source, kind)
    task = task_of(pipeline)
    X, schema = sample_rows(Path(conf.data), conf.target, pipeline, task)
    batch = X.sample(delivery.BATCH_ROWS, replace=len(X) < delivery.BATCH_ROWS, random_state=0)
    before = measure_before(pipeline, source, kind, batch)
    # schema=None: the graph reads columns by their dtype, as the pipeline does (with a
    # schema, categories would be cleaned as mlengine's own cleaners do).
    converted = convert_pipeline(
        pipeline, X.sample(min(len(X), CONVERT_ROWS), random_state=0), task
    )
    reason, after = converted.reason, None
    if converted.model is not None:
        example = X.head(5)
        signature = serving_signature(pipeline.predict(example), task=task)
        classes = getattr(pipeline, "classes_", None) if task == "classification" else None
        save_onnx_model(converted.model, schema, task, classes, signature, example, onnx_path)
        outputs = served_outputs(load_served(onnx_path), X, task)
        parity = compare_predictions(pipeline, X, task, outputs)
        if parity.passed:
            figures = {**asdict(parity), "thresholds": parity.thresholds(), "rows_from": "sample"}
            after = delivery.measure_form("onnx", onnx_path, "", batch, figures)
        else:
            shutil.rmtree(onnx_path)  # a form that answers differently is never handed out
            reason = f"parity on {parity.rows} sample rows failed: {parity.reason}"
    report = {
        "model": str(source),
        "format": kind,
        "pipeline": type(pipeline).__name__,
        "task": task,
        "data": str(conf.data),
        "rows": len(X),
        "columns": list(X.columns),
        "converted": after is not None,
        "reason": reason,
        "before": before.to_dict(),
        "after": after.to_dict() if after else None,
        "serve": f"mlflow models serve -m {onnx_path} --env-manager local" if after else None,
    }
    (out / f"{REPORT}.json").write_text(json.dumps(report, indent=2, default=str))
    (out / f"{REPORT}.md").write_text(to_markdown(report))
    table, outcome = summary(report)
    print("\n".join([*table, *outcome, f"Report: {out / REPORT}.md"]), flush=True)
    if after is None:
        raise MlengineError(f"No ONNX form for {source}: {reason}")
    return report


FIGURES = (  # (row, ServedForm field, format, scale)
    ("size on disk", "size_bytes", "{:.2f} MB", 1e-6),
    ("serving env", "serving_env_bytes", "{:.0f} MB", 1e-6),
    ("1 row", "latency_1row_ms", "{:.2f} ms", 1.0),
    ("1,000 rows", "latency_1000rows_ms", "{:.1f} ms", 1.0),
)


def summary(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The before/after table (markdown, shown as is on the console) and the outcome."""
    before, after = report["before"], report["after"]
    row = "| {:<12} | {:>15} | {:>12} | {:>6} |".format
    table = [row("", f"before ({report['format']})", "after (ONNX)", "factor")]
    table.append(f"|{'-' * 14}|{'-' * 16}:|{'-' * 13}:|{'-' * 7}:|")
    for label, key, shown, scale in FIGURES:
        was, now = before[key] * scale, (after or {}).get(key, 0) * scale
        factor = f"{was / now:.1f}x" if now else ""
        table.append(row(label, shown.format(was), shown.format(now) if now else "-", factor))
    if after is None:
        return table, [f"No ONNX form: {report['reason']}"]
    parity, labels = after["parity"], after["parity"]["label_agreement"]
    agree = f"labels agree on {labels:.2%}, " if labels is not None else ""
    needs = ", ".join(f"{k} {v:g}" for k, v in parity["thresholds"].items())
    return table, [
        f"Parity on {parity['rows']} sample rows: {agree}max |diff| {parity['max_abs_diff']:.2g},"
        f" {parity['rows_within_tol']:.2%} of rows within tolerance (needs {needs})",
        f"ONNX model: {after['path']}",
        f"Serve: {report['serve']}",
    ]


def to_markdown(report: dict[str, Any]) -> str:
    table, outcome = summary(report)
    lines = [
        "# Optimise: sklearn pipeline -> ONNX\n",
        f"- Input: `{report['model']}` ({report['format']}, {report['pipeline']}, "
        f"{report['task']}, {len(report['columns'])} input columns)",
        f"- Sample: `{report['data']}` ({report['rows']} rows)\n",
        *table,
        "",
        *(f"- {line}" for line in outcome),
        "\n## Serving requirements\n",
    ]
    for side in ("before", "after"):
        if report[side]:
            lines.append(f"- {side}: " + ", ".join(f"`{r}`" for r in report[side]["requirements"]))
    return "\n".join(lines) + "\n"
