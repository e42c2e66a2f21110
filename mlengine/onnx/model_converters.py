"""skl2onnx converters for the model families mlengine adds: XGBoost (onnxmltools' converter,
declared to skl2onnx) and the PyTorch MLP (its own ONNX export, inlined after the
preprocessing). Registered only when their library is already imported."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator
from typing import Any

from onnx import AttributeProto, TensorProto, helper, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.shape_calculator import (
    calculate_linear_classifier_output_shapes,
    calculate_linear_regressor_output_shapes,
)

from mlengine.onnx import ops
from mlengine.onnx.convert import TARGET_OPSET

_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


@functools.cache
def register_xgboost() -> None:
    """onnxmltools' XGBoost converter, declared to skl2onnx (also for XGBLabelClassifier).

    XGBLabelClassifier needs no wrapper: the converter writes the TreeEnsembleClassifier's
    class labels from `classes_`, which XGBLabelClassifier returns as the original labels.
    """
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
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
def register_torch() -> None:
    """The MLP's converter (its own ONNX export inlined), for both estimators."""
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


def _torch_shape(operator: Any) -> None:
    op = operator.raw_operator
    n_rows = ops.n_rows(operator)
    if hasattr(op, "classes_"):
        label_type, _ = ops.label_type(op.classes_)
        operator.outputs[0].type = label_type([n_rows])
        operator.outputs[1].type = FloatTensorType([n_rows, len(op.classes_)])
    else:
        operator.outputs[0].type = FloatTensorType([n_rows, 1])


def _convert_torch(scope: Any, operator: Any, container: Any) -> None:
    """Inline the MLP's own ONNX export (`to_onnx`) after the preprocessing.

    Initializers and intermediate names are renamed into skl2onnx's scope so they cannot
    clash; the classifier's label is classes_[argmax(probabilities)], as `predict` does.
    """
    op = operator.raw_operator
    with quiet_export():
        graph = op.to_onnx(opset_version=TARGET_OPSET[""]).graph
    x = ops.cast_to(
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
        elem, values = ops.label_values(op.classes_)
        classes = ops.const(scope, container, "classes", elem, values)
        best = ops.node(scope, container, "ArgMax", [target], axis=1, keepdims=0)
        ops.node(scope, container, "Gather", [classes, best], operator.outputs[0].full_name, axis=0)


# Loggers whose notices a torch export emits and no user can act on: onnxscript's version
# converter logs a WARNING on every export at opset 17 ("... fallback is enabled. The model
# will be converted using the onnx C API"). A logger's filters see only the records logged
# on it (not its children's), hence the exact names.
NOTICE_LOGGERS = ("onnxscript", "onnxscript.version_converter")


class _ThisThreadsNotices(logging.Filter):
    """Drops records below ERROR logged by the thread that made the filter."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or record.thread != self.thread


@contextlib.contextmanager
def quiet_export() -> Iterator[None]:
    """The torch export's notices off, for the calling thread only.

    Measured with torch 2.13 / onnxscript 0.7: with `verbose=False` (the MLP's `to_onnx`
    passes it, and silences its own warnings) the export prints nothing; what remains is a
    log record. So no stdout/stderr redirection (`contextlib.redirect_stdout` swaps
    `sys.stdout` for every thread of the process) and no warning filters (process-wide
    too): a filter on the notices' loggers drops this thread's records below ERROR, and
    other threads' records, and errors, still pass.
    """
    notices = _ThisThreadsNotices()
    loggers = [logging.getLogger(name) for name in NOTICE_LOGGERS]
    for logger in loggers:
        logger.addFilter(notices)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(notices)
