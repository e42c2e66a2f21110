"""The ONNX form as an MLflow pyfunc model: ONNX Runtime fed per the table schema.

Raw rows in (as `pd.read_csv` reads them: "1,234", "n/a", unseen categories), the user's
own labels (or regression values) out; `params={"predict_method": "predict_proba"}` gives
a classifier's probabilities, one column per class, as MLflow's sklearn flavour does.
A bad request (a missing column, a dict or list in a cell, rows without column names) is
an `MlflowException`, which the scoring server answers 400 without a stack trace.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from .feed import OnnxFeed
from .request import BAD_INPUT, PREDICT_METHODS, as_frame, refused


class OnnxModel(mlflow.pyfunc.PythonModel):
    """Artifacts `onnx` (the graph) and `schema` (schema.json); model_config `task`, `classes`."""

    def load_context(self, context: Any) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One request at a time per server worker: on a few rows, threads cost more than
        # they save, and workers scale across cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: shape-merge warnings are not actionable
        self.session = ort.InferenceSession(
            context.artifacts["onnx"], options, providers=["CPUExecutionProvider"]
        )
        self.feed = OnnxFeed.of(self.session, context.artifacts["schema"])
        self.task = context.model_config["task"]
        self.classes = [str(c) for c in context.model_config.get("classes") or ()]

    # `model_input` is annotated DataFrame as before: MLflow reads this hint (`Any` makes it
    # warn on every save), and passes a dict or list for `inputs`/`instances` all the same.
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> Any:
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
