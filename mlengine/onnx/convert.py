"""Pipeline -> ONNX: the graph's inputs (one per raw column, typed by what the pipeline does
with it), the converter options, the label output, and the checked export.

Importing this module imports neither skl2onnx nor onnx: they load on the first conversion,
so a missing tool is a reason ("no ONNX form"), not an import error.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlengine.config import first_line
from mlengine.onnx.parity import OnnxExport, check_parity
from mlengine.onnx.steps import first_steps, unsupported_step
from mlengine.serving.feed import FEED_METADATA_KEY, SCHEMA_READINGS, TENSOR_OF_KIND, OnnxFeed

if TYPE_CHECKING:
    import onnx

    from mlengine.serving.schema import TableSchema

log = logging.getLogger("mlengine")

# skl2onnx + onnxmltools (XGBoost) need ai.onnx.ml 3; 17 matches the torch export.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# Probabilities closer than this are a tie, broken toward the first class as sklearn does
# for exact ties: float32 sums over many trees differ from float64 by up to ~1e-6.
LABEL_TIE_TOL = 1e-5


def convert_pipeline(
    pipeline: Any, X_sample: pd.DataFrame, task: str, schema: TableSchema | None = None
) -> OnnxExport:
    """The pipeline as ONNX, checked against the pipeline's own predictions on X_sample.

    Never raises for a pipeline that does not convert: the result then has `model=None`
    and a one-line `reason` naming the step (and its columns). A converted model that
    disagrees with the pipeline beyond the stated tolerances is refused the same way, and
    so is one whose inputs disagree with the table schema (`schema`, when given).
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if len(X_sample) == 0:
        raise ValueError("X_sample is empty; parity needs at least one row")
    try:
        from mlengine.onnx.converters import register_converters

        register_converters()
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
        model = to_onnx(pipeline, X_sample, task, schema)
    except Exception as error:  # noqa: BLE001 - any converter failure means "no ONNX"
        log.debug("ONNX conversion failed", exc_info=True)
        return OnnxExport(
            None,
            f"skl2onnx could not convert the pipeline: {type(error).__name__}: {first_line(error)}",
            None,
            None,
        )
    try:
        feed = OnnxFeed.of(model, schema)
    except ValueError as error:
        return OnnxExport(None, f"ONNX inputs disagree with the table schema: {error}", None, None)
    try:
        return check_parity(pipeline, model, X_sample, task, feed)
    except Exception as error:  # noqa: BLE001 - a graph ONNX Runtime cannot run is no model
        log.debug("ONNX parity check failed", exc_info=True)
        return OnnxExport(
            None,
            f"ONNX Runtime could not run the converted model: "
            f"{type(error).__name__}: {first_line(error)}",
            None,
            None,
        )


def to_onnx(
    pipeline: Any, X_sample: pd.DataFrame, task: str, schema: TableSchema | None = None
) -> onnx.ModelProto:
    """The fitted pipeline as an ONNX model (unchecked; `convert_pipeline` checks it).

    One input per raw column (see `input_recipes`), the feed's recipes in the metadata;
    classifiers output `label` and `probabilities` (no ZipMap). Raises what the converters
    raise.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    from mlengine.onnx import sklearn_converters
    from mlengine.onnx.converters import register_converters

    register_converters()

    recipes = input_recipes(pipeline, X_sample, schema)
    tensor_types = {"string": StringTensorType, "double": DoubleTensorType}
    initial_types = [
        (
            column,
            tensor_types.get(TENSOR_OF_KIND.get(recipe["kind"], ""), FloatTensorType)([None, 1]),
        )
        for column, recipe in recipes.items()
    ]
    estimator = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    options = {id(estimator): estimator_options(estimator, task)}
    with warnings.catch_warnings():
        # skl2onnx's SVC converter reads probA_/probB_, which sklearn 1.9 deprecates along
        # with SVC(probability=True); mlengine calibrates SVC instead, so the notice (two
        # lines on every SVM run) concerns nothing the user did.
        warnings.filterwarnings("ignore", "Attribute `prob[AB]_`", FutureWarning)
        model = convert_sklearn(
            pipeline,
            initial_types=initial_types,
            target_opset=TARGET_OPSET,
            options=options,
            custom_conversion_functions=sklearn_converters.CONVERTERS,
            custom_shape_calculators=sklearn_converters.SHAPE_CALCULATORS,
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


def estimator_options(estimator: Any, task: str) -> dict[str, Any]:
    """skl2onnx's options for the final estimator: classifiers without ZipMap (plain
    probability tensors); nearest neighbours through ONNX Runtime's CDist kernel, where
    skl2onnx's default distance loop made one k-NN row ~15 ms, twice sklearn's time."""
    options: dict[str, Any] = {"zipmap": False} if task == "classification" else {}
    if type(estimator).__name__.startswith("KNeighbors"):
        options["optim"] = "cdist"
    return options


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

    from mlengine.onnx import ops

    graph = model.graph
    label, probabilities = graph.output[0], graph.output[1]
    replaced = f"{label.name}_by_converter"
    for node in graph.node:
        node.output[:] = [replaced if o == label.name else o for o in node.output]
        node.input[:] = [replaced if i == label.name else i for i in node.input]
    elem, values = ops.label_values(classes)
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
            # p >= floor, as Not(p < floor): GreaterOrEqual needs opset 12, and skl2onnx
            # gives a plain pipeline (a scaler and a linear model) opset 11
            helper.make_node("Less", [p, "mlengine_pfloor"], ["mlengine_below"]),
            helper.make_node("Not", ["mlengine_below"], ["mlengine_top"]),
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


def input_recipes(
    pipeline: Any, X: pd.DataFrame, schema: TableSchema | None = None
) -> dict[str, dict[str, Any]]:
    """Per raw column, how it enters the graph: {"kind": ..., ["formats"], ["na_values"]}.

    The kind comes from the pipeline's first step on that column (mlengine's cleaners say
    exactly how the column is read); other columns (those the pipeline drops, or hands to a
    stock sklearn step) are read as the table schema says, else by their dtype.
    """
    from mlengine.transformers import (
        BooleanCleaner,
        CategoryCleaner,
        DatetimeFeatures,
        NativeCategories,
        NumericCleaner,
        markers_of,
    )

    first = pipeline[0] if hasattr(pipeline, "steps") else pipeline
    names = [str(c) for c in getattr(first, "feature_names_in_", X.columns)]
    by_column: dict[str, dict[str, Any]] = {}
    for step, columns in first_steps(first, names):
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
            markers = markers_of(getattr(step, "na_values", None), column)
            if column in by_column and markers:
                by_column[column]["na_values"] = markers
    stated = {c.name: c.kind for c in schema.columns} if schema is not None else {}
    recipes: dict[str, dict[str, Any]] = {}
    for column in names:
        if column in by_column:
            recipes[column] = by_column[column]
        elif stated.get(column) in SCHEMA_READINGS:
            recipes[column] = {"kind": SCHEMA_READINGS[stated[column]][1][0]}
        else:
            numeric = column in X.columns and (
                pd.api.types.is_numeric_dtype(X[column].dtype)
                or pd.api.types.is_bool_dtype(X[column].dtype)
            )
            recipes[column] = {"kind": "float" if numeric else "string"}
    return recipes
