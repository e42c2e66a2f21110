"""search.ensemble: greedy selection on out-of-fold predictions, and the exported blend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlengine.ensemble import WeightedEnsemble, select


def test_complementary_members_are_blended() -> None:
    """Two regressors wrong in opposite directions: their average beats either alone."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    noise = rng.normal(scale=0.5, size=400)
    oof = {0: y + noise, 1: y - noise, 2: y + 2 * noise}
    values = {n: -float(np.sqrt(np.mean((p - y) ** 2))) for n, p in oof.items()}
    weights = select(oof, {n: -v for n, v in values.items()}, y, "rmse", 3, classes=None)
    assert set(weights) == {0, 1}
    assert weights[0] == pytest.approx(0.5) and sum(weights.values()) == pytest.approx(1.0)


def test_a_single_best_member_is_not_blended_with_worse_ones() -> None:
    labels = np.array(["a", "b"])
    y = np.array(["a", "b"] * 50)
    perfect = np.where(y[:, None] == labels, 0.9, 0.1)
    worse = np.full((100, 2), 0.5)
    weights = select({0: perfect, 1: worse}, {0: 1.0, 1: 0.5}, y, "accuracy", 2, labels)
    assert weights == {0: 1.0}


def test_weighted_ensemble_averages_its_members() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    first = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
    second = make_pipeline(Ridge(alpha=10.0)).fit(X, y)
    blend = WeightedEnsemble([first, second], [0.75, 0.25])
    expected = 0.75 * first.predict(X) + 0.25 * second.predict(X)
    np.testing.assert_allclose(blend.predict(X), expected)


@pytest.mark.slow
def test_auto_ensemble_is_exported_and_served(workdir: Path) -> None:
    import mlflow.pyfunc
    from sklearn.datasets import load_diabetes

    from mlengine import run_experiment

    # Regression: averaging models of different families cuts their variance, so the
    # selection blends (on a classification table a single model may well stay best).
    result = run_experiment(
        ["model=auto", "dataset=diabetes", "search.n_trials=12", "search.cv_folds=3"]
        + ["eda=off", "search.ensemble=4", "search.metric=rmse"]
    )
    assert isinstance(result.pipeline, WeightedEnsemble)
    assert 2 <= len(result.ensemble) <= 4 and sum(result.ensemble.values()) == pytest.approx(1)
    X, _ = load_diabetes(return_X_y=True, as_frame=True)
    served = mlflow.pyfunc.load_model(str(result.model_path)).predict(X)
    np.testing.assert_allclose(served, result.pipeline.predict(X))
    assert result.onnx_path is None and result.onnx_reason
