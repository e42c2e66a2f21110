"""Export: the fitted pipeline as an MLflow model that `mlflow models serve` serves.

The model is saved with skops (no pickle) and an explicit list of the types it may load,
with pinned pip requirements (inferring them costs ~17 s and picks up test tools).
A pipeline holding mlengine's own estimators (XGBoost with any labels, the PyTorch MLP)
lists mlengine as a requirement: serve it from an environment where mlengine is installed
(`--env-manager local`). Shipping the package as code_paths instead would shadow an
installed mlengine in any process that loads the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from mlengine.config import MlengineError

BASE_REQUIREMENTS = ("scikit-learn", "numpy", "pandas", "scipy", "skops")


@dataclass
class ExportResult:
    path: Path  # the MLflow model folder in the run's output dir
    model_uri: str  # where MLflow's tracking store keeps it (models:/<id>)
    onnx_path: Path | None = None  # model.onnx beside it, when the pipeline converts
    onnx_reason: str | None = None  # why there is no ONNX form
    onnx_metrics: dict[str, float] = field(default_factory=dict)  # size, latency, parity


# The one package of sklearn's tree that imports torch (see `import_skops`).
_TORCH_SHIM = "sklearn.externals.array_api_compat.torch"


def import_skops() -> Any:
    """`skops.io`, imported without importing torch (3-5 s of a job's time budget).

    skops lists sklearn's estimators when it is imported (`sklearn.utils.all_estimators`);
    that walk imports every package under sklearn to find its modules, torch's array-API
    shim among them, which imports torch itself. An empty placeholder for that one package
    while skops imports keeps torch out (no estimator lives there); it is removed right
    after, so a later import of the shim gets the real one. Pinned by a test.
    """
    import sys
    import types

    if "torch" in sys.modules or _TORCH_SHIM in sys.modules or "skops.io" in sys.modules:
        import skops.io

        return skops.io
    placeholder = types.ModuleType(_TORCH_SHIM)
    placeholder.__path__ = []  # a package with nothing in it: the walk moves on
    sys.modules[_TORCH_SHIM] = placeholder
    try:
        import skops.io
    finally:
        if sys.modules.get(_TORCH_SHIM) is placeholder:
            del sys.modules[_TORCH_SHIM]
    return skops.io


def pip_requirements(modules: set[str]) -> list[str]:
    names = [*BASE_REQUIREMENTS]
    names += [pkg for pkg in ("xgboost", "torch", "mlengine") if pkg in modules]
    return [f"{name}=={metadata.version(name)}" for name in names]


def safe_child(folder: Path, name: str) -> Path:
    """`folder/name`, refusing names that would escape the folder or already exist."""
    target = (folder / name).resolve()
    if target.parent != folder.resolve() or target.is_symlink():
        raise MlengineError(f"export.name '{name}' must be a plain folder name inside {folder}")
    if target.exists():
        raise MlengineError(f"Export folder {target} already exists; refusing to overwrite it")
    return target


def serving_signature(
    X_sample: pd.DataFrame, predictions: Any, optional: list[str] | tuple = ()
) -> Any:
    """Every input column required by name, of MLflow's `Any` type; the table's columns
    the model does not use (IDs, constants) are optional, so a row read from the user's
    file is taken without a warning about extra inputs.

    A column's dtype depends on the rows a client reads, not on the model: `pd.read_csv`
    gives int64 for a whole-number column, float64 when one value is missing, text where a
    cell says "1,234" or "n/a". MLflow's enforcement refuses int64 for `double` and float64
    for `long`, so typed columns would refuse the user's own file; the pipeline's cleaners
    (`mlengine.transformers`) read any of these as the loader did. A missing column is
    still refused by name before the model runs.
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    inputs = Schema(
        [ColSpec(AnyType(), str(column)) for column in X_sample.columns]
        + [ColSpec(AnyType(), str(column), required=False) for column in optional]
    )
    return ModelSignature(inputs=inputs, outputs=infer_signature(X_sample, predictions).outputs)


def export_model(
    pipeline: Any,
    X_sample: pd.DataFrame,
    out_dir: Path,
    name: str,
    unused_columns: list[str] | tuple = (),
    schema: Any = None,
) -> ExportResult:
    """Save the pipeline under out_dir/name and log it to the active MLflow run.

    `unused_columns`: the table's columns the model ignores, optional in its signature.
    `schema` (mlengine.schema.TableSchema): saved as schema.json in the model folder and
    in the logged model's metadata, so a server can tell what each input column is.
    """
    skops_io = import_skops()
    import mlflow

    path = safe_child(out_dir, name)
    example = X_sample.head(5)
    signature = serving_signature(example, pipeline.predict(example), unused_columns)
    trusted = skops_io.get_untrusted_types(data=skops_io.dumps(pipeline))
    modules = {t.split(".")[0] for t in trusted}
    options: dict[str, Any] = {
        "serialization_format": "skops",
        "skops_trusted_types": trusted,
        "signature": signature,
        "input_example": example,
        "pip_requirements": pip_requirements(modules),
    }
    if schema is not None:
        options["metadata"] = {"mlengine_schema": schema.to_dict()}
    mlflow.sklearn.save_model(pipeline, path=str(path), **options)
    if schema is not None:
        schema.write(path)
    info = mlflow.sklearn.log_model(pipeline, name=name, **options)
    return ExportResult(path=path, model_uri=info.model_uri)


def export_onnx(
    pipeline: Any,
    X_sample: pd.DataFrame,
    task: str,
    out_dir: Path,
    name: str,
    schema: Any = None,
) -> ExportResult:
    """model.onnx, checked against the pipeline on training rows, with size and latency.

    The ONNX form is an extra: an unconvertible pipeline gives a reason, never an error.
    `schema` (mlengine.schema.TableSchema): the model's inputs must agree with it.
    """
    from mlengine.onnx import convert_pipeline, measure_latency

    sample = X_sample.sample(min(len(X_sample), 500), random_state=0)
    converted = convert_pipeline(pipeline, sample, task, schema)
    if converted.model is None:
        return ExportResult(Path(), "", onnx_reason=converted.reason)
    path = safe_child(out_dir, f"{name}.onnx")
    path.write_bytes(converted.model.SerializeToString())
    latency = measure_latency(pipeline, converted.model, sample.head(200), repeats=30)
    metrics = {
        k if k.startswith(("native_", "onnx_")) else f"onnx_{k}": v for k, v in latency.items()
    }
    metrics["onnx_max_abs_diff"] = converted.max_abs_diff or 0.0
    if converted.label_agreement is not None:
        metrics["onnx_label_agreement"] = converted.label_agreement
    return ExportResult(Path(), "", onnx_path=path, onnx_metrics=metrics)
