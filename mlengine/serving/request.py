"""A scoring request's rows as a DataFrame, and a bad request as MLflow's 400.

A model saved without an input schema gets what MLflow parsed from the request: a
DataFrame for `dataframe_split`, `dataframe_records`, CSV and Parquet; a dict of columns
(numpy arrays) for `{"inputs": {column: [values]}}` and `{"instances": [{column: value}]}`;
a list of records for `{"inputs": [{column: value}]}`; a bare array for rows without
column names. `as_frame` makes a DataFrame of the first three and refuses the rest.

MLflow's scoring server answers an `MlflowException` raised by `predict` with its own
status and message, and any other exception with a 400 carrying the Python stack trace;
`refused` makes a bad request the former. Needs numpy, pandas and mlflow only: it ships in
the ONNX form (see `mlengine.onnx_pyfunc`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from .coerce import non_scalar_error

PREDICT_METHODS = ("predict", "predict_proba")  # params={"predict_method": ...}, both forms
# What reading a bad request raises (a missing column, a container in a cell, no names).
BAD_INPUT = (KeyError, ValueError, TypeError, AttributeError)
EXPECTED = (
    "rows with named columns (dataframe_split, dataframe_records, CSV, "
    '{"inputs": {column: [values]}} or {"instances": [{column: value}]})'
)


def as_frame(model_input: Any) -> pd.DataFrame:
    """The request's rows as a DataFrame; ValueError (one line) for any other shape."""
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, dict):
        return _from_columns(model_input)
    if (
        isinstance(model_input, list)
        and model_input
        and all(isinstance(row, dict) for row in model_input)
    ):
        return pd.DataFrame([{str(k): _cell(v) for k, v in row.items()} for row in model_input])
    raise ValueError(f"the model takes {EXPECTED}; the request held {_shape(model_input)}")


def refused(error: BaseException) -> MlflowException:
    """A bad request's error as the 400 MLflow answers without a stack trace."""
    keyed = isinstance(error, KeyError) and error.args
    text = str(error.args[0]) if keyed else str(error)  # str(KeyError) quotes its message
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    message = lines[0] if lines else type(error).__name__
    return MlflowException(message, INVALID_PARAMETER_VALUE)


def _from_columns(columns: dict) -> pd.DataFrame:
    data = {str(name): _column(str(name), values) for name, values in columns.items()}
    lengths = {name: len(values) for name, values in data.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"every column must hold as many values as the others; the request's hold {lengths}"
        )
    return pd.DataFrame(data)


def _column(name: str, values: Any) -> np.ndarray:
    """One column's values as a 1-D array: a single value is one row."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()
    elif not isinstance(values, np.ndarray):
        values = _objects(values if isinstance(values, list | tuple) else [values])
    if values.ndim == 0:
        values = values.reshape(1)
    if values.ndim > 1:  # a nested list in a cell
        raise non_scalar_error(name, "list", 0)
    if values.dtype == object and any(isinstance(v, np.ndarray) for v in values):
        values = _objects([_cell(v) for v in values])
    return values


def _cell(value: Any) -> Any:
    """MLflow wraps each parsed value in a numpy array; a 0-d one is the value itself."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def _objects(values: list | tuple) -> np.ndarray:
    """A 1-D object array, even of lists (`np.array` would make them a second axis)."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _shape(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} without column names"
    if isinstance(value, list | tuple):
        return "a list of values without column names" if value else "an empty list"
    return f"a {type(value).__name__}"
