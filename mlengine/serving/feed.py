"""The serving-time feed: DataFrame rows -> the ONNX graph's input tensors.

The messy-cell parsing the pipeline's cleaners do ("1,234", "12%", " n/a ", "yes",
"04/03/2021") cannot be written in ONNX operators, so the feed does it at the boundary with
the very functions the cleaners call (`mlengine.serving.coerce`). How each input reads its raw
column (its recipe: the column, its kind, date formats, extra missing markers) is stored in
the model's metadata under FEED_METADATA_KEY by `mlengine.onnx.convert`.

This module needs numpy and pandas only (and its siblings `coerce` and `schema`, which
need nothing more): a server running the model in ONNX Runtime builds its inputs without
skl2onnx, onnx, scikit-learn, xgboost or torch installed (tested in a process where they
cannot be imported). `OnnxFeed.of` takes an `onnx.ModelProto` or an
`onnxruntime.InferenceSession`, so the `onnx` package is not needed to read the model either.

With the table schema the run saved (`schema.json` in the model folder, see
`mlengine.serving.schema`), every input is checked against what the schema says its column is, and
an input the model's metadata says nothing about is read as the schema says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import coerce
from .schema import SCHEMA_FILE, TableSchema

MISSING_STRING = ""  # how a missing category travels in a string tensor
FEED_METADATA_KEY = "mlengine.feed"  # input -> how the feed reads its column (JSON)

# The tensor each recipe kind travels in; every other kind (number, boolean, float): float.
TENSOR_OF_KIND = {"category": "string", "string": "string", "datetime": "double"}
# ONNX element types (TensorProto.DataType, fixed by the ONNX spec) and ONNX Runtime's
# type names of the three input tensors; any other input type is fed as float.
_ELEM_TENSORS = {1: "float", 8: "string", 11: "double"}
_SESSION_TENSORS = {
    "tensor(float)": "float",
    "tensor(string)": "string",
    "tensor(double)": "double",
}
# The reading of an input the metadata says nothing about, by its tensor.
_DEFAULT_KIND = {"float": "float", "string": "string", "double": "datetime"}
# Table-schema kind -> (its tensor, the kinds the feed may read it as; the first one for
# an input without a recipe). Ids state no reading.
SCHEMA_READINGS = {
    "numeric": ("float", ("number", "float")),
    "boolean": ("float", ("boolean", "float")),
    "categorical": ("string", ("category", "string")),
    "text": ("string", ("string", "category")),
    "datetime": ("double", ("datetime",)),
}


@dataclass(frozen=True)
class FeedInput:
    """One graph input and how it reads its raw column."""

    name: str  # the graph input (skl2onnx sanitises names: "mean radius" -> "mean_radius")
    column: str  # the raw column it reads
    tensor: str  # "float" (float32), "string" or "double" (float64 seconds since 1970)
    kind: str  # number, boolean, category, datetime (mlengine's cleaners), float, string
    formats: tuple[str, ...] = ()  # datetime: the text formats the training dates had
    na_values: tuple[str, ...] = ()  # the dataset's extra missing markers
    from_recipe: bool = True  # False: the model's metadata says nothing about this input


class OnnxFeed:
    """The model's inputs from raw DataFrame rows; built once per model, called per request.

    Columns the graph does not use are ignored; a missing column is a KeyError naming it,
    a cell holding a dict or a list a ValueError naming its column.
    """

    def __init__(self, inputs: Sequence[FeedInput]) -> None:
        self.inputs = tuple(inputs)

    @classmethod
    def of(cls, model: Any, schema: TableSchema | str | Path | None = None) -> OnnxFeed:
        """The feed of an `onnx.ModelProto` or an `onnxruntime.InferenceSession`.

        `schema`: a TableSchema, or the path of a schema.json (or of the folder holding
        it). Raises ValueError when an input disagrees with what the schema says its column
        is (or the schema does not describe it).
        """
        metadata, graph_inputs = _model_inputs(model)
        recipes = json.loads(metadata.get(FEED_METADATA_KEY) or "{}")
        inputs = []
        for name, tensor in graph_inputs:
            recipe = recipes.get(name)
            if recipe is None:
                inputs.append(
                    FeedInput(name, name, tensor, _DEFAULT_KIND[tensor], from_recipe=False)
                )
                continue
            inputs.append(
                FeedInput(
                    name,
                    str(recipe.get("column", name)),
                    tensor,
                    str(recipe.get("kind") or _DEFAULT_KIND[tensor]),
                    tuple(recipe.get("formats") or ()),
                    tuple(recipe.get("na_values") or ()),
                )
            )
        if schema is not None:
            table = schema if isinstance(schema, TableSchema) else read_schema(schema)
            inputs = [_as_the_schema_says(item, table) for item in inputs]
        return cls(inputs)

    @property
    def columns(self) -> list[str]:
        """The raw columns the model reads, in its input order."""
        return [item.column for item in self.inputs]

    def __call__(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        # tolist(): iterating a pandas 3 Index of strings costs ~0.5 us a name, tolist ~0.1
        positions = {str(column): i for i, column in enumerate(X.columns.tolist())}
        feed: dict[str, np.ndarray] = {}
        for item in self.inputs:
            if item.column not in positions:
                raise KeyError(
                    f"column '{item.column}' is missing; the ONNX model takes {self.columns}"
                )
            column = column_values(X, positions[item.column])
            coerce.refuse_non_scalars(column, item.column)
            if item.na_values:
                column = coerce.mask_markers(
                    pd.Series(column, copy=False), list(item.na_values)
                ).array
            if item.tensor == "string":
                values = as_strings(column, item.kind)
            elif item.tensor == "double":
                values = as_seconds(column, list(item.formats))
            else:
                values = as_floats(column, item.kind).astype(np.float32, copy=False)
            feed[item.name] = values.reshape(-1, 1)
        return feed


def onnx_feed(
    onnx_model: Any, X: pd.DataFrame, schema: TableSchema | str | Path | None = None
) -> dict[str, np.ndarray]:
    """DataFrame rows -> the session's inputs, reading each column as the pipeline does.

    One call; a server builds `OnnxFeed.of(model)` once and calls it per request.
    """
    return OnnxFeed.of(onnx_model, schema)(X)


def read_schema(path: str | Path) -> TableSchema:
    """The TableSchema in a schema.json, or in the folder (an exported model) holding one."""
    path = Path(path)
    return TableSchema.read(path / SCHEMA_FILE if path.is_dir() else path)


def _model_inputs(model: Any) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(metadata, [(input name, tensor)]) of a ModelProto or an InferenceSession."""
    if hasattr(model, "get_inputs"):  # onnxruntime.InferenceSession
        metadata = dict(model.get_modelmeta().custom_metadata_map)
        inputs = [(i.name, _SESSION_TENSORS.get(i.type, "float")) for i in model.get_inputs()]
        return metadata, inputs
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    inputs = [
        (i.name, _ELEM_TENSORS.get(i.type.tensor_type.elem_type, "float"))
        for i in model.graph.input
    ]
    return metadata, inputs


def _as_the_schema_says(item: FeedInput, schema: TableSchema) -> FeedInput:
    """The input checked against the schema's column; without a recipe, read as it says."""
    try:
        stated = schema.column(item.column)
    except KeyError:
        raise ValueError(
            f"the ONNX model reads column '{item.column}', which the table schema does not describe"
        ) from None
    if stated.kind not in SCHEMA_READINGS:  # an id: the schema states no reading
        return item
    tensor, kinds = SCHEMA_READINGS[stated.kind]
    if item.tensor != tensor or (item.from_recipe and item.kind not in kinds):
        raise ValueError(
            f"the ONNX model reads column '{item.column}' as {item.kind} (a {item.tensor} "
            f"tensor), the table schema says it is {stated.kind}"
        )
    if item.from_recipe:
        return item
    return replace(item, kind=kinds[0], formats=tuple(stated.date_formats))


# Unicode White_Space, what Arrow's utf8_trim_whitespace (coerce.clean_strings) trims.
_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_FAST_ROWS = 64  # up to this many rows, plain Python beats Arrow's ~0.3 ms per call
_MARKERS = frozenset(coerce.MISSING_MARKERS)


def column_values(X: pd.DataFrame, position: int) -> Any:
    """The column's values (numpy or pandas extension array), without building a Series.

    Any public accessor (`X[name]`, `X.iloc[:, i]`, `X.items()`) builds a Series first:
    ~20-30 us a column with pandas 3, i.e. ~0.5 ms of a 1-row, 20-column request whose whole
    feed otherwise costs ~0.3 ms. `DataFrame._get_column_array(i)`, the accessor pandas
    builds those Series from, costs ~2 us. It is the one private API mlengine.onnx uses:
    kept here only, its results pinned against the public path by tests/test_onnx_feed.py,
    pandas bounded in pyproject.toml; if it is gone or fails, the public path is taken.
    """
    get = getattr(X, "_get_column_array", None)
    if get is not None:
        try:
            return get(position)
        except Exception:  # noqa: BLE001 - the accessor changed: take the public path
            pass
    values = X.iloc[:, position].array
    return values.to_numpy() if isinstance(values, pd.arrays.NumpyExtensionArray) else values


def as_strings(column: Any, kind: str) -> np.ndarray:
    """String tensor values; missing -> "". Category columns read as CategoryCleaner does."""
    if kind == "category":
        fast = _category_names(list(column)) if len(column) <= _FAST_ROWS else None
        if fast is not None:
            return fast
        values = coerce.to_categories(pd.Series(column, copy=False))
    else:
        values = np.asarray(column, dtype=object)
    missing = pd.isna(values)
    out = values.astype(str)
    out[missing] = MISSING_STRING
    return out


def _category_names(values: list[Any]) -> np.ndarray | None:
    """`coerce.to_categories` for a few plain strings (its Arrow path costs ~0.3 ms a call).

    None when any value is not a string or missing (numbers, booleans): those take the
    exact path. Equivalence is tested against `coerce.to_categories`.
    """
    markers = _MARKERS
    out = []
    for value in values:
        if isinstance(value, str):
            text = value.strip(_WHITESPACE)
            out.append(MISSING_STRING if text.lower() in markers else text)
        elif _is_missing(value):
            out.append(MISSING_STRING)
        else:
            return None
    return np.asarray(out, dtype=str)


def _is_missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and value != value)
    )


def as_floats(column: Any, kind: str) -> np.ndarray:
    """Float tensor values; numbers/booleans read as NumericCleaner/BooleanCleaner do.

    Plain numeric columns skip the cleaners' parsing (nothing to parse); their infinities
    become NaN inside the graph.
    """
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiub":
        # float64 -> float32 in one step (the same rounding); integers go through float64
        # as the pipeline reads them
        return column.astype(np.float32 if column.dtype == np.float64 else np.float64)
    series = pd.Series(column, copy=False)
    if kind == "boolean":
        return coerce.to_booleans(series)
    if kind == "number":
        return coerce.to_float(series)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def as_seconds(column: Any, formats: list[str]) -> np.ndarray:
    """Dates as the pipeline's DatetimeFeatures reads them, as seconds since 1970."""
    if isinstance(getattr(column, "dtype", None), np.dtype) and column.dtype.kind == "M":
        dates = np.asarray(column)  # naive datetimes, as to_dates returns them (~30 us faster)
    else:
        dates = coerce.to_dates(pd.Series(column, copy=False), formats).to_numpy()
    return (dates - np.datetime64(0, "s")) / np.timedelta64(1, "s")
