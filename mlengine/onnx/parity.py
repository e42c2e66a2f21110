"""Parity and latency: the converted model against the native pipeline it came from.

The ONNX graph computes in float32 where the pipeline uses float64, so a row whose feature
sits within float32 rounding of a tree threshold can take the other branch. Such flips are
rare; a conversion bug shifts most rows. Hence: nearly all rows must agree closely, and a
few may differ by any amount.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlengine.serving.feed import OnnxFeed

if TYPE_CHECKING:
    import onnx
    import onnxruntime

MIN_LABEL_AGREEMENT = 0.99  # classifier: share of rows with the same predicted label
MIN_ROWS_WITHIN_TOL = 0.99  # share of rows whose probabilities / predictions are within tol
PROBA_ATOL = 1e-3  # classifier: max |p_onnx - p_native| over the classes of a row
REGRESSION_RTOL = 1e-3  # regressor: |y_onnx - y_native| <= RTOL * spread of the predictions


@dataclass
class OnnxExport:
    """What `convert_pipeline` produced: a checked model, or why there is none."""

    model: onnx.ModelProto | None  # None when the pipeline does not convert
    reason: str | None  # why not (one line)
    max_abs_diff: float | None  # probabilities / predictions vs the pipeline on the sample
    label_agreement: float | None  # classifier: share of identical predicted labels


@dataclass
class Parity:
    """A served form's predictions against the native pipeline's on the same rows."""

    rows: int
    max_abs_diff: float  # probabilities (classifier) or predictions (regressor)
    rows_within_tol: float  # share of rows within PROBA_ATOL / REGRESSION_RTOL
    label_agreement: float | None  # classifier: share of identical labels
    reason: str | None  # why it fails the thresholds stated at the top; None: it passes

    @property
    def passed(self) -> bool:
        return self.reason is None

    def thresholds(self) -> dict[str, float]:
        """The stated tolerances this result was judged by."""
        if self.label_agreement is None:
            return {"min_rows_within_tol": MIN_ROWS_WITHIN_TOL, "regression_rtol": REGRESSION_RTOL}
        return {
            "min_label_agreement": MIN_LABEL_AGREEMENT,
            "min_rows_within_tol": MIN_ROWS_WITHIN_TOL,
            "proba_atol": PROBA_ATOL,
        }


def check_parity(
    pipeline: Any,
    model: onnx.ModelProto,
    X: pd.DataFrame,
    task: str,
    feed: OnnxFeed | None = None,
) -> OnnxExport:
    """Run both on X; keep the model only within the tolerances stated at the top.

    `feed`: the model's feed (e.g. checked against the table schema); by default its own.
    """
    session = make_session(model)
    outputs = session.run(None, (feed or OnnxFeed.of(model))(X))
    parity = compare_predictions(pipeline, X, task, outputs)
    return OnnxExport(
        model if parity.passed else None, parity.reason, parity.max_abs_diff, parity.label_agreement
    )


def compare_predictions(pipeline: Any, X: pd.DataFrame, task: str, outputs: Sequence) -> Parity:
    """`outputs` (classifier: labels, probabilities in `classes_` order; regressor:
    predictions) against the pipeline's own on X."""
    if task == "classification":
        labels = np.asarray(pipeline.predict(X), dtype=object)
        onnx_labels = np.asarray(outputs[0], dtype=object).ravel()
        agreement = float(np.mean(labels == onnx_labels))
        proba = np.asarray(pipeline.predict_proba(X), dtype=np.float64)
        onnx_proba = np.asarray(outputs[1], dtype=np.float64).reshape(proba.shape)
        row_diff = np.max(np.abs(proba - onnx_proba), axis=1)
        max_diff = float(np.max(row_diff))
        within = float(np.mean(row_diff <= PROBA_ATOL))
        reason = None
        if agreement < MIN_LABEL_AGREEMENT:
            shown = next(i for i in range(len(labels)) if labels[i] != onnx_labels[i])
            reason = (
                f"ONNX labels agree with the pipeline on only "
                f"{agreement:.1%} of {len(X)} sample rows (need "
                f"{MIN_LABEL_AGREEMENT:.0%}; e.g. {labels[shown]!r} vs "
                f"{onnx_labels[shown]!r})"
            )
        elif within < MIN_ROWS_WITHIN_TOL:
            reason = (
                f"ONNX probabilities are within {PROBA_ATOL} of the "
                f"pipeline's on only {within:.1%} of the sample rows (max "
                f"difference {max_diff:.3g})"
            )
        return Parity(len(X), max_diff, within, agreement, reason)
    predictions = np.asarray(pipeline.predict(X), dtype=np.float64).ravel()
    onnx_predictions = np.asarray(outputs[0], dtype=np.float64).ravel()
    diff = np.abs(predictions - onnx_predictions)
    diff[np.isnan(diff)] = np.inf
    max_diff = float(np.max(diff))
    spread = float(np.std(predictions)) or max(float(np.max(np.abs(predictions))), 1.0)
    tolerance = REGRESSION_RTOL * spread
    within = float(np.mean(diff <= tolerance))
    reason = None
    if within < MIN_ROWS_WITHIN_TOL:
        reason = (
            f"ONNX predictions are within {tolerance:.3g} "
            f"({REGRESSION_RTOL} x their spread) of the pipeline's on only "
            f"{within:.1%} of the sample rows (max difference {max_diff:.3g})"
        )
    return Parity(len(X), max_diff, within, None, reason)


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


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    for _ in range(min(3, repeats)):  # warm-up: first calls allocate and cache
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0
