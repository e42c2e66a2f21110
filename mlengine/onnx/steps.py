"""Walking a fitted pipeline: the estimators inside it, the columns each reads, and which
step (on which columns) cannot convert, said before any converter runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def unsupported_step(pipeline: Any) -> str | None:
    """A one-line reason naming the first step that cannot convert, else None.

    Checked before converting, so the reason names the step and its columns instead of a
    converter's internal error.
    """
    for step, columns in leaf_steps(pipeline, None):
        name = type(step).__name__
        where = on_columns(columns)
        reason = _known_blocker(step)
        if reason:
            return f"{name}{where} {reason}"
        if not has_converter(type(step)):
            return f"{name}{where} has no ONNX converter"
    return None


def has_converter(cls: type) -> bool:
    """Whether skl2onnx knows a converter for this class (its own, or one registered).

    `skl2onnx.get_model_alias` (exported at the package's top level) raises RuntimeError
    for a class without one; pinned by a test.
    """
    from skl2onnx import get_model_alias

    try:
        get_model_alias(cls)
    except RuntimeError:
        return False
    return True


def leaf_steps(step: Any, columns: list[str] | None) -> Iterator[tuple[Any, list[str] | None]]:
    """Every estimator inside Pipelines / ColumnTransformers, with the columns it reads."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            if inner is not None and inner != "passthrough":
                yield from leaf_steps(inner, columns)
    elif isinstance(step, ColumnTransformer):
        for _, inner, selected in getattr(step, "transformers_", step.transformers):
            if isinstance(inner, str):  # "drop" / "passthrough"
                continue
            yield from leaf_steps(inner, _column_names(step, selected))
    else:
        yield step, columns


def first_steps(step: Any, columns: list[str]) -> Iterator[tuple[Any, list[str]]]:
    """The first estimator each raw column meets, with the columns it receives."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        inner = [s for _, s in step.steps if s is not None and s != "passthrough"]
        if inner:
            yield from first_steps(inner[0], columns)
    elif isinstance(step, ColumnTransformer):
        for _, inner, selected in getattr(step, "transformers_", step.transformers):
            if not isinstance(inner, str):
                yield from first_steps(inner, _column_names(step, selected))
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


def on_columns(columns: list[str] | None) -> str:
    if not columns:
        return ""
    shown = ", ".join(f"'{c}'" for c in columns[:5]) + (", ..." if len(columns) > 5 else "")
    return f" on column{'s' if len(columns) > 1 else ''} {shown}"


def _known_blocker(step: Any) -> str | None:
    """Steps that have a converter in general but not in this configuration."""
    from sklearn.preprocessing import FunctionTransformer

    from mlengine.transformers import NativeCategories, TextTfidf

    if isinstance(step, FunctionTransformer) and step.func is not None:
        # skl2onnx registers a converter for the class, which then refuses any func.
        func = getattr(step.func, "__name__", type(step.func).__name__)
        return (
            f"(func={func}) runs Python code, which has no ONNX form "
            "(skl2onnx converts only func=None, the identity)"
        )
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
