"""The serving-time feed: DataFrame rows -> the ONNX graph's input tensors.

The messy-cell parsing the pipeline's cleaners do ("1,234", "12%", " n/a ", "yes",
"04/03/2021") cannot be written in ONNX operators, so the feed does it at the boundary with
the very functions the cleaners call (`mlengine.coerce`); the recipe per column is stored in
the model's metadata (FEED_METADATA_KEY).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import onnx

MISSING_STRING = ""  # how a missing category travels in a string tensor
FEED_METADATA_KEY = "mlengine.feed"  # column -> how `onnx_feed` reads it (JSON)


def onnx_feed(onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """DataFrame rows -> the session's inputs, reading each column as the pipeline does.

    Columns the graph does not use are ignored; a missing column is a KeyError naming it.
    """
    import onnx as onnx_lib

    recipes = feed_recipes(onnx_model)
    positions = {str(column): i for i, column in enumerate(X.columns)}
    feed: dict[str, np.ndarray] = {}
    for graph_input in onnx_model.graph.input:
        name = graph_input.name
        recipe = recipes.get(name, {})
        raw = recipe.get("column", name)
        if raw not in positions:
            raise KeyError(
                f"column '{raw}' is missing; the ONNX model takes "
                f"{[r.get('column', n) for n, r in recipes.items()]}"
            )
        column = _column(X, positions[raw])
        if recipe.get("na_values"):
            from mlengine.coerce import mask_markers

            column = mask_markers(pd.Series(column, copy=False), recipe["na_values"]).array
        elem = graph_input.type.tensor_type.elem_type
        if elem == onnx_lib.TensorProto.STRING:
            values = as_strings(column, recipe.get("kind", "string"))
        elif elem == onnx_lib.TensorProto.DOUBLE:
            values = as_seconds(column, recipe.get("formats", []))
        else:
            values = as_floats(column, recipe.get("kind", "float")).astype(np.float32)
        feed[name] = values.reshape(-1, 1)
    return feed


def feed_recipes(onnx_model: onnx.ModelProto) -> dict[str, dict[str, Any]]:
    for entry in onnx_model.metadata_props:
        if entry.key == FEED_METADATA_KEY:
            return json.loads(entry.value)
    return {}


# Unicode White_Space, what Arrow's utf8_trim_whitespace (coerce.clean_strings) trims.
_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_FAST_ROWS = 64  # up to this many rows, plain Python beats Arrow's ~0.3 ms per call


def _column(X: pd.DataFrame, position: int) -> Any:
    """The column's values (numpy or pandas extension array), without building a Series.

    `X[name]` costs ~40 us a column (a Series with its index); on a 1-row, 20-column request
    that was most of the feed. `_get_column_array` is pandas' internal accessor; the public
    path is the fallback.
    """
    get = getattr(X, "_get_column_array", None)
    if get is not None:
        try:
            return get(position)
        except Exception:  # noqa: BLE001 - internal API changed: take the public path
            pass
    return X.iloc[:, position].array


def as_strings(column: Any, kind: str) -> np.ndarray:
    """String tensor values; missing -> "". Category columns read as CategoryCleaner does."""
    if kind == "category":
        fast = _category_names(list(column)) if len(column) <= _FAST_ROWS else None
        if fast is not None:
            return fast
        from mlengine import coerce

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
    from mlengine.coerce import MISSING_MARKERS

    markers = frozenset(MISSING_MARKERS)
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
        return column.astype(np.float64)
    from mlengine import coerce

    series = pd.Series(column, copy=False)
    if kind == "boolean":
        return coerce.to_booleans(series)
    if kind == "number":
        return coerce.to_float(series)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def as_seconds(column: Any, formats: list[str]) -> np.ndarray:
    """Dates as the pipeline's DatetimeFeatures reads them, as seconds since 1970."""
    from mlengine import coerce

    dates = coerce.to_dates(pd.Series(column, copy=False), formats).to_numpy()
    return (dates - np.datetime64(0, "s")) / np.timedelta64(1, "s")
