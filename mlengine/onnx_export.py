"""ONNX form of the fitted pipeline: a small, fast serving artifact where the model converts.

Why: on one row, the sklearn Pipeline (ColumnTransformer + estimator) costs milliseconds,
mostly Python overhead; the same graph in ONNX Runtime costs tens of microseconds and needs
neither sklearn, xgboost nor torch at serving time. The ONNX model is an *extra* artifact:
it is only handed out when it converts and agrees with the pipeline on a sample, otherwise
`convert_pipeline` says why not and the skops pipeline stays the served model.

The graph takes one input per raw column, shape [None, 1], typed by what the pipeline does
with the column:

- numeric / boolean columns: float32 (NaN for missing; +-inf become NaN in the graph);
- categorical / string columns: string, with "" for missing (the imputer's missing value);
- datetime columns: float64 seconds since 1970-01-01 (naive, UTC where the text had an
  offset), NaN for missing; the graph derives year, month, day, weekday, hour itself.

The messy-cell parsing the pipeline's cleaners do ("1,234", "12%", " n/a ", "yes",
"04/03/2021") cannot be written in ONNX operators, so `onnx_feed` does it at the boundary
with the very functions the cleaners call (`mlengine.coerce`); the recipe per column is
stored in the model's metadata (`mlengine.feed`). Clients that build the feed themselves
send already-typed values; the graph still maps the common missing markers ("", "NA",
"n/a", "null", ...) of string columns and infinities of numeric ones to missing.

Classifiers output `label` (the user's own classes: strings stay strings) and
`probabilities` [N, n_classes] in `classes_` order (no ZipMap); regressors output
`variable` [N, 1].
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import logging
import statistics
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import onnx
    import onnxruntime

log = logging.getLogger("mlengine")

# skl2onnx + onnxmltools (XGBoost) need ai.onnx.ml 3; 17 matches the torch export.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}

# Parity tolerances. The ONNX graph computes in float32 where the pipeline uses float64, so
# a row whose feature sits within float32 rounding of a tree threshold can take the other
# branch. Such flips are rare; a conversion bug shifts most rows. Hence: nearly all rows
# must agree closely, and a few may differ by any amount.
MIN_LABEL_AGREEMENT = 0.99  # classifier: share of rows with the same predicted label
MIN_ROWS_WITHIN_TOL = 0.99  # share of rows whose probabilities / predictions are within tol
PROBA_ATOL = 1e-3  # classifier: max |p_onnx - p_native| over the classes of a row
REGRESSION_RTOL = 1e-3  # regressor: |y_onnx - y_native| <= RTOL * spread of the predictions
# Probabilities closer than this are a tie, broken toward the first class as sklearn does
# for exact ties: float32 sums over many trees differ from float64 by up to ~1e-6.
LABEL_TIE_TOL = 1e-5

MISSING_STRING = ""  # how a missing category travels in a string tensor
FEED_METADATA_KEY = "mlengine.feed"  # column -> how `onnx_feed` reads it (JSON)
_UNSEEN = "\x00mlengine-unseen\x00"  # a category no encoder has seen, to probe its mapping


@dataclass
class OnnxExport:
    """What `convert_pipeline` produced: a checked model, or why there is none."""

    model: onnx.ModelProto | None  # None when the pipeline does not convert
    reason: str | None  # why not (one line)
    max_abs_diff: float | None  # probabilities / predictions vs the pipeline on the sample
    label_agreement: float | None  # classifier: share of identical predicted labels


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def convert_pipeline(pipeline: Any, X_sample: pd.DataFrame, task: str) -> OnnxExport:
    """The pipeline as ONNX, checked against the pipeline's own predictions on X_sample.

    Never raises for a pipeline that does not convert: the result then has `model=None`
    and a one-line `reason` naming the step (and its columns). A converted model that
    disagrees with the pipeline beyond the stated tolerances is refused the same way.
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if len(X_sample) == 0:
        raise ValueError("X_sample is empty; parity needs at least one row")
    try:
        _register_converters()
    except ImportError as error:  # pragma: no cover - the tools are dependencies
        return OnnxExport(None, f"ONNX tooling is not installed: {error}", None, None)
    blocker = unsupported_step(pipeline)
    if not blocker and task == "classification" and not hasattr(pipeline, "predict_proba"):
        blocker = (
            f"{type(pipeline).__name__} has no predict_proba: the ONNX export serves "
            "labels with probabilities"
        )
    if blocker:
        return OnnxExport(None, blocker, None, None)
    try:
        model = _convert(pipeline, X_sample, task)
    except Exception as error:  # noqa: BLE001 - any converter failure means "no ONNX"
        log.debug("ONNX conversion failed", exc_info=True)
        return OnnxExport(
            None,
            f"skl2onnx could not convert the pipeline: "
            f"{type(error).__name__}: {_first_line(error)}",
            None,
            None,
        )
    try:
        return _check_parity(pipeline, model, X_sample, task)
    except Exception as error:  # noqa: BLE001 - a graph ONNX Runtime cannot run is no model
        log.debug("ONNX parity check failed", exc_info=True)
        return OnnxExport(
            None,
            f"ONNX Runtime could not run the converted model: "
            f"{type(error).__name__}: {_first_line(error)}",
            None,
            None,
        )


def onnx_feed(onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """DataFrame rows -> the session's inputs, reading each column as the pipeline does.

    Columns the graph does not use are ignored; a missing column is a KeyError naming it.
    """
    import onnx as onnx_lib

    recipes = _feed_recipes(onnx_model)
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
            values = _strings(column, recipe.get("kind", "string"))
        elif elem == onnx_lib.TensorProto.DOUBLE:
            values = _seconds(column, recipe.get("formats", []))
        else:
            values = _floats(column, recipe.get("kind", "float")).astype(np.float32)
        feed[name] = values.reshape(-1, 1)
    return feed


def measure_latency(
    pipeline: Any, onnx_model: onnx.ModelProto, X_sample: pd.DataFrame, repeats: int = 200
) -> dict[str, float]:
    """Median prediction latency, native pipeline vs ONNX Runtime, one thread each.

    1-row timings use the first row `repeats` times; batch timings use all of X_sample,
    `max(5, repeats // 10)` times (a batch costs ~100x a row). The ONNX timings include
    `onnx_feed` (DataFrame -> tensors), as a server that receives a DataFrame pays it;
    `onnx_session_1row_ms` is the session call alone.
    """
    session = make_session(onnx_model)
    row = X_sample.iloc[:1]
    batch_repeats = max(5, repeats // 10)

    def onnx_predict(frame: pd.DataFrame) -> Any:
        return session.run(None, onnx_feed(onnx_model, frame))

    row_feed = onnx_feed(onnx_model, row)
    return {
        "size_bytes": onnx_model.ByteSize(),
        "native_1row_ms": _median_ms(lambda: pipeline.predict(row), repeats),
        "onnx_1row_ms": _median_ms(lambda: onnx_predict(row), repeats),
        "onnx_session_1row_ms": _median_ms(lambda: session.run(None, row_feed), repeats),
        "native_batch_ms": _median_ms(lambda: pipeline.predict(X_sample), batch_repeats),
        "onnx_batch_ms": _median_ms(lambda: onnx_predict(X_sample), batch_repeats),
    }


def make_session(onnx_model: onnx.ModelProto, threads: int = 1) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session; one thread by default, like a per-request server worker."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: shape-merge warnings are not actionable
    return ort.InferenceSession(
        onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def unsupported_step(pipeline: Any) -> str | None:
    """A one-line reason naming the first step that cannot convert, else None.

    Checked before converting, so the reason names the step and its columns instead of a
    converter's internal error.
    """
    from skl2onnx._supported_operators import sklearn_operator_name_map

    for step, columns in _leaf_steps(pipeline, None):
        name = type(step).__name__
        where = _where(columns)
        reason = _known_blocker(step)
        if reason:
            return f"{name}{where} {reason}"
        if type(step) not in sklearn_operator_name_map:
            return f"{name}{where} has no ONNX converter"
    return None


# --------------------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------------------


def _convert(pipeline: Any, X_sample: pd.DataFrame, task: str) -> onnx.ModelProto:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    recipes = input_recipes(pipeline, X_sample)
    tensor_types = {
        "category": StringTensorType,
        "string": StringTensorType,
        "datetime": DoubleTensorType,
    }
    initial_types = [
        (column, tensor_types.get(recipe["kind"], FloatTensorType)([None, 1]))
        for column, recipe in recipes.items()
    ]
    estimator = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    options = {id(estimator): {"zipmap": False}} if task == "classification" else None
    with _quiet():
        model = convert_sklearn(
            pipeline,
            initial_types=initial_types,
            target_opset=TARGET_OPSET,
            options=options,
            custom_conversion_functions={
                SimpleImputer: _convert_imputer,
                HistGradientBoostingClassifier: _convert_hgb,
                HistGradientBoostingRegressor: _convert_hgb,
                OneHotEncoder: _convert_one_hot,
                OrdinalEncoder: _convert_ordinal,
            },
            custom_shape_calculators={
                SimpleImputer: _imputer_shape,
                OneHotEncoder: _one_hot_shape,
                OrdinalEncoder: _ordinal_shape,
            },
        )
    if task == "classification":
        _labels_from_probabilities(model, np.asarray(estimator.classes_))
    # skl2onnx sanitises input names ("mean radius" -> "mean_radius"); inputs keep the
    # order of initial_types, so the recipe records each input's raw column.
    columns = dict(zip([i.name for i in model.graph.input], recipes, strict=False))
    entry = model.metadata_props.add()
    entry.key = FEED_METADATA_KEY
    entry.value = json.dumps(
        {name: {**recipes[column], "column": column} for name, column in columns.items()}
    )
    model.doc_string = f"mlengine {task} pipeline ({type(estimator).__name__})"
    return model


def _labels_from_probabilities(model: onnx.ModelProto, classes: np.ndarray) -> None:
    """Make the label output classes_[argmax(probabilities)], first index on ties.

    That is what sklearn's `predict` returns for forests, boosting, linear models, KNN and
    the MLP. Converters decide ties their own way: an even-sized ExtraTrees/RandomForest
    ties 0.5/0.5 on a few % of rows, and ONNX Runtime's TreeEnsembleClassifier then picks
    the other class; and float32 sums turn an exact tie into 0.49999997 vs 0.50000006. So
    the label is the first class within LABEL_TIE_TOL of the row's highest probability.
    The converter's own label nodes become dead and are pruned.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    label, probabilities = graph.output[0], graph.output[1]
    replaced = f"{label.name}_by_converter"
    for node in graph.node:
        node.output[:] = [replaced if o == label.name else o for o in node.output]
        node.input[:] = [replaced if i == label.name else i for i in node.input]
    _, elem = _label_type(classes)
    values = (
        [str(c).encode() for c in classes]
        if elem == TensorProto.STRING
        else classes.astype(np.int64 if elem == TensorProto.INT64 else np.float32).tolist()
    )
    graph.initializer.extend(
        [
            helper.make_tensor("mlengine_classes", elem, [len(classes)], values),
            helper.make_tensor("mlengine_tie_tol", TensorProto.FLOAT, [], [LABEL_TIE_TOL]),
        ]
    )
    p = probabilities.name
    graph.node.extend(
        [
            helper.make_node("ReduceMax", [p], ["mlengine_pmax"], axes=[1], keepdims=1),
            helper.make_node("Sub", ["mlengine_pmax", "mlengine_tie_tol"], ["mlengine_pfloor"]),
            helper.make_node("GreaterOrEqual", [p, "mlengine_pfloor"], ["mlengine_top"]),
            helper.make_node("Cast", ["mlengine_top"], ["mlengine_top_f"], to=TensorProto.FLOAT),
            helper.make_node(
                "ArgMax", ["mlengine_top_f"], ["mlengine_label_index"], axis=1, keepdims=0
            ),
            helper.make_node(
                "Gather", ["mlengine_classes", "mlengine_label_index"], [label.name], axis=0
            ),
        ]
    )
    label.type.tensor_type.elem_type = elem
    _prune(graph)


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes and initializers no graph output depends on."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):  # skl2onnx emits nodes in topological order
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    initializers = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def input_recipes(pipeline: Any, X: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per raw column, how it enters the graph: {"kind": ..., ["formats"], ["na_values"]}.

    The kind comes from the pipeline's first step on that column (mlengine's cleaners say
    exactly how the column is read); other columns go by their dtype.
    """
    from mlengine.transformers import (
        BooleanCleaner,
        CategoryCleaner,
        DatetimeFeatures,
        NativeCategories,
        NumericCleaner,
    )

    first = pipeline[0] if hasattr(pipeline, "steps") else pipeline
    names = [str(c) for c in getattr(first, "feature_names_in_", X.columns)]
    by_column: dict[str, dict[str, Any]] = {}
    for step, columns in _first_steps(first, names):
        for index, column in enumerate(columns):
            if isinstance(step, NumericCleaner):
                by_column[column] = {"kind": "number"}
            elif isinstance(step, BooleanCleaner):
                by_column[column] = {"kind": "boolean"}
            elif isinstance(step, (CategoryCleaner, NativeCategories)):
                by_column[column] = {"kind": "category"}
            elif isinstance(step, DatetimeFeatures):
                formats = step.formats_[index] if hasattr(step, "formats_") else []
                by_column[column] = {"kind": "datetime", "formats": list(formats)}
            if column in by_column and getattr(step, "na_values", None):
                by_column[column]["na_values"] = list(step.na_values)
    recipes: dict[str, dict[str, Any]] = {}
    for column in names:
        if column in by_column:
            recipes[column] = by_column[column]
        else:
            numeric = column in X.columns and (
                pd.api.types.is_numeric_dtype(X[column].dtype)
                or pd.api.types.is_bool_dtype(X[column].dtype)
            )
            recipes[column] = {"kind": "float" if numeric else "string"}
    return recipes


def _check_parity(pipeline: Any, model: onnx.ModelProto, X: pd.DataFrame, task: str) -> OnnxExport:
    """Run both on X; keep the model only within the tolerances stated at the top."""
    session = make_session(model)
    outputs = session.run(None, onnx_feed(model, X))
    if task == "classification":
        labels = np.asarray(pipeline.predict(X), dtype=object)
        onnx_labels = np.asarray(outputs[0], dtype=object).ravel()
        agreement = float(np.mean(labels == onnx_labels))
        proba = np.asarray(pipeline.predict_proba(X), dtype=np.float64)
        onnx_proba = np.asarray(outputs[1], dtype=np.float64).reshape(proba.shape)
        row_diff = np.max(np.abs(proba - onnx_proba), axis=1)
        max_diff = float(np.max(row_diff))
        within = float(np.mean(row_diff <= PROBA_ATOL))
        if agreement < MIN_LABEL_AGREEMENT:
            shown = next(i for i in range(len(labels)) if labels[i] != onnx_labels[i])
            return OnnxExport(
                None,
                f"ONNX labels agree with the pipeline on only "
                f"{agreement:.1%} of {len(X)} sample rows (need "
                f"{MIN_LABEL_AGREEMENT:.0%}; e.g. {labels[shown]!r} vs "
                f"{onnx_labels[shown]!r})",
                max_diff,
                agreement,
            )
        if within < MIN_ROWS_WITHIN_TOL:
            return OnnxExport(
                None,
                f"ONNX probabilities are within {PROBA_ATOL} of the "
                f"pipeline's on only {within:.1%} of the sample rows (max "
                f"difference {max_diff:.3g})",
                max_diff,
                agreement,
            )
        return OnnxExport(model, None, max_diff, agreement)
    predictions = np.asarray(pipeline.predict(X), dtype=np.float64).ravel()
    onnx_predictions = np.asarray(outputs[0], dtype=np.float64).ravel()
    diff = np.abs(predictions - onnx_predictions)
    diff[np.isnan(diff)] = np.inf
    max_diff = float(np.max(diff))
    spread = float(np.std(predictions)) or max(float(np.max(np.abs(predictions))), 1.0)
    tolerance = REGRESSION_RTOL * spread
    within = float(np.mean(diff <= tolerance))
    if within < MIN_ROWS_WITHIN_TOL:
        return OnnxExport(
            None,
            f"ONNX predictions are within {tolerance:.3g} "
            f"({REGRESSION_RTOL} x their spread) of the pipeline's on only "
            f"{within:.1%} of the sample rows (max difference {max_diff:.3g})",
            max_diff,
            None,
        )
    return OnnxExport(model, None, max_diff, None)


# --------------------------------------------------------------------------------------
# walking the pipeline
# --------------------------------------------------------------------------------------


def _leaf_steps(step: Any, columns: list[str] | None) -> Iterator[tuple[Any, list[str] | None]]:
    """Every estimator inside Pipelines / ColumnTransformers, with the columns it reads."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            if inner is not None and inner != "passthrough":
                yield from _leaf_steps(inner, columns)
    elif isinstance(step, ColumnTransformer):
        for _, inner, selected in getattr(step, "transformers_", step.transformers):
            if isinstance(inner, str):  # "drop" / "passthrough"
                continue
            yield from _leaf_steps(inner, _column_names(step, selected))
    else:
        yield step, columns


def _first_steps(step: Any, columns: list[str]) -> Iterator[tuple[Any, list[str]]]:
    """The first estimator each raw column meets, with the columns it receives."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        inner = [s for _, s in step.steps if s is not None and s != "passthrough"]
        if inner:
            yield from _first_steps(inner[0], columns)
    elif isinstance(step, ColumnTransformer):
        for _, inner, selected in getattr(step, "transformers_", step.transformers):
            if not isinstance(inner, str):
                yield from _first_steps(inner, _column_names(step, selected))
    else:
        yield step, columns


def _column_names(transformer: Any, selected: Any) -> list[str]:
    names = [str(c) for c in getattr(transformer, "feature_names_in_", [])]
    if isinstance(selected, str):
        return [selected]
    if callable(selected):
        return names
    values = list(np.atleast_1d(np.asarray(selected)))
    if values and isinstance(values[0], (bool, np.bool_)):
        return [n for n, keep in zip(names, values, strict=False) if keep]
    if values and isinstance(values[0], (int, np.integer)) and names:
        return [names[i] for i in values]
    return [str(v) for v in values]


def _where(columns: list[str] | None) -> str:
    if not columns:
        return ""
    shown = ", ".join(f"'{c}'" for c in columns[:5]) + (", ..." if len(columns) > 5 else "")
    return f" on column{'s' if len(columns) > 1 else ''} {shown}"


def _known_blocker(step: Any) -> str | None:
    """Steps that have a converter in general but not in this configuration."""
    from mlengine.transformers import NativeCategories, TextTfidf

    if isinstance(step, TextTfidf):
        # Measured: skl2onnx's TF-IDF graph splits non-ASCII words ("café" -> "caf"),
        # lowercases only ASCII, and its sublinear_tf differs on repeated words.
        return (
            "(TF-IDF) has no faithful ONNX converter (ONNX Runtime's tokenizer splits "
            "non-ASCII words); set features.text=drop to export ONNX"
        )
    if isinstance(step, NativeCategories):
        return (
            "(features.encoding=native) has no ONNX converter: native categorical splits "
            "do not convert; use ordinal encoding to export ONNX"
        )
    if "c" in _xgboost_feature_types(step):
        return (
            "uses native categorical splits (enable_categorical), which onnxmltools "
            "cannot convert; use ordinal encoding to export ONNX"
        )
    is_categorical = getattr(step, "is_categorical_", None)
    if is_categorical is not None and np.asarray(is_categorical).any():
        return (
            "uses native categorical splits (categorical_features), which skl2onnx "
            "cannot convert; use ordinal encoding to export ONNX"
        )
    return None


def _xgboost_feature_types(step: Any) -> list[str]:
    """The feature types an XGBoost model was trained with ("c" = categorical)."""
    if not hasattr(step, "get_booster"):
        return []
    try:
        return list(step.get_booster().feature_types or [])
    except Exception:  # noqa: BLE001 - unfitted or foreign: nothing to block on
        return list(step.get_params().get("feature_types") or [])


# --------------------------------------------------------------------------------------
# feeding
# --------------------------------------------------------------------------------------


def _feed_recipes(onnx_model: onnx.ModelProto) -> dict[str, dict[str, Any]]:
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


def _strings(column: Any, kind: str) -> np.ndarray:
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


def _floats(column: Any, kind: str) -> np.ndarray:
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


def _seconds(column: Any, formats: list[str]) -> np.ndarray:
    """Dates as the pipeline's DatetimeFeatures reads them, as seconds since 1970."""
    from mlengine import coerce

    dates = coerce.to_dates(pd.Series(column, copy=False), formats).to_numpy()
    return (dates - np.datetime64(0, "s")) / np.timedelta64(1, "s")


# --------------------------------------------------------------------------------------
# converters
# --------------------------------------------------------------------------------------

_registered = False
_register_lock = threading.Lock()


def _register_converters() -> None:
    """Register converters for mlengine's steps, and XGBoost / the torch MLP when loaded.

    Only families already imported are registered: a pipeline holding an XGBoost model has
    imported xgboost, so nothing heavy is imported here for the others.
    """
    global _registered
    import sys

    from skl2onnx import update_registered_converter

    from mlengine import transformers

    with _register_lock:
        if not _registered:
            for cls, alias in (
                (transformers.NumericCleaner, "MlengineNumericCleaner"),
                (transformers.BooleanCleaner, "MlengineBooleanCleaner"),
            ):
                update_registered_converter(cls, alias, _same_shape_float, _convert_numeric)
            update_registered_converter(
                transformers.CategoryCleaner,
                "MlengineCategoryCleaner",
                _same_shape_string,
                _convert_category,
            )
            update_registered_converter(
                transformers.DatetimeFeatures,
                "MlengineDatetimeFeatures",
                _datetime_shape,
                _convert_datetime,
                parser=_float_output_parser,
            )
            _registered = True
        if "xgboost" in sys.modules:
            _register_xgboost()
        if "mlengine.models.torch_mlp" in sys.modules:
            _register_torch()


_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


@functools.cache
def _register_xgboost() -> None:
    """onnxmltools' XGBoost converter, declared to skl2onnx (also for XGBLabelClassifier).

    XGBLabelClassifier needs no wrapper: the converter writes the TreeEnsembleClassifier's
    class labels from `classes_`, which XGBLabelClassifier returns as the original labels.
    """
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBClassifier, XGBRegressor

    from mlengine.models.xgb import XGBLabelClassifier

    for cls in (XGBClassifier, XGBLabelClassifier):
        update_registered_converter(
            cls,
            f"Mlengine{cls.__name__}",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=_CLASSIFIER_OPTIONS,
        )
    update_registered_converter(
        XGBRegressor,
        "MlengineXGBRegressor",
        calculate_linear_regressor_output_shapes,
        convert_xgboost,
    )


@functools.cache
def _register_torch() -> None:
    from skl2onnx import update_registered_converter

    from mlengine.models.torch_mlp import TorchMLPClassifier, TorchMLPRegressor

    update_registered_converter(
        TorchMLPClassifier,
        "MlengineTorchMLPClassifier",
        _torch_shape,
        _convert_torch,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        TorchMLPRegressor, "MlengineTorchMLPRegressor", _torch_shape, _convert_torch
    )


# ---- shared helpers for converters ----------------------------------------------------


def _concat_inputs(scope: Any, operator: Any, container: Any) -> str:
    """The operator's inputs as one [N, k] tensor (the ColumnTransformer passes columns)."""
    from skl2onnx.common._apply_operation import apply_concat

    names = [variable.full_name for variable in operator.inputs]
    if len(names) == 1:
        return names[0]
    out = scope.get_unique_variable_name("columns")
    apply_concat(scope, names, out, container, axis=1)
    return out


def _width(operator: Any) -> int | None:
    widths = [variable.type.shape[1] for variable in operator.inputs]
    return sum(widths) if all(isinstance(w, int) for w in widths) else None


def _as(scope: Any, container: Any, name: str, variable_type: Any, onnx_type: int) -> str:
    """`name` cast to `onnx_type` unless its declared type already is that."""
    from skl2onnx.common.data_types import guess_proto_type

    if guess_proto_type(variable_type) == onnx_type:
        return name
    out = scope.get_unique_variable_name("cast")
    container.add_node(
        "Cast", [name], [out], to=onnx_type, name=scope.get_unique_operator_name("Cast")
    )
    return out


def _const(scope: Any, container: Any, name: str, onnx_type: int, values: Any) -> str:
    values = list(values)
    out = scope.get_unique_variable_name(name)
    container.add_initializer(out, onnx_type, [len(values)], values)
    return out


def _node(
    scope: Any,
    container: Any,
    op_type: str,
    inputs: list[str],
    out: str | None = None,
    domain: str = "",
    **attrs: Any,
) -> str:
    out = out or scope.get_unique_variable_name(op_type.lower())
    container.add_node(
        op_type,
        inputs,
        [out],
        op_domain=domain,
        name=scope.get_unique_operator_name(op_type),
        **attrs,
    )
    return out


# ---- mlengine's cleaners ----------------------------------------------------------------


def _same_shape_float(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n_rows, _width(operator)])


def _same_shape_string(operator: Any) -> None:
    from skl2onnx.common.data_types import StringTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = StringTensorType([n_rows, _width(operator)])


def _convert_numeric(scope: Any, operator: Any, container: Any) -> None:
    """NumericCleaner / BooleanCleaner on typed floats: +-inf -> NaN (the text parsing is
    `onnx_feed`'s, with the same `mlengine.coerce` functions)."""
    from onnx import TensorProto

    x = _as(
        scope,
        container,
        _concat_inputs(scope, operator, container),
        operator.inputs[0].type,
        TensorProto.FLOAT,
    )
    is_inf = _node(scope, container, "IsInf", [x])
    nan = _const(scope, container, "nan", TensorProto.FLOAT, [np.nan])
    _node(scope, container, "Where", [is_inf, nan, x], operator.outputs[0].full_name)


def _missing_markers() -> list[str]:
    from mlengine.coerce import MISSING_MARKERS

    spellings = {f(m) for m in MISSING_MARKERS for f in (str, str.upper, str.title)}
    return sorted(spellings | {"NaN", "NaT", "#N/A"})


def _convert_category(scope: Any, operator: Any, container: Any) -> None:
    """CategoryCleaner on strings: missing markers ("", "NA", "null", ...) -> "" (missing).

    Trimming and number spelling ("3.0" -> "3") need string ops opset 17 lacks; `onnx_feed`
    applies the cleaner's own function before the graph.
    """
    from onnx import TensorProto
    from skl2onnx.common.data_types import StringTensorType

    if not isinstance(operator.inputs[0].type, StringTensorType):
        raise TypeError("CategoryCleaner expects string inputs in the ONNX graph")
    x = _concat_inputs(scope, operator, container)
    markers = _missing_markers()
    flagged = _node(
        scope,
        container,
        "LabelEncoder",
        [x],
        domain="ai.onnx.ml",
        keys_strings=markers,
        values_int64s=[1] * len(markers),
        default_int64=0,
    )
    is_marker = _node(scope, container, "Cast", [flagged], to=TensorProto.BOOL)
    empty = _const(scope, container, "missing", TensorProto.STRING, [MISSING_STRING.encode()])
    _node(scope, container, "Where", [is_marker, empty, x], operator.outputs[0].full_name)


def _float_output_parser(
    scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None
) -> list[Any]:
    """Declare a float32 output for a step fed float64 (dates as seconds since 1970).

    skl2onnx's default parser declares the output with the input's type, and a float64
    branch would turn the whole ColumnTransformer output (and the model) to float64.
    """
    from skl2onnx._supported_operators import get_model_alias
    from skl2onnx.common.data_types import FloatTensorType

    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("variable", FloatTensorType()))
    return operator.outputs


def _datetime_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    parts = operator.raw_operator.parts_
    operator.outputs[0].type = FloatTensorType([n_rows, sum(len(p) for p in parts)])


def _convert_datetime(scope: Any, operator: Any, container: Any) -> None:
    """DatetimeFeatures on seconds since 1970 (float64): year, month, day, weekday, hour.

    Calendar arithmetic (H. Hinnant's civil_from_days) in float64 with Floor, exact for
    whole numbers below 2**53; NaN (missing date) stays NaN for the imputer.
    """
    from onnx import TensorProto

    op = operator.raw_operator
    x = _as(
        scope,
        container,
        _concat_inputs(scope, operator, container),
        operator.inputs[0].type,
        TensorProto.DOUBLE,
    )
    consts: dict[float, str] = {}

    def c(value: float) -> str:
        if value not in consts:
            consts[value] = _const(scope, container, "k", TensorProto.DOUBLE, [value])
        return consts[value]

    def op2(op_type: str, a: str, b: str) -> str:
        return _node(scope, container, op_type, [a, b])

    def floor_div(a: str, b: float) -> str:
        return _node(scope, container, "Floor", [op2("Div", a, c(b))])

    def floor_mod(a: str, b: float) -> str:
        return op2("Sub", a, op2("Mul", floor_div(a, b), c(b)))

    days = floor_div(x, 86400.0)
    hour = floor_div(op2("Sub", x, op2("Mul", days, c(86400.0))), 3600.0)
    weekday = floor_mod(op2("Add", days, c(3.0)), 7.0)  # 1970-01-01 was a Thursday (3)
    z = op2("Add", days, c(719468.0))
    era = floor_div(z, 146097.0)
    doe = op2("Sub", z, op2("Mul", era, c(146097.0)))
    yoe = floor_div(
        op2(
            "Add",
            op2("Sub", op2("Sub", doe, floor_div(doe, 1460.0)), floor_div(doe, 146096.0)),
            floor_div(doe, 36524.0),
        ),
        365.0,
    )
    doy = op2(
        "Sub",
        doe,
        op2(
            "Sub", op2("Add", op2("Mul", yoe, c(365.0)), floor_div(yoe, 4.0)), floor_div(yoe, 100.0)
        ),
    )
    mp = floor_div(op2("Add", op2("Mul", doy, c(5.0)), c(2.0)), 153.0)
    day = op2(
        "Add", op2("Sub", doy, floor_div(op2("Add", op2("Mul", mp, c(153.0)), c(2.0)), 5.0)), c(1.0)
    )
    late = _node(
        scope,
        container,
        "Cast",
        [_node(scope, container, "GreaterOrEqual", [mp, c(10.0)])],
        to=TensorProto.DOUBLE,
    )
    month = op2("Sub", op2("Add", mp, c(3.0)), op2("Mul", late, c(12.0)))
    early = _node(
        scope,
        container,
        "Cast",
        [_node(scope, container, "LessOrEqual", [month, c(2.0)])],
        to=TensorProto.DOUBLE,
    )
    year = op2("Add", op2("Add", yoe, op2("Mul", era, c(400.0))), early)
    parts = {"year": year, "month": month, "day": day, "weekday": weekday, "hour": hour}
    columns = []
    for j, names in enumerate(op.parts_):
        index = _const(scope, container, "col", TensorProto.INT64, [j])
        columns += [_node(scope, container, "Gather", [parts[p], index], axis=1) for p in names]
    joined = _node(scope, container, "Concat", columns, axis=1) if len(columns) > 1 else columns[0]
    _node(scope, container, "Cast", [joined], operator.outputs[0].full_name, to=TensorProto.FLOAT)


# ---- sklearn steps whose stock converters miss a case mlengine uses ----------------------


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer; on strings, missing_values=NaN means "" (NaN cannot be a string).

    skl2onnx refuses a non-string missing value on string inputs; the pipeline's imputers
    use NaN, which `onnx_feed` (and the category cleaner's graph) turn into "".
    """
    from skl2onnx.common.data_types import StringTensorType
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer

    op = operator.raw_operator
    if isinstance(operator.inputs[0].type, StringTensorType) and not isinstance(
        op.missing_values, str
    ):
        shim = copy.copy(op)
        shim.missing_values = MISSING_STRING
        operator.raw_operator = shim
        try:
            convert_sklearn_imputer(scope, operator, container)
        finally:
            operator.raw_operator = op
        return
    convert_sklearn_imputer(scope, operator, container)


def _convert_hgb(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's HistGradientBoosting converter, with its leaf flags made ints.

    It mixes Python bools (leaves) into `nodes_missing_value_tracks_true`, which onnx's
    make_node refuses for an INTS attribute.
    """
    from skl2onnx._supported_operators import get_model_alias
    from skl2onnx.common._registration import get_converter

    convert = get_converter(get_model_alias(type(operator.raw_operator)))
    add_node = container.add_node

    def add_node_with_int_flags(*args: Any, **attrs: Any) -> Any:
        for key, value in attrs.items():
            if isinstance(value, list) and any(isinstance(v, bool) for v in value):
                attrs[key] = [int(v) for v in value]
        return add_node(*args, **attrs)

    container.add_node = add_node_with_int_flags
    try:
        convert(scope, operator, container)
    finally:
        del container.add_node  # the instance attribute; the class method shows again


def _imputer_shape(operator: Any) -> None:
    """Strings in, strings out (skl2onnx's parser declares a float output for them)."""
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = type(operator.inputs[0].type)([n_rows, _width(operator)])


def _encoder_probe(op: Any) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
    """Ask the fitted encoder itself how it maps each known category and an unseen one.

    Returns (categories per feature, transformed rows of the known categories, transformed
    row of an unseen value or None when the encoder raises on unseen values). Using the
    encoder as the oracle keeps infrequent grouping, max_categories, drop and unknown
    handling exactly as sklearn does them, whatever the version.
    """
    categories = [np.asarray(c, dtype=object) for c in op.categories_]
    n = max(len(c) for c in categories)
    probe = np.empty((n + 1, len(categories)), dtype=object)
    for i, known in enumerate(categories):
        values = [v for v in known if not pd.isna(v)] or [_UNSEEN]
        probe[:n, i] = [values[j % len(values)] for j in range(n)]
        numeric = all(isinstance(v, (int, float, np.number)) for v in values)
        probe[n, i] = (max(values) + 1.5) if numeric else _UNSEEN
    names = getattr(op, "feature_names_in_", None)
    frame: Any = pd.DataFrame(probe, columns=names) if names is not None else probe
    raises = getattr(op, "handle_unknown", "error") == "error"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = op.transform(frame[:n] if raises else frame)
    rows = rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows, dtype=np.float64)
    return categories, rows[:n], None if raises else rows[n]


def _category_keys(known: np.ndarray, string_input: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """The present categories and the LabelEncoder keys attribute for them."""
    present = np.asarray([not pd.isna(v) for v in known], dtype=bool)
    keys = known[present]
    if string_input:
        return present, {"keys_strings": [str(k) for k in keys]}
    return present, {"keys_floats": [float(k) for k in keys]}


def _one_hot_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType(
        [n_rows, int(sum(operator.raw_operator._n_features_outs))]
    )


def _convert_one_hot(scope: Any, operator: Any, container: Any) -> None:
    """OneHotEncoder incl. infrequent categories and unseen -> infrequent, per feature:
    category -> output column (LabelEncoder), then Equal against 0..width-1.

    skl2onnx's converter refuses infrequent categories on a multi-column input and fails
    on unseen values with handle_unknown='infrequent_if_exist'.
    """
    from onnx import TensorProto
    from skl2onnx.common.data_types import StringTensorType

    op = operator.raw_operator
    string_input = isinstance(operator.inputs[0].type, StringTensorType)
    x = _concat_inputs(scope, operator, container)
    if not string_input:
        x = _as(scope, container, x, operator.inputs[0].type, TensorProto.FLOAT)
    categories, rows, unseen = _encoder_probe(op)
    widths = [int(w) for w in op._n_features_outs]
    blocks, start = [], 0
    for i, (known, width) in enumerate(zip(categories, widths, strict=True)):
        block = rows[: len(known), start : start + width]
        codes = np.where(block.any(axis=1), block.argmax(axis=1), -1)
        default = -1
        if unseen is not None and unseen[start : start + width].any():
            default = int(unseen[start : start + width].argmax())
        start += width
        if width == 0:
            continue
        present, keys = _category_keys(known, string_input)
        index = _const(scope, container, "feature", TensorProto.INT64, [i])
        column = _node(scope, container, "Gather", [x, index], axis=1)
        code = _node(
            scope,
            container,
            "LabelEncoder",
            [column],
            domain="ai.onnx.ml",
            values_int64s=[int(v) for v in codes[present]],
            default_int64=default,
            **keys,
        )
        positions = _const(scope, container, "positions", TensorProto.INT64, range(width))
        hot = _node(scope, container, "Equal", [code, positions])
        blocks.append(_node(scope, container, "Cast", [hot], to=TensorProto.FLOAT))
    out = operator.outputs[0].full_name
    if len(blocks) == 1:
        _node(scope, container, "Identity", blocks, out)
    else:
        _node(scope, container, "Concat", blocks, out, axis=1)


def _ordinal_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n_rows, len(operator.raw_operator.categories_)])


def _convert_ordinal(scope: Any, operator: Any, container: Any) -> None:
    """OrdinalEncoder (infrequent grouping, unseen -> unknown_value) via the same probe."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import StringTensorType

    op = operator.raw_operator
    string_input = isinstance(operator.inputs[0].type, StringTensorType)
    x = _concat_inputs(scope, operator, container)
    if not string_input:
        x = _as(scope, container, x, operator.inputs[0].type, TensorProto.FLOAT)
    categories, rows, unseen = _encoder_probe(op)
    columns = []
    for i, known in enumerate(categories):
        present, keys = _category_keys(known, string_input)
        default = float("nan") if unseen is None else float(unseen[i])
        index = _const(scope, container, "feature", TensorProto.INT64, [i])
        column = _node(scope, container, "Gather", [x, index], axis=1)
        columns.append(
            _node(
                scope,
                container,
                "LabelEncoder",
                [column],
                domain="ai.onnx.ml",
                values_floats=[float(v) for v in rows[: len(known), i][present]],
                default_float=default,
                **keys,
            )
        )
    out = operator.outputs[0].full_name
    if len(columns) == 1:
        _node(scope, container, "Identity", columns, out)
    else:
        _node(scope, container, "Concat", columns, out, axis=1)


# ---- the PyTorch MLP ----------------------------------------------------------------------


def _label_type(classes: np.ndarray) -> tuple[Any, int]:
    """(skl2onnx tensor type, ONNX element type) that carries these labels unchanged."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import (
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    kind = np.asarray(classes).dtype.kind
    if kind in "iub":
        return Int64TensorType, TensorProto.INT64
    if kind == "f":
        return FloatTensorType, TensorProto.FLOAT
    return StringTensorType, TensorProto.STRING


def _torch_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    op = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    if hasattr(op, "classes_"):
        label_type, _ = _label_type(op.classes_)
        operator.outputs[0].type = label_type([n_rows])
        operator.outputs[1].type = FloatTensorType([n_rows, len(op.classes_)])
    else:
        operator.outputs[0].type = FloatTensorType([n_rows, 1])


def _convert_torch(scope: Any, operator: Any, container: Any) -> None:
    """Inline the MLP's own ONNX export (`to_onnx`) after the preprocessing.

    Initializers and intermediate names are renamed into skl2onnx's scope so they cannot
    clash; the classifier's label is classes_[argmax(probabilities)], as `predict` does.
    """
    from onnx import AttributeProto, TensorProto, helper, numpy_helper

    op = operator.raw_operator
    with _quiet():
        graph = op.to_onnx(opset_version=TARGET_OPSET[""]).graph
    x = _as(
        scope, container, operator.inputs[0].full_name, operator.inputs[0].type, TensorProto.FLOAT
    )
    classifier = hasattr(op, "classes_")
    target = operator.outputs[1 if classifier else 0].full_name
    names = {graph.input[0].name: x, graph.output[0].name: target}
    for init in graph.initializer:
        names[init.name] = scope.get_unique_variable_name(f"mlp_{init.name}")
        array = numpy_helper.to_array(init)
        container.add_initializer(
            names[init.name], init.data_type, list(array.shape), array.ravel().tolist()
        )
    for node in graph.node:
        if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute):
            raise NotImplementedError(f"torch graph node {node.op_type} has a subgraph")
        for name in node.output:
            if name and name not in names:
                names[name] = scope.get_unique_variable_name(f"mlp_{name}")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        container.add_node(
            node.op_type,
            [names.get(i, i) for i in node.input],
            [names[o] for o in node.output],
            op_domain=node.domain,
            name=scope.get_unique_operator_name(node.op_type),
            **attrs,
        )
    if classifier:
        _, elem = _label_type(op.classes_)
        values = (
            [str(c).encode() for c in op.classes_]
            if elem == TensorProto.STRING
            else np.asarray(op.classes_)
            .astype(np.int64 if elem == TensorProto.INT64 else np.float32)
            .tolist()
        )
        classes = _const(scope, container, "classes", elem, values)
        best = _node(scope, container, "ArgMax", [target], axis=1, keepdims=0)
        _node(scope, container, "Gather", [classes, best], operator.outputs[0].full_name, axis=0)


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence converter chatter (torch.onnx / onnxscript print, warn and log a fallback
    notice on every export, none of which a user can act on)."""
    chatty = logging.getLogger("onnxscript")
    level = chatty.level
    chatty.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        chatty.setLevel(level)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    for _ in range(min(3, repeats)):  # warm-up: first calls allocate and cache
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0
