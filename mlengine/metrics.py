"""Scoring metrics by name: what the study optimises and what the holdout reports."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlengine.config import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metric:
    name: str
    task: str  # classification | regression
    direction: str  # maximize | minimize
    needs_proba: bool = False


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", "classification", "maximize"),
        Metric("balanced_accuracy", "classification", "maximize"),
        Metric("f1_macro", "classification", "maximize"),
        Metric("roc_auc", "classification", "maximize", needs_proba=True),
        Metric("log_loss", "classification", "minimize", needs_proba=True),
        # average precision: of the second class (binary), macro over classes otherwise
        Metric("pr_auc", "classification", "maximize", needs_proba=True),
        Metric("r2", "regression", "maximize"),
        Metric("rmse", "regression", "minimize"),
        Metric("mae", "regression", "minimize"),
        Metric("mape", "regression", "minimize"),  # undefined where a target is 0
    )
}

HOLDOUT_METRICS = {
    "classification": (
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "roc_auc",
        "pr_auc",
        "log_loss",
    ),
    "regression": ("r2", "rmse", "mae", "mape"),
}


def default_metric(task: str, n_classes: int = 0) -> str:
    """ROC AUC for binary problems (threshold-free), accuracy for multiclass, R2 otherwise."""
    if task == "regression":
        return "r2"
    return "roc_auc" if n_classes == 2 else "accuracy"


def score(name: str, model: Any, X: Any, y: Any) -> float:
    """Score a fitted model on (X, y) with the named metric."""
    if METRICS[name].needs_proba:
        return score_predictions(name, y, proba=model.predict_proba(X), classes=model.classes_)
    return score_predictions(name, y, predictions=model.predict(X))


def score_predictions(
    name: str, y: Any, *, predictions: Any = None, proba: Any = None, classes: Any = None
) -> float:
    """The named metric of predicted labels / values, or of probabilities (`classes` order)."""
    from sklearn import metrics as skm

    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}")
    if METRICS[name].needs_proba:
        if name == "log_loss":
            return float(skm.log_loss(y, proba, labels=classes))
        if name == "pr_auc":
            return _average_precision(y, proba, classes)
        if proba.shape[1] == 2:
            return float(skm.roc_auc_score(y, proba[:, 1]))
        return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    pred = predictions
    if name == "accuracy":
        return float(skm.accuracy_score(y, pred))
    if name == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y, pred))
    if name == "f1_macro":
        return float(skm.f1_score(y, pred, average="macro"))
    if name == "r2":
        return float(skm.r2_score(y, pred))
    if name == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y, pred)))
    if name == "mape":
        if np.any(np.asarray(y, dtype=float) == 0):
            raise ConfigError("search.metric=mape", "is undefined where the target is 0")
        return float(skm.mean_absolute_percentage_error(y, pred))
    return float(skm.mean_absolute_error(y, pred))  # mae: every other name is refused above


def _average_precision(y: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import average_precision_score

    classes = np.asarray(classes)
    if proba.shape[1] == 2:
        return float(average_precision_score(np.asarray(y) == classes[1], proba[:, 1]))
    indicators = np.asarray(y)[:, None] == classes[None, :]
    return float(average_precision_score(indicators, proba, average="macro"))


def holdout_predictions(task: str, model: Any, X: Any) -> tuple[Any, Any]:
    """(predictions, probabilities or None): each computed once for every metric."""
    predictions = model.predict(X)
    proba = (
        model.predict_proba(X)
        if task == "classification" and hasattr(model, "predict_proba")
        else None
    )
    return predictions, proba


def holdout_scores(
    task: str, y: Any, predictions: Any, proba: Any = None, classes: Any = None
) -> dict[str, float]:
    """Every metric of the task that applies: ROC AUC needs two classes in y, MAPE no
    zero target, probability metrics a model with predict_proba."""
    scores = {}
    for name in HOLDOUT_METRICS[task]:
        if METRICS[name].needs_proba and proba is None:
            log.info("Holdout %s not computed: the model gives no probabilities", name)
            continue
        if name == "mape" and np.any(np.asarray(y, dtype=float) == 0):
            log.info("Holdout mape not computed: a holdout target is 0")
            continue
        try:
            value = score_predictions(
                name, y, predictions=predictions, proba=proba, classes=classes
            )
        except ValueError as error:  # e.g. a class absent from a small holdout
            log.warning("Holdout %s not computed: %s", name, error)
            continue
        if not np.isfinite(value):  # sklearn's answer where a metric is undefined
            log.warning("Holdout %s not computed: undefined on these rows", name)
            continue
        scores[name] = value
    return scores
