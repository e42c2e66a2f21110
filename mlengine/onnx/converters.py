"""skl2onnx converters for mlengine's own transformers, and the registry of every converter
mlengine adds (its transformers, XGBoost, the PyTorch MLP).

The cleaners' text parsing ("1,234", "yes", " n/a ") cannot be written in ONNX operators:
the feed (`mlengine.serving.feed`) does it before the graph with the cleaners' own functions,
so in the graph a cleaner only maps what typed values still carry (infinities, missing
markers of string columns). Dates arrive as seconds since 1970 and the graph derives their
calendar parts.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx import get_model_alias, update_registered_converter
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

from mlengine.onnx import ops
from mlengine.serving.feed import MISSING_STRING

_registered = False
_register_lock = threading.Lock()


def register_converters() -> None:
    """Register converters for mlengine's steps, and XGBoost / the torch MLP when loaded.

    Only families already imported are registered: a pipeline holding an XGBoost model has
    imported xgboost, so nothing heavy is imported here for the others.
    """
    global _registered
    from mlengine import transformers
    from mlengine.onnx import model_converters

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
            model_converters.register_xgboost()
        if "mlengine.models.torch_mlp" in sys.modules:
            model_converters.register_torch()


# ---- the cleaners ------------------------------------------------------------------------


def _same_shape_float(operator: Any) -> None:
    operator.outputs[0].type = FloatTensorType([ops.n_rows(operator), ops.width(operator)])


def _same_shape_string(operator: Any) -> None:
    operator.outputs[0].type = StringTensorType([ops.n_rows(operator), ops.width(operator)])


def _convert_numeric(scope: Any, operator: Any, container: Any) -> None:
    """NumericCleaner / BooleanCleaner on typed floats: +-inf -> NaN (the text parsing is
    the feed's, with the same `mlengine.serving.coerce` functions)."""
    x = ops.cast_to(
        scope,
        container,
        ops.concat_inputs(scope, operator, container),
        operator.inputs[0].type,
        TensorProto.FLOAT,
    )
    is_inf = ops.node(scope, container, "IsInf", [x])
    nan = ops.const(scope, container, "nan", TensorProto.FLOAT, [np.nan])
    ops.node(scope, container, "Where", [is_inf, nan, x], operator.outputs[0].full_name)


def _missing_markers() -> list[str]:
    from mlengine.serving.coerce import MISSING_MARKERS

    spellings = {f(m) for m in MISSING_MARKERS for f in (str, str.upper, str.title)}
    return sorted(spellings | {"NaN", "NaT", "#N/A"})


def _convert_category(scope: Any, operator: Any, container: Any) -> None:
    """CategoryCleaner on strings: missing markers ("", "NA", "null", ...) -> "" (missing).

    Trimming and number spelling ("3.0" -> "3") need string ops opset 17 lacks; the feed
    applies the cleaner's own function before the graph.
    """
    if not isinstance(operator.inputs[0].type, StringTensorType):
        raise TypeError("CategoryCleaner expects string inputs in the ONNX graph")
    x = ops.concat_inputs(scope, operator, container)
    markers = _missing_markers()
    flagged = ops.node(
        scope,
        container,
        "LabelEncoder",
        [x],
        domain="ai.onnx.ml",
        keys_strings=markers,
        values_int64s=[1] * len(markers),
        default_int64=0,
    )
    is_marker = ops.node(scope, container, "Cast", [flagged], to=TensorProto.BOOL)
    empty = ops.const(scope, container, "missing", TensorProto.STRING, [MISSING_STRING.encode()])
    ops.node(scope, container, "Where", [is_marker, empty, x], operator.outputs[0].full_name)


# ---- dates -------------------------------------------------------------------------------


def _float_output_parser(
    scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None
) -> list[Any]:
    """Declare a float32 output for a step fed float64 (dates as seconds since 1970).

    skl2onnx's default parser declares the output with the input's type, and a float64
    branch would turn the whole ColumnTransformer output (and the model) to float64.
    """
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("variable", FloatTensorType()))
    return operator.outputs


def _datetime_shape(operator: Any) -> None:
    parts = operator.raw_operator.parts_
    operator.outputs[0].type = FloatTensorType([ops.n_rows(operator), sum(len(p) for p in parts)])


def _convert_datetime(scope: Any, operator: Any, container: Any) -> None:
    """DatetimeFeatures on seconds since 1970 (float64): year, month, day, weekday, hour.

    Calendar arithmetic (H. Hinnant's civil_from_days) in float64 with Floor, exact for
    whole numbers below 2**53; NaN (missing date) stays NaN for the imputer.
    """
    op = operator.raw_operator
    x = ops.cast_to(
        scope,
        container,
        ops.concat_inputs(scope, operator, container),
        operator.inputs[0].type,
        TensorProto.DOUBLE,
    )
    consts: dict[float, str] = {}

    def c(value: float) -> str:
        if value not in consts:
            consts[value] = ops.const(scope, container, "k", TensorProto.DOUBLE, [value])
        return consts[value]

    def op2(op_type: str, a: str, b: str) -> str:
        return ops.node(scope, container, op_type, [a, b])

    def floor_div(a: str, b: float) -> str:
        return ops.node(scope, container, "Floor", [op2("Div", a, c(b))])

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
    late = ops.node(
        scope,
        container,
        "Cast",
        [ops.node(scope, container, "GreaterOrEqual", [mp, c(10.0)])],
        to=TensorProto.DOUBLE,
    )
    month = op2("Sub", op2("Add", mp, c(3.0)), op2("Mul", late, c(12.0)))
    early = ops.node(
        scope,
        container,
        "Cast",
        [ops.node(scope, container, "LessOrEqual", [month, c(2.0)])],
        to=TensorProto.DOUBLE,
    )
    year = op2("Add", op2("Add", yoe, op2("Mul", era, c(400.0))), early)
    parts = {"year": year, "month": month, "day": day, "weekday": weekday, "hour": hour}
    columns = []
    for j, names in enumerate(op.parts_):
        index = ops.const(scope, container, "col", TensorProto.INT64, [j])
        columns += [ops.node(scope, container, "Gather", [parts[p], index], axis=1) for p in names]
    joined = (
        ops.node(scope, container, "Concat", columns, axis=1) if len(columns) > 1 else columns[0]
    )
    ops.node(
        scope, container, "Cast", [joined], operator.outputs[0].full_name, to=TensorProto.FLOAT
    )
