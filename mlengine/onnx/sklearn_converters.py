"""skl2onnx converters for the sklearn steps of mlengine's pipelines whose stock converters
miss a case mlengine uses: imputers on strings, HistGradientBoosting's leaf flags, and
encoders with infrequent categories and unseen values.

The encoders are converted from what the fitted encoder itself does with each known
category and with an unseen one (`_encoder_probe`), so infrequent grouping,
max_categories, drop and unknown handling stay exactly sklearn's, whatever its version.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pandas as pd
from onnx import TensorProto
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
from skl2onnx.operator_converters.random_forest import (
    convert_sklearn_random_forest_classifier,
    convert_sklearn_random_forest_regressor_converter,
)
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from mlengine.onnx import ops
from mlengine.serving.feed import MISSING_STRING

_UNSEEN = "\x00mlengine-unseen\x00"  # a category no encoder has seen, to probe its mapping


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer; on strings, missing_values=NaN means "" (NaN cannot be a string).

    skl2onnx refuses a non-string missing value on string inputs; the pipeline's imputers
    use NaN, which the feed (and the category cleaner's graph) turn into "".
    """
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


def _imputer_shape(operator: Any) -> None:
    """Strings in, strings out (skl2onnx's parser declares a float output for them)."""
    n_rows = ops.n_rows(operator)
    operator.outputs[0].type = type(operator.inputs[0].type)([n_rows, ops.width(operator)])


def _convert_hgb(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's HistGradientBoosting converter, with its leaf flags made ints.

    It mixes Python bools (leaves) into `nodes_missing_value_tracks_true`, which onnx's
    make_node refuses for an INTS attribute. The stock converters are the functions skl2onnx
    registers for HistGradientBoosting (shared with the forests).
    """
    if isinstance(operator.raw_operator, HistGradientBoostingClassifier):
        convert = convert_sklearn_random_forest_classifier
    else:
        convert = convert_sklearn_random_forest_regressor_converter
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
        # Row j holds the feature's j-th category (a missing one too: an encoder fitted on
        # unimputed columns has one), then known values as filler.
        probe[:n, i] = [known[j] if j < len(known) else values[j % len(values)] for j in range(n)]
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
    """The categories the graph matches, and the LabelEncoder keys attribute for them.

    A missing category (NaN among the categories of an encoder fitted on unimputed
    columns) is the feed's "" in a string tensor, unless "" is a category of its own; a
    float key cannot match NaN (ai.onnx.ml 3, measured), so there it stays unseen.
    """
    missing = np.asarray([pd.isna(v) for v in known], dtype=bool)
    if not string_input:
        return ~missing, {"keys_floats": [float(k) for k in known[~missing]]}
    names = np.asarray([MISSING_STRING if pd.isna(k) else str(k) for k in known])
    present = ~missing if MISSING_STRING in names[~missing] else np.ones_like(missing)
    return present, {"keys_strings": names[present].tolist()}


def one_hot_widths(op: Any) -> list[int]:
    """Output columns per input feature of a fitted OneHotEncoder, from its documented
    attributes: its categories, the infrequent ones sharing one column, less the dropped
    column (a dropped infrequent category drops the whole infrequent column).

    Checked against the encoder's own output width (`get_feature_names_out`).
    """
    n_features = len(op.categories_)
    infrequent = getattr(op, "infrequent_categories_", None) or [None] * n_features
    dropped = [None] * n_features if op.drop_idx_ is None else list(op.drop_idx_)
    widths = [
        len(categories) - (0 if rare is None else len(rare) - 1) - (0 if drop is None else 1)
        for categories, rare, drop in zip(op.categories_, infrequent, dropped, strict=True)
    ]
    n_out = len(op.get_feature_names_out())
    if sum(widths) != n_out:
        raise ValueError(
            f"OneHotEncoder: per-feature widths {widths} do not add up to its {n_out} outputs"
        )
    return widths


def _one_hot_shape(operator: Any) -> None:
    n_rows = ops.n_rows(operator)
    operator.outputs[0].type = FloatTensorType([n_rows, sum(one_hot_widths(operator.raw_operator))])


def _convert_one_hot(scope: Any, operator: Any, container: Any) -> None:
    """OneHotEncoder incl. infrequent categories and unseen -> infrequent, per feature:
    category -> output column (LabelEncoder), then Equal against 0..width-1.

    skl2onnx's converter refuses infrequent categories on a multi-column input and fails
    on unseen values with handle_unknown='infrequent_if_exist'.
    """
    op = operator.raw_operator
    string_input = isinstance(operator.inputs[0].type, StringTensorType)
    x = ops.concat_inputs(scope, operator, container)
    if not string_input:
        x = ops.cast_to(scope, container, x, operator.inputs[0].type, TensorProto.FLOAT)
    categories, rows, unseen = _encoder_probe(op)
    widths = one_hot_widths(op)
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
        index = ops.const(scope, container, "feature", TensorProto.INT64, [i])
        column = ops.node(scope, container, "Gather", [x, index], axis=1)
        code = ops.node(
            scope,
            container,
            "LabelEncoder",
            [column],
            domain="ai.onnx.ml",
            values_int64s=[int(v) for v in codes[present]],
            default_int64=default,
            **keys,
        )
        positions = ops.const(scope, container, "positions", TensorProto.INT64, range(width))
        hot = ops.node(scope, container, "Equal", [code, positions])
        blocks.append(ops.node(scope, container, "Cast", [hot], to=TensorProto.FLOAT))
    out = operator.outputs[0].full_name
    if len(blocks) == 1:
        ops.node(scope, container, "Identity", blocks, out)
    else:
        ops.node(scope, container, "Concat", blocks, out, axis=1)


def _ordinal_shape(operator: Any) -> None:
    n_rows = ops.n_rows(operator)
    operator.outputs[0].type = FloatTensorType([n_rows, len(operator.raw_operator.categories_)])


def _convert_ordinal(scope: Any, operator: Any, container: Any) -> None:
    """OrdinalEncoder (infrequent grouping, unseen -> unknown_value) via the same probe."""
    op = operator.raw_operator
    string_input = isinstance(operator.inputs[0].type, StringTensorType)
    x = ops.concat_inputs(scope, operator, container)
    if not string_input:
        x = ops.cast_to(scope, container, x, operator.inputs[0].type, TensorProto.FLOAT)
    categories, rows, unseen = _encoder_probe(op)
    columns = []
    for i, known in enumerate(categories):
        present, keys = _category_keys(known, string_input)
        default = float("nan") if unseen is None else float(unseen[i])
        index = ops.const(scope, container, "feature", TensorProto.INT64, [i])
        column = ops.node(scope, container, "Gather", [x, index], axis=1)
        columns.append(
            ops.node(
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
        ops.node(scope, container, "Identity", columns, out)
    else:
        ops.node(scope, container, "Concat", columns, out, axis=1)


# What `convert.to_onnx` hands skl2onnx (custom_conversion_functions / _shape_calculators):
# these replace the stock converters for these classes in mlengine's conversions only.
CONVERTERS = {
    SimpleImputer: _convert_imputer,
    HistGradientBoostingClassifier: _convert_hgb,
    HistGradientBoostingRegressor: _convert_hgb,
    OneHotEncoder: _convert_one_hot,
    OrdinalEncoder: _convert_ordinal,
}
SHAPE_CALCULATORS = {
    SimpleImputer: _imputer_shape,
    OneHotEncoder: _one_hot_shape,
    OrdinalEncoder: _ordinal_shape,
}
