"""The ONNX form as an MLflow model of its own, served from a small environment.

The model folder holds the graph, schema.json and serving.json (task, classes) as its data,
and the loader's source (`mlengine/serving`, copied in as the package `mlengine_serving`,
whose `onnx_model` MLflow imports to load it): nothing is pickled. Its requirements are
what that code imports (onnxruntime, numpy, pandas, pyarrow) and mlflow-skinny, whose
scoring server serves it: `mlflow models serve -m <folder> --env-manager local`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlengine import serving
from mlengine.serving.onnx_model import GRAPH_FILE, SERVING_FILE

SHIPPED_PACKAGE = "mlengine_serving"
LOADER = f"{SHIPPED_PACKAGE}.onnx_model"
DATA_NAME = "onnx"  # the data folder; MLflow copies it to data/onnx inside the model
SERVING_REQUIREMENTS = ("mlflow-skinny", "onnxruntime", "numpy", "pandas", "pyarrow")
_SERVING_DIR = Path(serving.__file__).parent


def requirements() -> list[str]:
    """The ONNX form's pinned requirements: only what its code imports, and the server."""
    return [f"{name}=={metadata.version(name)}" for name in SERVING_REQUIREMENTS]


@contextlib.contextmanager
def model_options(
    onnx_model: Any, schema: Any, task: str, classes: Any, signature: Any, example: Any
) -> Iterator[dict[str, Any]]:
    """`mlflow.pyfunc.save_model` / `log_model` keyword arguments for the ONNX form.

    Its data and the shipped code lie in a temporary folder while the block runs (MLflow
    copies them into the model); MLflow loads the model while it saves (to check the input
    example), so the shipped package is importable in the block, and forgotten after it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        code = workdir / SHIPPED_PACKAGE
        shutil.copytree(_SERVING_DIR, code, ignore=shutil.ignore_patterns("__pycache__"))
        data = workdir / DATA_NAME
        data.mkdir()
        (data / GRAPH_FILE).write_bytes(onnx_model.SerializeToString())
        schema.write(data)
        settings: dict[str, Any] = {"task": task}
        if classes is not None:
            settings["classes"] = [c.item() if isinstance(c, np.generic) else c for c in classes]
        (data / SERVING_FILE).write_text(json.dumps(settings))
        sys.path.insert(0, tmp)
        try:
            yield {
                "loader_module": LOADER,
                "data_path": str(data),
                "code_paths": [str(code)],
                "signature": _without_inputs(signature),
                "input_example": example,
                "pip_requirements": requirements(),
            }
        finally:
            sys.path.remove(tmp)
            for name in [m for m in sys.modules if m.split(".")[0] == SHIPPED_PACKAGE]:
                del sys.modules[name]


def _without_inputs(signature: Any) -> Any:
    """The signature less its input schema. MLflow would rebuild every request's DataFrame
    cell by cell to check `Any` columns (~1 ms a row on 20 columns, more than the model
    costs) and checks nothing the feed does not: the feed reads each input as schema.json
    says and refuses a missing column by name (a 400). Outputs and params stay."""
    from mlflow.models import ModelSignature

    return ModelSignature(inputs=None, outputs=signature.outputs, params=signature.params)


def save_onnx_model(
    onnx_model: Any,
    schema: Any,
    task: str,
    classes: Any,
    signature: Any,
    example: pd.DataFrame,
    path: Path,
) -> None:
    """Write the ONNX MLflow model at `path`, with schema.json at its top for clients."""
    import mlflow

    with model_options(onnx_model, schema, task, classes, signature, example) as options:
        mlflow.pyfunc.save_model(path=str(path), **options)
    schema.write(path)


def log_onnx_model(
    onnx_model: Any,
    schema: Any,
    task: str,
    classes: Any,
    signature: Any,
    example: pd.DataFrame,
    name: str,
) -> str:
    """Log the ONNX MLflow model to the active run; its model URI."""
    import mlflow

    with model_options(onnx_model, schema, task, classes, signature, example) as options:
        return mlflow.pyfunc.log_model(name=name, **options).model_uri


def graph_path(folder: Path) -> Path:
    """The ONNX graph inside a saved ONNX form."""
    return Path(folder) / "data" / DATA_NAME / GRAPH_FILE


def load_served(path: Path) -> Any:
    """The saved form as the scoring server loads it (`mlflow.pyfunc.load_model`)."""
    import mlflow

    return mlflow.pyfunc.load_model(str(path))


def served_outputs(model: Any, X: pd.DataFrame, task: str) -> list[np.ndarray]:
    """What `mlengine.onnx.compare_predictions` takes: labels and probabilities, or values."""
    predictions = np.asarray(model.predict(X))
    if task != "classification":
        return [predictions]
    proba = model.predict(X, params={"predict_method": "predict_proba"})
    return [predictions, np.asarray(proba, dtype=np.float64)]
