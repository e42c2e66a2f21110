"""What mlengine's converters rely on from skl2onnx and sklearn, pinned: the public calls
they make behave as the converters assume (the conversions themselves: test_onnx.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from mlengine import transformers
from mlengine.onnx.converters import register_converters
from mlengine.onnx.sklearn_converters import one_hot_widths
from mlengine.onnx.steps import has_converter


class _Unknown(TransformerMixin, BaseEstimator):
    def fit(self, X: object, y: object = None) -> _Unknown:
        return self


def test_has_converter_follows_skl2onnx_registry() -> None:
    """`skl2onnx.get_model_alias` knows stock and registered classes, raises for others."""
    register_converters()
    assert has_converter(LogisticRegression)
    assert has_converter(OneHotEncoder)
    for cls in (
        transformers.NumericCleaner,
        transformers.BooleanCleaner,
        transformers.CategoryCleaner,
        transformers.DatetimeFeatures,
    ):
        assert has_converter(cls), cls.__name__
    assert not has_converter(_Unknown)
    assert not has_converter(transformers.TextTfidf)


ENCODERS = {
    "plain": {},
    "drop_first": {"drop": "first"},
    "drop_if_binary": {"drop": "if_binary"},
    "min_frequency": {"min_frequency": 30, "handle_unknown": "infrequent_if_exist"},
    "max_categories": {"max_categories": 3, "handle_unknown": "infrequent_if_exist"},
    # the first category ("a") is infrequent: dropping it drops the whole infrequent column
    "drop_first_infrequent": {"drop": "first", "min_frequency": 30},
    "drop_named": {"drop": ["b", "y", "q"], "min_frequency": 5},
}


@pytest.mark.parametrize("params", ENCODERS.values(), ids=ENCODERS.keys())
def test_one_hot_widths_from_public_attributes(params: dict) -> None:
    """Per-feature widths equal those of the same encoder fitted on that column alone
    (OneHotEncoder treats its features independently)."""
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame(
        {
            "f1": rng.choice(["a", "b", "c", "d", "e"], n, p=[0.02, 0.5, 0.3, 0.15, 0.03]),
            "f2": rng.choice(["x", "y"], n),
            "f3": rng.choice(["p", "q", "r", "s", "t", "u"], n),
        }
    )
    encoder = OneHotEncoder(sparse_output=False, **params).fit(X)
    expected = []
    for i, column in enumerate(X.columns):
        single = dict(params)
        if isinstance(params.get("drop"), list):
            single["drop"] = [params["drop"][i]]
        alone = OneHotEncoder(sparse_output=False, **single).fit(X[[column]])
        expected.append(len(alone.get_feature_names_out()))
    assert one_hot_widths(encoder) == expected
    assert sum(expected) == encoder.transform(X).shape[1]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_nearest_neighbours_convert_to_onnx_runtime_s_distance_kernel(task: str) -> None:
    """k-NN goes through CDist (skl2onnx's `optim="cdist"`): its default distance loop made
    one row ~15 ms, slower than sklearn; the answers stay sklearn's."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlengine.onnx import convert_pipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    y = (X["a"] + X["b"] > 0).astype(int) if task == "classification" else X["a"] * 2
    knn = KNeighborsClassifier() if task == "classification" else KNeighborsRegressor()
    pipeline = Pipeline([("scale", StandardScaler()), ("model", knn)]).fit(X, y)
    converted = convert_pipeline(pipeline, X.head(50), task)
    assert converted.model is not None, converted.reason
    assert "CDist" in {node.op_type for node in converted.model.graph.node}
    assert converted.max_abs_diff < 1e-4  # parity with sklearn on the sample


def test_a_plain_sklearn_pipeline_converts_at_the_opset_skl2onnx_picks() -> None:
    """A scaler and a linear model (as handed to `+task=optimize`) get opset 11 from
    skl2onnx; the label nodes mlengine adds must exist at that opset."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlengine.onnx import convert_pipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = np.where(X["a"] > 0, "yes", "no")
    scale = ColumnTransformer([("scale", StandardScaler(), ["a", "b", "c"])])
    pipeline = Pipeline([("prepare", scale), ("model", LogisticRegression())]).fit(X, y)
    converted = convert_pipeline(pipeline, X.head(50), "classification")
    assert converted.model is not None, converted.reason
    assert converted.label_agreement == 1.0


def test_a_calibrated_svm_converts_without_sklearn_s_deprecation_notice() -> None:
    """skl2onnx reads SVC.probA_, deprecated in sklearn 1.9: the user saw two FutureWarnings
    on every SVM run's export."""
    import warnings

    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from mlengine.onnx import convert_pipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = np.where(X["a"] + X["b"] > 0, "yes", "no")
    svm = CalibratedClassifierCV(SVC(), ensemble=False, cv=3)
    pipeline = Pipeline([("scale", StandardScaler()), ("model", svm)]).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = convert_pipeline(pipeline, X.head(50), "classification")
    assert converted.model is not None, converted.reason
    assert not [str(w.message)[:80] for w in caught if issubclass(w.category, FutureWarning)]
