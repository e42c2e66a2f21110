"""ONNX export: every family the runner builds converts and agrees with its pipeline, labels
stay the user's own, and what cannot convert says which step (and column) is to blame.

Pipelines are built as the runner builds them (`features.build_preprocessor` + estimator),
on raw columns with NaN, inf, missing markers, an unseen category, dates and booleans.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from mlengine.config import FeaturesConfig, ModelConfig
from mlengine.features import build_preprocessor
from mlengine.onnx import (
    MIN_LABEL_AGREEMENT,
    MISSING_STRING,
    PROBA_ATOL,
    check_parity,
    convert_pipeline,
    make_session,
    onnx_feed,
    to_onnx,
)
from mlengine.serving.feed import as_strings

TYPES = {
    "age": "numeric",
    "income": "numeric",
    "member": "boolean",
    "city": "categorical",
    "color": "categorical",
    "joined": "datetime",
}
CITIES = ["paris", "rome", "oslo", "lima", "quito"]


def _frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.integers(1_000, 90_000, n),
            "member": rng.random(n) > 0.5,
            "city": pd.Series(rng.choice(CITIES, n, p=[0.4, 0.3, 0.2, 0.095, 0.005]), dtype="str"),
            "color": pd.Series(rng.choice(["red", "green", "blue"], n), dtype="str"),
            "joined": pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 2_000, n), "D"),
        }
    )
    X.loc[::17, "age"] = np.nan
    X.loc[::23, "city"] = np.nan
    return X


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    X = _frame(500, rng)
    sample = _frame(200, rng)
    sample.loc[0, "age"] = np.inf  # the cleaner makes it missing
    sample.loc[1, "city"] = "tokyo"  # unseen category
    sample.loc[2, "color"] = "NA"  # missing marker
    sample.loc[3, "city"] = "  rome "  # the cleaner trims
    sample.loc[4, "income"] = np.nan
    score = (X["age"].fillna(40) - 40) / 10 + (X["city"] == "paris") * 1.5 + X["member"] * 0.5
    return {
        "X": X,
        "sample": sample,
        "binary": pd.Series(np.where(score + rng.normal(0, 1, len(X)) > 0.5, "yes", "no")),
        "multi": pd.Series(
            np.array(["low", "mid", "high"])[np.clip((score + 1.5).round().astype(int), 0, 2)]
        ),
        "price": pd.Series(score * 1_000 + 50_000 + rng.normal(0, 100, len(X))),
    }


def _pipeline(
    estimator: Any,
    scale: bool,
    encoding: str,
    types: dict[str, str] = TYPES,
    features: FeaturesConfig | None = None,
) -> Pipeline:
    target = f"{type(estimator).__module__}.{type(estimator).__qualname__}"
    model = ModelConfig(
        name="test", classifier={"_target_": target}, scale=scale, encoding=encoding
    )
    preprocess = build_preprocessor(types, model, features or FeaturesConfig())
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def _check_classifier(pipeline: Pipeline, sample: pd.DataFrame, classes: set[str]) -> None:
    """Converted, within tolerance, and the served labels are the original strings."""
    result = convert_pipeline(pipeline, sample, "classification")
    assert result.model is not None, result.reason
    assert result.reason is None
    assert result.label_agreement is not None and result.label_agreement >= MIN_LABEL_AGREEMENT
    assert result.max_abs_diff is not None and result.max_abs_diff < PROBA_ATOL
    labels, probabilities = make_session(result.model).run(None, onnx_feed(result.model, sample))
    assert all(isinstance(label, str) for label in labels) and set(labels) <= classes
    assert np.mean(labels == pipeline.predict(sample)) >= MIN_LABEL_AGREEMENT
    assert probabilities.shape == (len(sample), len(classes))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def _check_regressor(pipeline: Pipeline, sample: pd.DataFrame) -> None:
    result = convert_pipeline(pipeline, sample, "regression")
    assert result.model is not None, result.reason
    assert result.label_agreement is None
    predicted = pipeline.predict(sample)
    # float32 graph vs float64 pipeline: relative error ~1e-6 of prices around 50 000
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4 * np.ptp(predicted)
    (variable,) = make_session(result.model).run(None, onnx_feed(result.model, sample))
    assert variable.shape == (len(sample), 1)


CLASSIFIERS = {
    "logistic_regression": (lambda: LogisticRegression(max_iter=2_000), True, "onehot"),
    "random_forest": (lambda: RandomForestClassifier(40, random_state=0), False, "ordinal"),
    # 10 trees: 5/5 ties are common, and sklearn breaks them toward the first class
    "extra_trees_ties": (lambda: ExtraTreesClassifier(10, random_state=0), False, "ordinal"),
    "hist_gradient_boosting": (
        lambda: HistGradientBoostingClassifier(max_iter=50),
        False,
        "ordinal",
    ),
}


@pytest.mark.parametrize("target", ["binary", "multi"])
@pytest.mark.parametrize("family", sorted(CLASSIFIERS))
def test_sklearn_classifiers_convert_with_original_labels(
    data: dict, family: str, target: str
) -> None:
    make, scale, encoding = CLASSIFIERS[family]
    y = data[target]
    pipeline = _pipeline(make(), scale, encoding).fit(data["X"], y)
    _check_classifier(pipeline, data["sample"], set(y))


@pytest.mark.parametrize(
    "make, scale, encoding",
    [
        (lambda: Ridge(), True, "onehot"),
        (lambda: HistGradientBoostingRegressor(max_iter=50), False, "ordinal"),
    ],
    ids=["ridge", "hist_gradient_boosting"],
)
def test_sklearn_regressors_convert(data: dict, make: Any, scale: bool, encoding: str) -> None:
    pipeline = _pipeline(make(), scale, encoding).fit(data["X"], data["price"])
    _check_regressor(pipeline, data["sample"])


@pytest.mark.parametrize("target", ["binary", "multi"])
def test_xgboost_label_classifier_keeps_string_labels(data: dict, target: str) -> None:
    from mlengine.models.xgb import XGBLabelClassifier

    y = data[target]
    estimator = XGBLabelClassifier(n_estimators=30, max_depth=4, n_jobs=1)
    pipeline = _pipeline(estimator, False, "ordinal").fit(data["X"], y)
    _check_classifier(pipeline, data["sample"], set(y))


def test_xgboost_regressor_converts(data: dict) -> None:
    from xgboost import XGBRegressor

    estimator = XGBRegressor(n_estimators=30, max_depth=4, n_jobs=1)
    pipeline = _pipeline(estimator, False, "ordinal").fit(data["X"], data["price"])
    _check_regressor(pipeline, data["sample"])


def test_torch_mlp_classifier_is_inlined_after_preprocessing(data: dict) -> None:
    from mlengine.models.torch_mlp import TorchMLPClassifier

    y = data["multi"]
    estimator = TorchMLPClassifier(max_epochs=3, hidden_size=16, device="cpu")
    pipeline = _pipeline(estimator, True, "onehot").fit(data["X"], y)
    _check_classifier(pipeline, data["sample"], set(y))


def test_torch_mlp_regressor_is_inlined_after_preprocessing(data: dict) -> None:
    from mlengine.models.torch_mlp import TorchMLPRegressor

    estimator = TorchMLPRegressor(max_epochs=3, hidden_size=16, device="cpu")
    pipeline = _pipeline(estimator, True, "onehot").fit(data["X"], data["price"])
    _check_regressor(pipeline, data["sample"])


def test_a_torch_conversion_leaves_other_threads_output_alone(
    data: dict, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """Lines another thread prints while the MLP converts all arrive (nothing redirects
    the process's stdout), and the export's onnxscript notice (a WARNING) is not logged."""
    from mlengine.models.torch_mlp import TorchMLPRegressor

    estimator = TorchMLPRegressor(max_epochs=2, hidden_size=8, device="cpu")
    pipeline = _pipeline(estimator, True, "onehot").fit(data["X"], data["price"])
    capsys.readouterr()
    done, printed = threading.Event(), []

    def chatter() -> None:
        while not done.is_set():
            print(f"tick {len(printed)}")
            printed.append(len(printed))
            time.sleep(0.002)

    worker = threading.Thread(target=chatter)
    with caplog.at_level(logging.WARNING):
        worker.start()
        try:
            result = convert_pipeline(pipeline, data["sample"], "regression")
        finally:
            done.set()
            worker.join()
    assert result.model is not None, result.reason
    assert printed and capsys.readouterr().out.splitlines() == [f"tick {i}" for i in printed]
    assert not [r for r in caplog.records if r.name.startswith("onnxscript")]


def test_the_export_notice_is_dropped_for_the_exporting_thread_only() -> None:
    from mlengine.onnx.model_converters import quiet_export

    logger = logging.getLogger("onnxscript.version_converter")
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    stdout, stderr = sys.stdout, sys.stderr
    try:
        with quiet_export():
            assert sys.stdout is stdout and sys.stderr is stderr
            logger.warning("this thread's notice")
            other = threading.Thread(target=logger.warning, args=("another thread's notice",))
            other.start()
            other.join()
            logger.error("this thread's error")
        logger.warning("after the export")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert seen == ["another thread's notice", "this thread's error", "after the export"]
    assert not logger.filters


def test_graph_takes_one_typed_input_per_raw_column(data: dict) -> None:
    pipeline = _pipeline(LogisticRegression(max_iter=2_000), True, "onehot")
    pipeline.fit(data["X"], data["binary"])
    model = convert_pipeline(pipeline, data["sample"], "classification").model
    assert model is not None
    inputs = {i.name: (i.type, i.shape) for i in make_session(model).get_inputs()}
    assert inputs == {
        "age": ("tensor(float)", [None, 1]),
        "income": ("tensor(float)", [None, 1]),
        "member": ("tensor(float)", [None, 1]),
        "city": ("tensor(string)", [None, 1]),
        "color": ("tensor(string)", [None, 1]),
        "joined": ("tensor(double)", [None, 1]),
    }
    assert [o.name for o in make_session(model).get_outputs()] == ["label", "probabilities"]
    with pytest.raises(KeyError, match="column 'city' is missing"):
        onnx_feed(model, data["sample"].drop(columns="city"))


def test_messy_raw_cells_read_as_the_pipeline_reads_them() -> None:
    """Numeric text, yes/no, number-coded categories, text and tz-aware dates."""
    from mlengine.data import infer_column_types

    rng = np.random.default_rng(1)
    n = 300
    X = pd.DataFrame(
        {
            "price": [
                f"{v:,.0f}" if i % 3 else f"${v:.2f}"
                for i, v in enumerate(rng.uniform(100, 5_000, n))
            ],
            "rate": [f"{v:.1f}%" for v in rng.uniform(0, 100, n)],
            "ok": rng.choice(["yes", "no", "Y", "n", " n/a "], n),
            "code": rng.choice([1, 2, 3, 7], n).astype(float),
            "day": [
                f"{d:02d}/{m:02d}/2021"
                for d, m in zip(rng.integers(1, 29, n), rng.integers(1, 13, n), strict=True)
            ],
            "stamp": pd.Timestamp("2021-06-01", tz="Europe/Paris")
            + pd.to_timedelta(rng.integers(0, 10**6, n), "min"),
        }
    )
    X.loc[::13, "code"] = np.nan
    X.loc[::7, "price"] = "?"
    y = pd.Series(rng.normal(size=n))
    types = infer_column_types(X)
    assert types["code"] == "categorical" and types["day"] == "datetime"
    sample = X.sample(120, random_state=0).reset_index(drop=True)
    sample.loc[0, "code"] = 9.0  # unseen code
    sample.loc[1, "day"] = "31/12/2030"
    sample.loc[2, "price"] = "inf"
    sample.loc[3, "ok"] = "maybe"
    pipeline = _pipeline(Ridge(), True, "onehot", types).fit(X, y)
    result = convert_pipeline(pipeline, sample, "regression")
    assert result.model is not None, result.reason
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4


def test_dataset_missing_markers_are_missing_in_the_onnx_feed(data: dict) -> None:
    """dataset.na_values ("unknown", -1) reach the served graph as they reached the pipeline."""
    X = data["X"].copy()
    X.loc[::9, "city"] = "unknown"
    X.loc[::11, "income"] = -1
    model = ModelConfig(
        name="t", classifier={"_target_": "sklearn.linear_model.LogisticRegression"}, scale=True
    )
    preprocess = build_preprocessor(TYPES, model, FeaturesConfig(), na_values=["unknown", "-1"])
    pipeline = Pipeline([("preprocess", preprocess), ("model", LogisticRegression())])
    pipeline.fit(X, data["binary"])
    marked = X.iloc[:12]
    blank = marked.assign(
        city=marked["city"].mask(marked["city"] == "unknown"),
        income=marked["income"].mask(marked["income"] == -1),
    )
    np.testing.assert_array_equal(preprocess.transform(marked), preprocess.transform(blank))
    result = convert_pipeline(pipeline, X.iloc[:200], "classification")
    assert result.model is not None, result.reason
    fed, fed_blank = onnx_feed(result.model, marked), onnx_feed(result.model, blank)
    for name in ("city", "income"):
        np.testing.assert_array_equal(fed[name], fed_blank[name])
    assert (fed["city"][::9] == "").all()  # the graph's missing category


def test_date_parts_are_exact_over_two_centuries() -> None:
    """The graph's calendar arithmetic against pandas, leap days and pre-1970 included."""
    from mlengine.transformers import DatetimeFeatures

    stamps = pd.Series(
        pd.to_datetime(
            [
                "1900-03-01 00:00",
                "1955-12-31 23:59",
                "1969-12-31 23:00",
                "1970-01-01 00:00",
                "2000-02-29 12:30",
                "2024-02-29 06:00",
                "2099-12-31 18:45",
                "2100-03-01 01:00",
            ]
        ).append(pd.DatetimeIndex([pd.NaT]))
    )
    rng = np.random.default_rng(2)
    stamps = pd.concat(
        [
            stamps,
            pd.Series(
                pd.Timestamp("1901-01-01")
                + pd.to_timedelta(rng.integers(0, 200 * 365 * 24, 500), "h")
            ),
        ],
        ignore_index=True,
    )
    X = pd.DataFrame({"when": stamps})
    transformer = Pipeline([("dates", ColumnTransformer([("d", DatetimeFeatures(), ["when"])]))])
    transformer.fit(X)
    model = to_onnx(transformer, X, "regression")
    (parts,) = make_session(model).run(None, onnx_feed(model, X))
    np.testing.assert_array_equal(parts, transformer.transform(X).astype(np.float32))


def test_category_fast_path_matches_the_cleaner() -> None:
    from mlengine.serving.coerce import to_categories

    values = [
        "a",
        " b ",
        "\u00a0c\u3000",
        "NA",
        "n/a",
        " N/A ",
        "",
        "  ",
        "?",
        "None",
        "null",
        "Paris",
        "caf\u00e9",
        "3",
        "3.0",
        "-",
        "--",
        "nan",
        None,
        np.nan,
        "missing",
    ]
    column = pd.Series(values, dtype="str")
    expected = [MISSING_STRING if pd.isna(v) else v for v in to_categories(column)]
    assert list(as_strings(column, "category")) == expected


class _Doubler(TransformerMixin, BaseEstimator):
    """A user transformer no converter knows."""

    def fit(self, X: Any, y: Any = None) -> _Doubler:
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X, dtype=float) * 2


def test_unconvertible_steps_give_no_model_and_name_the_step(data: dict) -> None:
    X, y = data["X"].copy(), data["binary"]
    X["notes"] = pd.Series(
        np.where(np.arange(len(X)) % 2, "great stay", "caf\u00e9 was bad"), dtype="str"
    )
    sample = X.head(50)
    text = _pipeline(
        LogisticRegression(max_iter=2_000), True, "onehot", {**TYPES, "notes": "text"}
    ).fit(X, y)
    result = convert_pipeline(text, sample, "classification")
    assert result.model is None and result.max_abs_diff is None
    assert "TextTfidf on column 'notes'" in result.reason
    assert "features.text=drop" in result.reason

    native = _pipeline(HistGradientBoostingClassifier(max_iter=20), False, "native").fit(X, y)
    result = convert_pipeline(native, sample, "classification")
    assert result.model is None
    assert result.reason.startswith("NativeCategories on columns 'city', 'color'")

    custom = Pipeline(
        [("pre", ColumnTransformer([("double", _Doubler(), ["income"])])), ("model", Ridge())]
    ).fit(X, data["price"])
    result = convert_pipeline(custom, sample, "regression")
    assert result.model is None
    assert result.reason == "_Doubler on column 'income' has no ONNX converter"


def test_a_model_that_disagrees_is_refused(data: dict) -> None:
    """The parity check itself: a graph from one fit against another fit's predictions."""
    X, y, sample = data["X"], data["binary"], data["sample"]
    first = _pipeline(LogisticRegression(max_iter=2_000), True, "onehot").fit(X, y)
    model = convert_pipeline(first, sample, "classification").model
    assert model is not None
    other = _pipeline(LogisticRegression(max_iter=2_000), True, "onehot").fit(X, y[::-1].values)
    result = check_parity(other, model, sample, "classification")
    assert result.model is None
    assert result.reason.startswith("ONNX labels agree with the pipeline on only")
    assert result.label_agreement < MIN_LABEL_AGREEMENT


def test_column_names_onnx_would_rename_still_feed(data: dict) -> None:
    """skl2onnx turns 'annual income' into an input named 'annual_income'; the feed maps it."""
    X = data["X"].rename(columns={"income": "annual income", "city": "home city"})
    types = {
        {"income": "annual income", "city": "home city"}.get(c, c): k for c, k in TYPES.items()
    }
    pipeline = _pipeline(LogisticRegression(max_iter=2_000), True, "onehot", types)
    pipeline.fit(X, data["binary"])
    sample = data["sample"].rename(columns={"income": "annual income", "city": "home city"})
    exported = convert_pipeline(pipeline, sample, "classification")
    assert exported.model is not None, exported.reason
    assert exported.label_agreement == 1.0
    with pytest.raises(KeyError, match="column 'home city' is missing"):
        onnx_feed(exported.model, sample.drop(columns="home city"))
