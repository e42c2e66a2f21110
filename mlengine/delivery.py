"""A run's last step: the served forms, the parity gate, measurements, registry.

Two MLflow models are written side by side: `NAME/` (the native pipeline, skops) and
`NAME_onnx/` (ONNX Runtime behind a lean pyfunc, see `mlengine.onnx_pyfunc`) where the
pipeline converts. The ONNX form is loaded as the scoring server loads it and must answer
the holdout rows like the native pipeline (`mlengine.onnx.parity` states the
tolerances); one that does not is removed and the native form is served instead. Each form's
size, serving-environment size and latency (1 row, 1,000 rows) are measured through
`mlflow.pyfunc`, the path a server takes. The served form is the one registered.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
ROW_REPEATS = 30  # single-row calls timed per form (the median is kept)
BATCH_REPEATS = 3


@dataclass
class ServedForm:
    """One exported MLflow model and what it costs to serve."""

    kind: str  # native | onnx
    path: Path
    model_uri: str
    size_bytes: int
    serving_env_bytes: int
    latency_1row_ms: float
    latency_1000rows_ms: float
    requirements: list[str]
    parity: dict[str, Any] | None = None  # the ONNX form against the native one

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


@dataclass
class Delivery:
    forms: list[ServedForm] = field(default_factory=list)
    onnx_reason: str | None = None  # why there is no ONNX form

    @property
    def served(self) -> ServedForm:
        """The ONNX form where it passed the gate, else the native one."""
        return self.forms[-1]

    def form(self, kind: str) -> ServedForm | None:
        return next((f for f in self.forms if f.kind == kind), None)


def deliver(
    pipeline: Any,
    X_train: pd.DataFrame,
    X_holdout: pd.DataFrame,
    task: str,
    out_dir: Path,
    name: str,
    *,
    schema: Any,
    unused_columns: list[str],
    onnx: bool,
) -> Delivery:
    """Export the native form, then the ONNX form where it converts and passes the gate.

    Logs both to the active MLflow run. `X_holdout`: rows the sweep never saw (the gate's);
    `X_train`: the conversion's sample and the latency rows.
    """
    from mlengine.export import export_model

    native = export_model(pipeline, X_train, out_dir, name, unused_columns, schema, task)
    batch = X_train.sample(BATCH_ROWS, replace=len(X_train) < BATCH_ROWS, random_state=0)
    delivery = Delivery([measure_form("native", native.path, native.model_uri, batch)])
    if onnx:
        try:
            form = _onnx_form(pipeline, X_train, X_holdout, task, out_dir, name, schema, native)
        except _NotServed as refused:
            delivery.onnx_reason = str(refused)
        else:
            path, uri, parity = form
            delivery.forms.append(measure_form("onnx", path, uri, batch, parity))
    return delivery


class _NotServed(Exception):
    """The ONNX form is not handed out: the message says why."""


def _onnx_form(
    pipeline: Any,
    X_train: pd.DataFrame,
    X_holdout: pd.DataFrame,
    task: str,
    out_dir: Path,
    name: str,
    schema: Any,
    native: Any,
) -> tuple[Path, str, dict[str, Any]]:
    """(folder, model URI, parity) of the ONNX form; raises _NotServed with the reason."""
    from mlengine.export import safe_child
    from mlengine.onnx import compare_predictions, convert_pipeline
    from mlengine.onnx_pyfunc import load_served, log_onnx_model, save_onnx_model, served_outputs

    sample = X_train.sample(min(len(X_train), 500), random_state=0)
    converted = convert_pipeline(pipeline, sample, task, schema)
    if converted.model is None:
        raise _NotServed(converted.reason)
    classes = getattr(pipeline, "classes_", None) if task == "classification" else None
    form = (converted.model, schema, task, classes, native.signature, X_train.head(5))
    path = safe_child(out_dir, f"{name}_onnx")
    save_onnx_model(*form, path)
    rows = X_holdout if len(X_holdout) else sample
    outputs = served_outputs(load_served(path), rows, task)
    parity = compare_predictions(pipeline, rows, task, outputs)
    if not parity.passed:
        shutil.rmtree(path)  # a form that answers differently is never handed out
        raise _NotServed(f"parity on {parity.rows} holdout rows failed: {parity.reason}")
    uri = log_onnx_model(*form, f"{name}_onnx")
    return path, uri, {**asdict(parity), "thresholds": parity.thresholds(), "rows_from": "holdout"}


def measure_form(
    kind: str, path: Path, uri: str, batch: pd.DataFrame, parity: dict | None = None
) -> ServedForm:
    """An MLflow model folder's size, serving-environment size and latency through
    `mlflow.pyfunc` (1 row, then `batch`), as a server loads and calls it."""
    from mlengine.env_size import folder_bytes, installed_bytes, model_requirements
    from mlengine.onnx.parity import median_ms
    from mlengine.onnx_pyfunc import load_served

    model = load_served(path)
    row = batch.iloc[:1]
    requirements = model_requirements(path)
    return ServedForm(
        kind=kind,
        path=path,
        model_uri=uri,
        size_bytes=folder_bytes(path),
        serving_env_bytes=installed_bytes(requirements),
        latency_1row_ms=median_ms(lambda: model.predict(row), ROW_REPEATS),
        latency_1000rows_ms=median_ms(lambda: model.predict(batch), BATCH_REPEATS),
        requirements=requirements,
        parity=parity,
    )
