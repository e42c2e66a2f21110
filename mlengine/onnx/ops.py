"""Graph-building helpers for mlengine's skl2onnx converters (scope, operator, container
are skl2onnx's converter arguments)."""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx.common.data_types import (
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
    guess_proto_type,
)


def concat_inputs(scope: Any, operator: Any, container: Any) -> str:
    """The operator's inputs as one [N, k] tensor (the ColumnTransformer passes columns)."""
    names = [variable.full_name for variable in operator.inputs]
    if len(names) == 1:
        return names[0]
    return node(
        scope, container, "Concat", names, scope.get_unique_variable_name("columns"), axis=1
    )


def width(operator: Any) -> int | None:
    """The operator's total input width, None when a width is not known."""
    widths = [variable.type.shape[1] for variable in operator.inputs]
    return sum(widths) if all(isinstance(w, int) for w in widths) else None


def n_rows(operator: Any) -> Any:
    """The first (batch) dimension of the operator's input."""
    return operator.inputs[0].get_first_dimension()


def cast_to(scope: Any, container: Any, name: str, variable_type: Any, onnx_type: int) -> str:
    """`name` cast to `onnx_type` unless its declared type already is that."""
    if guess_proto_type(variable_type) == onnx_type:
        return name
    out = scope.get_unique_variable_name("cast")
    container.add_node(
        "Cast", [name], [out], to=onnx_type, name=scope.get_unique_operator_name("Cast")
    )
    return out


def const(scope: Any, container: Any, name: str, onnx_type: int, values: Any) -> str:
    """A 1-D initializer holding `values`."""
    values = list(values)
    out = scope.get_unique_variable_name(name)
    container.add_initializer(out, onnx_type, [len(values)], values)
    return out


def node(
    scope: Any,
    container: Any,
    op_type: str,
    inputs: list[str],
    out: str | None = None,
    domain: str = "",
    **attrs: Any,
) -> str:
    """Add one node; returns its (single) output's name."""
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


def label_type(classes: np.ndarray) -> tuple[Any, int]:
    """(skl2onnx tensor type, ONNX element type) that carries these labels unchanged."""
    kind = np.asarray(classes).dtype.kind
    if kind in "iub":
        return Int64TensorType, TensorProto.INT64
    if kind == "f":
        return FloatTensorType, TensorProto.FLOAT
    return StringTensorType, TensorProto.STRING


def label_values(classes: np.ndarray) -> tuple[int, list[Any]]:
    """(ONNX element type, tensor values) of a class-label initializer."""
    _, elem = label_type(classes)
    if elem == TensorProto.STRING:
        return elem, [str(c).encode() for c in classes]
    dtype = np.int64 if elem == TensorProto.INT64 else np.float32
    return elem, np.asarray(classes).astype(dtype).tolist()
