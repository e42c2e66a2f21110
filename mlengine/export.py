"""Export: the fitted pipeline as an MLflow model that `mlflow models serve` serves.

The model is saved with skops (no pickle) and an explicit list of the types it may load,
as `mlflow.sklearn` saves it, with pinned pip requirements (inferring them costs ~17 s and
picks up test tools). `mlflow.sklearn.load_model` reads it; `mlflow.pyfunc` and the
scoring server load it through `mlengine.native_pyfunc`, which answers a bad request 400
with a one-line message instead of a stack trace. The pipeline holds mlengine's cleaners
and the loader is mlengine's, so mlengine is a requirement: serve it from an environment
where mlengine is installed (`--env-manager local`). Shipping the package as code_paths
instead would shadow an installed mlengine in any process that loads the model.
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
    signature: Any = field(default=None, repr=False)  # its MLflow signature


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


def serving_signature(predictions: Any, task: str = "") -> Any:
    """Outputs and params, but no input schema (both forms).

    MLflow checks a request against an input schema before the model runs, and that helps
    neither form. A column's dtype depends on the rows a client reads, not on the model:
    `pd.read_csv` gives int64 for a whole-number column, float64 when one value is missing,
    text where a cell says "1,234" or "n/a"; typed columns would refuse the user's own file,
    and `Any` columns make MLflow's CSV parser (`schema.pandas_types()`) fail on every
    `text/csv` request and rebuild every JSON request cell by cell. The models check their
    columns themselves: `mlengine.native_pyfunc.NativeModel` refuses a request missing one
    the pipeline uses by name (its columns are in the MLmodel metadata, `SERVED_COLUMNS`),
    the ONNX form's feed likewise; the table's unused columns (IDs, constants) and any
    others are taken and ignored. The pipeline's cleaners (`mlengine.transformers`) read
    each column as the loader did.

    A classifier takes `params={"predict_method": "predict_proba"}` for probabilities (both
    forms: `mlengine.native_pyfunc` and `mlengine.serving.onnx_model` read it).
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ParamSchema, ParamSpec

    params = (
        ParamSchema([ParamSpec("predict_method", "string", "predict")])
        if task == "classification"
        else None
    )
    # Outputs from the predictions alone: inferring the rows' schema too would only warn
    # about integer columns that the saved model does not check.
    outputs = infer_signature(None, predictions).outputs
    return ModelSignature(inputs=None, outputs=outputs, params=params)


def served_columns(
    pipeline: Any, X_sample: pd.DataFrame, unused_columns: list[str] | tuple = ()
) -> dict[str, list[str]]:
    """The columns a request must hold (`required`: those the pipeline was fitted on) and
    the table's columns it may hold that the model ignores (`optional`)."""
    fitted = getattr(pipeline, "feature_names_in_", None)
    required = [str(c) for c in (X_sample.columns if fitted is None else fitted)]
    optional = [str(c) for c in unused_columns if str(c) not in required]
    return {"required": required, "optional": optional}


def export_model(
    pipeline: Any,
    X_sample: pd.DataFrame,
    out_dir: Path,
    name: str,
    unused_columns: list[str] | tuple = (),
    schema: Any = None,
    task: str = "",
) -> ExportResult:
    """Save the pipeline under out_dir/name and log it to the active MLflow run.

    `unused_columns`: the table's columns the model ignores, which a request may hold.
    `schema` (mlengine.serving.schema.TableSchema): saved as schema.json in the model
    folder and in the logged model's metadata, so a server can tell what each input is.
    """
    skops_io = import_skops()
    from mlengine import native_pyfunc

    path = safe_child(out_dir, name)
    example = X_sample.head(5)
    signature = serving_signature(pipeline.predict(example), task)
    trusted = skops_io.get_untrusted_types(data=skops_io.dumps(pipeline))
    modules = {t.split(".")[0] for t in trusted} | {"mlengine"}  # the pyfunc loader's
    options: dict[str, Any] = {
        "serialization_format": "skops",
        "skops_trusted_types": trusted,
        "signature": signature,
        "input_example": example,
        "pip_requirements": pip_requirements(modules),
    }
    columns = served_columns(pipeline, X_sample, unused_columns)
    options["metadata"] = {native_pyfunc.SERVED_COLUMNS: columns}
    if schema is not None:
        options["metadata"]["mlengine_schema"] = schema.to_dict()
    native_pyfunc.save_model(path=str(path), sk_model=pipeline, **options)
    if schema is not None:
        schema.write(path)
    info = native_pyfunc.log_model(pipeline, name=name, **options)
    return ExportResult(path=path, model_uri=info.model_uri, signature=signature)
