"""Bootstrap intervals of the holdout metrics (mlengine/intervals.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mlengine.intervals import _classification, _regression, bootstrap_intervals


def _classifier_rows(n: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.array(["ant", "bee", "cat", "dog"][:k], dtype=object)
    y = labels[rng.integers(0, k, n)]
    logits = rng.normal(size=(n, k)) + 1.5 * (y[:, None] == labels[None, :])
    logits[:, 0] = np.round(logits[:, 0], 1)  # ties in the scores
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = labels[np.argmax(proba, axis=1)]
    return y, pred, proba, labels


@pytest.mark.parametrize("k", [2, 3, 4])
def test_vectorised_metrics_equal_sklearns_on_the_identity_resample(k: int) -> None:
    y, pred, proba, labels = _classifier_rows(300, k)
    stats = _classification(y, pred, proba, labels)
    identity = np.arange(len(y))[None, :]
    onehot = y[:, None] == labels[None, :]
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, average="macro"),
        "log_loss": skm.log_loss(y, proba, labels=labels),
        "roc_auc": skm.roc_auc_score(y, proba[:, 1])
        if k == 2
        else skm.roc_auc_score(y, proba, multi_class="ovr", labels=labels),
        "pr_auc": skm.average_precision_score(y == labels[1], proba[:, 1])
        if k == 2
        else skm.average_precision_score(onehot, proba, average="macro"),
    }
    for name, value in expected.items():
        assert stats[name](identity)[0] == pytest.approx(value, abs=1e-12), name


def test_vectorised_regression_metrics_equal_sklearns() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(50, 10, 200)
    pred = y + rng.normal(0, 3, 200)
    stats = _regression(y, pred)
    identity = np.arange(200)[None, :]
    assert stats["r2"](identity)[0] == pytest.approx(skm.r2_score(y, pred))
    assert stats["rmse"](identity)[0] == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert stats["mae"](identity)[0] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert stats["mape"](identity)[0] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))
    assert "mape" not in _regression(np.r_[y, 0.0], np.r_[pred, 1.0])  # undefined at y = 0


def _synthetic(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25, n), 0.01, 0.99)
    return y, (p > 0.5).astype(int), np.c_[1 - p, p]


def test_the_interval_holds_the_estimate_and_narrows_as_the_split_grows() -> None:
    widths = {}
    for n in (200, 2000):
        y, pred, proba = _synthetic(n, seed=n)
        found = bootstrap_intervals(
            "classification",
            y,
            predictions=pred,
            proba=proba,
            classes=np.array([0, 1]),
            metrics=["accuracy", "roc_auc", "log_loss"],
            seed=0,
        )
        point = {
            "accuracy": skm.accuracy_score(y, pred),
            "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
            "log_loss": skm.log_loss(y, proba),
        }
        for name, (low, high) in found.items():
            assert low <= point[name] <= high, (n, name)
        widths[n] = {name: high - low for name, (low, high) in found.items()}
    for name in widths[200]:
        # ~sqrt(10) narrower with 10x the rows; at least 2x for a test that cannot flake
        assert widths[2000][name] * 2 < widths[200][name], name


def test_a_rare_class_is_in_every_resample_and_the_seed_repeats() -> None:
    y = np.r_[np.zeros(195, int), np.ones(5, int)]
    rng = np.random.default_rng(3)
    p = np.clip(0.2 + 0.5 * y + rng.normal(0, 0.2, 200), 0.01, 0.99)
    kwargs = dict(predictions=(p > 0.5).astype(int), proba=np.c_[1 - p, p], classes=[0, 1])
    first = bootstrap_intervals("classification", y, metrics=["roc_auc"], seed=7, **kwargs)
    again = bootstrap_intervals("classification", y, metrics=["roc_auc"], seed=7, **kwargs)
    assert first == again and np.isfinite(first["roc_auc"]).all()
