"""Export: the fitted pipeline as an MLflow model that `mlflow models serve` serves.

The model is saved with skops (no pickle) and an explicit list of the types it may load,
with pinned pip requirements (inferring them costs ~17 s and picks up test tools).
A pipeline holding mlengine's own estimators (XGBoost with any labels, the PyTorch MLP)
lists mlengine as a requirement: serve it from an environment where mlengine is installed
(`--env-manager local`). Shipping the package as code_paths instead would shadow an
installed mlengine in any process that loads the model.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def export_model(pipeline: Any, X_sample: pd.DataFrame, out_dir: Path, name: str) -> ExportResult:
    """Save the pipeline under out_dir/name and log it to the active MLflow run."""
    import mlflow
    import skops.io
    from mlflow.models import infer_signature

    path = safe_child(out_dir, name)
    example = X_sample.head(5)
    signature = infer_signature(example, pipeline.predict(example))
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    modules = {t.split(".")[0] for t in trusted}
    options: dict[str, Any] = {
        "serialization_format": "skops",
        "skops_trusted_types": trusted,
        "signature": signature,
        "input_example": example,
        "pip_requirements": pip_requirements(modules),
    }
    mlflow.sklearn.save_model(pipeline, path=str(path), **options)
    info = mlflow.sklearn.log_model(pipeline, name=name, **options)
    return ExportResult(path=path, model_uri=info.model_uri)
