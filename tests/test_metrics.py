"""Metrics by name: unknown names refused, and a holdout metric that does not apply is
skipped with a logged reason, never dropped silently."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mlengine.config import ConfigError
from mlengine.metrics import holdout_scores, score_predictions


def test_an_unknown_metric_name_is_refused_not_scored_as_mae() -> None:
    with pytest.raises(ValueError, match="unknown metric 'rmsee'"):
        score_predictions("rmsee", [1.0, 2.0], predictions=[1.0, 2.0])


def test_mape_on_a_zero_target_is_a_config_error_naming_the_metric() -> None:
    with pytest.raises(ConfigError, match="search.metric=mape"):
        score_predictions("mape", [0.0, 2.0], predictions=[1.0, 2.0])


def test_holdout_metrics_that_do_not_apply_are_logged(caplog) -> None:
    y, pred = np.array([0.0, 1.0, 2.0, 4.0]), np.array([0.5, 1.0, 2.5, 3.0])
    with caplog.at_level(logging.INFO, logger="mlengine.metrics"):
        scores = holdout_scores("regression", y, pred)
    assert set(scores) == {"r2", "rmse", "mae"}
    assert "Holdout mape not computed: a holdout target is 0" in caplog.text

    caplog.clear()
    labels = np.array(["a", "a", "a"])  # one class in the holdout: no ROC AUC
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    with caplog.at_level(logging.INFO, logger="mlengine.metrics"):
        scores = holdout_scores("classification", labels, labels, proba, np.array(["a", "b"]))
    assert scores["accuracy"] == 1.0 and "roc_auc" not in scores
    assert "Holdout roc_auc not computed" in caplog.text
