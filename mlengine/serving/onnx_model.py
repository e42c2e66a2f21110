"""The ONNX form's MLflow loader: ONNX Runtime fed per the table schema.

Raw rows in (as `pd.read_csv` reads them: "1,234", "n/a", unseen categories), the user's
own labels (or regression values) out; `params={"predict_method": "predict_proba"}` gives
a classifier's probabilities, one column per class, as MLflow's sklearn flavour does.
A bad request (a missing column, a dict or list in a cell, rows without column names) is
an `MlflowException`, which the scoring server answers 400 without a stack trace.

MLflow calls `_load_pyfunc` with the model's data folder (the graph, schema.json, and
serving.json: the task and the classes). A loader module, not a `PythonModel`: MLflow's
PythonModel wrapper inspects `predict`'s signature and type hints on every call, ~45 us of
a ~0.26 ms single-row request.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from .feed import OnnxFeed
from .request import BAD_INPUT, PREDICT_METHODS, as_frame, refused
from .schema import SCHEMA_FILE

GRAPH_FILE = "model.onnx"
SERVING_FILE = "serving.json"  # {"task": ..., "classes": [...]}


def _load_pyfunc(data_path: str, model_config: Any = None) -> OnnxModel:
    """Called by `mlflow.pyfunc.load_model` with the model's data folder."""
    folder = Path(data_path)
    settings = json.loads((folder / SERVING_FILE).read_text())
    task, classes = settings["task"], settings.get("classes")
    return OnnxModel(folder / GRAPH_FILE, folder / SCHEMA_FILE, task, classes)


class OnnxModel:
    """The graph in one ONNX Runtime session and its feed, both built once."""

    def __init__(self, graph: Path, schema: Path, task: str, classes: Any = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One request at a time per server worker: on a few rows, threads cost more than
        # they save, and workers scale across cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: shape-merge warnings are not actionable
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.feed = OnnxFeed.of(self.session, schema)
        self.task = task
        self.classes = [str(c) for c in classes or ()]

    def predict(self, model_input: Any, params: dict | None = None) -> Any:
        method = (params or {}).get("predict_method", "predict")
        if method not in PREDICT_METHODS or (method != "predict" and self.task != "classification"):
            raise MlflowException(
                f"predict_method '{method}' is not served; use "
                + (" or ".join(PREDICT_METHODS) if self.task == "classification" else "predict"),
                INVALID_PARAMETER_VALUE,
            )
        try:
            feed = self.feed(as_frame(model_input))
        except BAD_INPUT as error:
            # a missing column, a dict or list in a cell, rows without column names
            raise refused(error) from None
        outputs = self.session.run(None, feed)
        if method == "predict_proba":
            return pd.DataFrame(outputs[1], columns=self.classes)
        return outputs[0].ravel()

    # MLflow reads predict's signature on every call (does it take params?); a stated
    # signature is returned as is instead of being rebuilt from the code (~10 us).
    predict.__signature__ = inspect.signature(predict)
