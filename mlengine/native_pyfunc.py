"""The native form's pyfunc: the skops pipeline behind a wrapper that refuses bad requests.

The native form stays an `mlflow.sklearn` model (its `sklearn` flavour, `model.skops`, is
what `mlflow.sklearn.load_model` reads); only its `python_function` flavour, the one
`mlflow.pyfunc.load_model` and `mlflow models serve` use, names this module as its loader
instead of `mlflow.sklearn`. `NativeModel` then answers as the ONNX form does
(`mlengine.serving.onnx_model`):

- a bad request (a missing column, a dict or list in a cell, rows without column names, a
  cell the pipeline cannot read) is an `MlflowException`, which the scoring server answers
  400 with a one-line message; MLflow's own wrapper lets any pipeline error through, which
  the server answers with the Python stack trace;
- the model is saved without an input schema (see `mlengine.export.serving_signature`:
  MLflow's CSV parser cannot read one of `Any` columns), so it checks the columns itself:
  those the pipeline was fitted on are required, in any order; the table's unused ones
  (IDs, constants) and any others are taken and ignored. The lists are in the MLmodel
  metadata under `SERVED_COLUMNS`, else read from the pipeline's `feature_names_in_`;
- 0 rows get 0 predictions (the pipeline refuses an empty batch);
- `params={"predict_method": "predict_proba"}` gives a classifier's probabilities, one
  column per class.

The serving environment has mlengine installed already (its cleaners are in the pipeline),
so the loader adds no requirement.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import numpy as np
import pandas as pd

from mlengine.serving.request import BAD_INPUT, PREDICT_METHODS, as_frame, refused

log = logging.getLogger(__name__)

SERVED_COLUMNS = "mlengine_columns"  # MLmodel metadata: {"required": [...], "optional": [...]}


def save_model(path: str, mlflow_model: Any = None, **kwargs: Any) -> None:
    """`mlflow.sklearn.save_model`, with this module as the pyfunc loader.

    Also the `flavor` `mlflow.models.Model.log` calls (see `log_model`).
    """
    import mlflow.sklearn
    from mlflow.models import Model

    mlflow_model = Model() if mlflow_model is None else mlflow_model
    mlflow.sklearn.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
    mlflow_model.flavors["python_function"]["loader_module"] = __name__
    mlflow_model.save(os.path.join(path, "MLmodel"))


def log_model(sk_model: Any, name: str, **kwargs: Any) -> Any:
    """`mlflow.sklearn.log_model`, with this module as the pyfunc loader."""
    from mlflow.models import Model

    return Model.log(
        artifact_path=None,
        name=name,
        flavor=sys.modules[__name__],
        flavor_name="mlflow.sklearn",
        sk_model=sk_model,
        **kwargs,
    )


def _load_pyfunc(path: str, model_config: Any = None) -> NativeModel:
    """Called by `mlflow.pyfunc.load_model` with the model folder or its data file
    (`model.skops`): the pipeline as `mlflow.sklearn.load_model` reads that folder."""
    import mlflow.sklearn
    from mlflow.models import Model

    folder = os.path.dirname(path) if os.path.isfile(path) else path
    columns = (Model.load(folder).metadata or {}).get(SERVED_COLUMNS) or {}
    return NativeModel(
        mlflow.sklearn.load_model(folder),
        required=columns.get("required"),
        optional=columns.get("optional", ()),
    )


class NativeModel:
    """The fitted pipeline as the scoring server calls it.

    `required`: the columns a request must hold (default: the pipeline's
    `feature_names_in_`; none checked where it has none); `optional`: the table's columns
    the model ignores, named in the message that refuses a request.
    """

    def __init__(
        self, pipeline: Any, required: Any = None, optional: list[str] | tuple = ()
    ) -> None:
        self.pipeline = pipeline
        classes = getattr(pipeline, "classes_", None)
        self.classes = None if classes is None else [str(c) for c in classes]
        if required is None:
            required = getattr(pipeline, "feature_names_in_", None)
        self.required = None if required is None else [str(c) for c in required]
        self.optional = [str(c) for c in optional]

    def get_raw_model(self) -> Any:
        return self.pipeline

    def predict(self, data: Any, params: dict | None = None) -> Any:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        method = (params or {}).get("predict_method", "predict")
        served = PREDICT_METHODS if self.classes is not None else PREDICT_METHODS[:1]
        if method not in served:
            raise MlflowException(
                f"predict_method '{method}' is not served; use {' or '.join(served)}",
                INVALID_PARAMETER_VALUE,
            )
        try:
            X = self._columns(as_frame(data))
            if len(X) == 0:  # the pipeline refuses an empty batch
                return self._empty(method)
            if method == "predict_proba":
                return pd.DataFrame(self.pipeline.predict_proba(X), columns=self.classes)
            return self.pipeline.predict(X)
        except BAD_INPUT as error:
            log.info("refused a request: %s", error, exc_info=True)  # the trace stays here
            raise refused(error) from None

    def _columns(self, X: pd.DataFrame) -> pd.DataFrame:
        """The request's required columns in the order the pipeline was fitted on; a
        KeyError naming those it lacks and what the model takes."""
        if self.required is None:
            return X
        positions = {str(column): i for i, column in enumerate(X.columns)}  # as the ONNX feed
        missing = [column for column in self.required if column not in positions]
        if missing:
            listed = ", ".join(repr(column) for column in missing)
            lacks = f"column {listed} is" if len(missing) == 1 else f"columns {listed} are"
            takes = f"the model takes {self.required}"
            if self.optional:
                takes += f" (and ignores {self.optional})"
            raise KeyError(f"{lacks} missing; {takes}")
        return X.iloc[:, [positions[column] for column in self.required]]

    def _empty(self, method: str) -> Any:
        if method == "predict_proba":
            return pd.DataFrame(np.empty((0, len(self.classes or ()))), columns=self.classes)
        return np.empty(0, dtype=object if self.classes is not None else np.float64)
