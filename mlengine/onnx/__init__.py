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
"04/03/2021") cannot be written in ONNX operators, so the feed (`OnnxFeed`, `onnx_feed`)
does it at the boundary with the very functions the cleaners call (`mlengine.serving.coerce`); the
recipe per column is stored in the model's metadata (`mlengine.feed`), and checked against
the table schema (schema.json beside the exported model) when one is given. Clients that
build the feed themselves send already-typed values; the graph still maps the common
missing markers ("", "NA", "n/a", "null", ...) of string columns and infinities of numeric
ones to missing.

Classifiers output `label` (the user's own classes: strings stay strings) and
`probabilities` [N, n_classes] in `classes_` order (no ZipMap); regressors output
`variable` [N, 1].

Modules, one job each:
- `feed`: raw rows -> input tensors (numpy and pandas only: what a server needs);
- `convert`: pipeline -> ONNX (inputs, options, labels) and the checked `convert_pipeline`;
- `steps`: walking the pipeline, and which step cannot convert;
- `converters`, `sklearn_converters`, `model_converters` (with `ops`): the skl2onnx
  converters for mlengine's transformers, for sklearn steps the stock ones miss, and for
  XGBoost and the PyTorch MLP;
- `parity`: the converted model against the pipeline (predictions, latency).

Names are imported on first use, so `import mlengine.serving.feed` loads no converter.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FEED_METADATA_KEY": "mlengine.serving.feed",
    "MISSING_STRING": "mlengine.serving.feed",
    "FeedInput": "mlengine.serving.feed",
    "OnnxFeed": "mlengine.serving.feed",
    "onnx_feed": "mlengine.serving.feed",
    "read_schema": "mlengine.serving.feed",
    "LABEL_TIE_TOL": ".convert",
    "TARGET_OPSET": ".convert",
    "convert_pipeline": ".convert",
    "input_recipes": ".convert",
    "to_onnx": ".convert",
    "unsupported_step": ".steps",
    "MIN_LABEL_AGREEMENT": ".parity",
    "MIN_ROWS_WITHIN_TOL": ".parity",
    "PROBA_ATOL": ".parity",
    "REGRESSION_RTOL": ".parity",
    "OnnxExport": ".parity",
    "Parity": ".parity",
    "check_parity": ".parity",
    "compare_predictions": ".parity",
    "make_session": ".parity",
    "median_ms": ".parity",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'mlengine.onnx' has no attribute {name!r}")
