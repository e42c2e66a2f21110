"""Preprocessing: per-family pipelines, raw rows at predict time, no leakage, safe export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlengine.config import FeaturesConfig, ModelConfig
from mlengine.data import cv_folds, holdout_split, load_dataset
from mlengine.features import build_preprocessor, select_columns
from mlengine.transformers import (
    BooleanCleaner,
    CategoryCleaner,
    DatetimeFeatures,
    NativeCategories,
    NumericCleaner,
    TextTfidf,
)
from tests.helpers import EXPECTED_DROPS, frame_cfg, messy_frame

LINEAR = ModelConfig(
    name="lr",
    classifier={"_target_": "sklearn.linear_model.LogisticRegression", "max_iter": 500},
    regressor={"_target_": "sklearn.linear_model.Ridge"},
    scale=True,
    encoding="onehot",
)
FOREST = ModelConfig(
    name="rf",
    classifier={"_target_": "sklearn.ensemble.RandomForestClassifier", "n_estimators": 20},
    scale=False,
    encoding="ordinal",
)
HIST = ModelConfig(
    name="hgb",
    classifier={"_target_": "sklearn.ensemble.HistGradientBoostingClassifier", "max_iter": 20},
    encoding="native",
)
STRING_OUTPUT_CHECKS = {  # these compare outputs as floats; category names are text
    name: "outputs category names (text or pandas categories), compared as floats here"
    for name in (
        "check_pipeline_consistency",
        "check_estimators_pickle",
        "check_estimators_pickle(readonly_memmap=True)",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_general(readonly_memmap=True)",
        "check_transformer_preserve_dtypes",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit_idempotent",
    )
}


def _expected_failures(estimator: object) -> dict[str, str]:
    if isinstance(estimator, CategoryCleaner | NativeCategories):
        return STRING_OUTPUT_CHECKS
    if isinstance(estimator, TextTfidf):
        return {"check_transformer_preserve_dtypes": "TF-IDF is float32 by design (memory)"}
    return {}


@parametrize_with_checks(
    [
        NumericCleaner(),
        BooleanCleaner(),
        CategoryCleaner(),
        DatetimeFeatures(),
        TextTfidf(),
        NativeCategories(),
    ],
    expected_failed_checks=_expected_failures,
)
def test_transformers_are_real_sklearn_estimators(estimator: object, check: object) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def messy() -> object:
    return load_dataset(frame_cfg(), messy_frame())


def _features(ds: object, cfg: FeaturesConfig | None = None) -> dict[str, str]:
    return select_columns(ds.column_types, cfg or FeaturesConfig(), list(ds.drop_columns))


def _fit(ds: object, model: ModelConfig, cfg: FeaturesConfig | None = None) -> Pipeline:
    from hydra.utils import instantiate

    cfg = cfg or FeaturesConfig()
    columns = _features(ds, cfg)
    pipeline = Pipeline(
        [
            ("preprocess", build_preprocessor(columns, model, cfg, ds.date_formats)),
            ("model", instantiate(model.classifier, _convert_="all")),
        ]
    )
    return pipeline.fit(ds.X[list(columns)], ds.y)


# ---------------------------------------------------------------------------------------------
# What each model family gets
# ---------------------------------------------------------------------------------------------
def test_select_columns_drops_ids_unusable_and_configured_columns(messy: object) -> None:
    columns = _features(messy)
    assert not set(columns) & set(EXPECTED_DROPS)
    assert set(columns) == set(messy.column_types) - set(EXPECTED_DROPS)
    no_text = _features(messy, FeaturesConfig(text="drop", drop=["color"]))
    assert "review" not in no_text and "color" not in no_text
    kept = _features(messy, FeaturesConfig(keep=["amount", "signup", "country"]))
    assert set(kept) == {"amount", "signup"}  # constant 'country' stays out
    with pytest.raises(Exception, match="ID-like column"):
        _features(messy, FeaturesConfig(keep=["customer_id"]))
    with pytest.raises(Exception, match="unknown columns"):
        _features(messy, FeaturesConfig(drop=["colour"]))


def test_linear_family_gets_scaling_one_hot_and_bounded_sparse_tfidf(messy: object) -> None:
    pipeline = _fit(messy, LINEAR, FeaturesConfig(text_max_features=50))
    ct = pipeline[0]
    assert ct.named_transformers_["numeric"].steps[-1][0] == "standardscaler"
    encoder = ct.named_transformers_["categorical"][-1]
    assert type(encoder).__name__ == "OneHotEncoder"
    assert encoder.handle_unknown == "infrequent_if_exist"
    assert len(ct.named_transformers_["text_review"].vectorizer_.vocabulary_) <= 50
    names = list(ct.get_feature_names_out())
    assert {"signup_year", "signup_month", "signup_day", "signup_weekday"} <= set(names)
    assert "last_seen_hour" in names and "signup_hour" not in names  # times only where present
    assert ct.transform(messy.X).shape[1] == len(names)
    assert ct.sparse_threshold > 0  # mostly-TF-IDF output may stay sparse for this family
    wide = _fit(messy, LINEAR, FeaturesConfig(text_max_features=600))[0]
    assert hasattr(wide.transform(messy.X), "tocsr")


def test_tree_family_gets_ordinal_codes_and_no_scaling(messy: object) -> None:
    ct = _fit(messy, FOREST)[0]
    assert "standardscaler" not in dict(ct.named_transformers_["numeric"].steps)
    assert type(ct.named_transformers_["categorical"][-1]).__name__ == "OrdinalEncoder"
    dense = build_preprocessor(
        _features(messy),
        HIST.__class__(name="h", classifier=HIST.classifier, encoding="ordinal"),
        FeaturesConfig(),
    )
    assert dense.sparse_threshold == 0.0  # HistGradientBoosting refuses sparse input


def test_native_categoricals_as_pandas_categories(messy: object) -> None:
    pipeline = _fit(messy, HIST)
    out = pipeline[0].transform(messy.X.head(50))
    assert isinstance(out, pd.DataFrame)
    assert isinstance(out["color"].dtype, pd.CategoricalDtype)
    unseen = messy.X.head(3).copy()
    unseen["color"] = "purple"
    assert pipeline[0].transform(unseen)["color"].isna().all()  # unseen -> missing
    assert set(pipeline.predict(unseen)) <= {"leave", "stay"}


def test_native_encoding_needs_a_model_that_reads_categories(messy: object) -> None:
    from mlengine.config import ConfigError

    native = FeaturesConfig(encoding="native")
    with pytest.raises(ConfigError, match="features.encoding.*enable_categorical"):
        build_preprocessor(_features(messy), FOREST, native)
    xgb = ModelConfig(
        name="xgb", classifier={"_target_": "xgboost.XGBClassifier", "enable_categorical": True}
    )
    assert build_preprocessor(_features(messy), xgb, native) is not None


def test_too_many_categories_are_bounded_and_rare_ones_grouped() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"city": [f"c{i}" for i in rng.zipf(1.5, 3000) % 5000]})
    cfg = FeaturesConfig(max_categories=12)
    ct = build_preprocessor({"city": "categorical"}, LINEAR, cfg).fit(X)
    assert ct.transform(X).shape[1] <= 12


# ---------------------------------------------------------------------------------------------
# Predicting on raw rows
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", [LINEAR, FOREST, HIST], ids=["linear", "forest", "native"])
def test_pipeline_predicts_raw_rows_with_unseen_and_missing_values(
    messy: object, model: ModelConfig
) -> None:
    pipeline = _fit(messy, model)
    raw = messy_frame(40, seed=9).drop(columns="churn")  # the user's own strings
    raw.loc[0, "color"] = "purple"
    raw.loc[1, ["amount", "score", "rating", "is_member", "signup", "review"]] = None
    raw.loc[2, "last_seen"] = "not a date"
    raw.loc[3, "rating"] = 99
    raw.loc[4, "score"] = np.inf
    raw = raw.astype({"score": object})
    raw.loc[5, "score"] = "1,234.5"
    predictions = pipeline.predict(raw)
    assert set(predictions) <= {"leave", "stay"} and isinstance(predictions[0], str)
    proba = pipeline.predict_proba(raw)
    assert np.isfinite(proba).all()
    one_row = pipeline.predict(raw.iloc[[1]])
    assert one_row[0] in {"leave", "stay"}


@pytest.mark.parametrize("cell", [{"value": 3}, [1.0, 2.0]], ids=["dict", "list"])
def test_a_container_in_a_cell_is_refused_naming_its_column(messy: object, cell: object) -> None:
    pipeline = _fit(messy, LINEAR)
    raw = messy_frame(5, seed=9).drop(columns="churn")
    for column in ("amount", "color", "is_member", "signup", "review"):
        rows = raw.astype({column: object})
        rows.at[rows.index[2], column] = cell
        with pytest.raises(ValueError, match=f"column '{column}' holds a .* in row 2"):
            pipeline.predict(rows)
    assert len(pipeline.predict(raw)) == 5  # the same rows without it are answered


def test_the_native_pyfunc_answers_bad_requests_400_and_empty_batches(messy: object) -> None:
    from mlflow.exceptions import MlflowException

    from mlengine.native_pyfunc import NativeModel

    pipeline = _fit(messy, LINEAR)
    served = NativeModel(pipeline)
    raw = messy_frame(5, seed=9).drop(columns="churn")
    assert list(served.predict(raw)) == list(pipeline.predict(raw))
    proba = served.predict(raw, params={"predict_method": "predict_proba"})
    assert list(proba.columns) == ["leave", "stay"]
    np.testing.assert_allclose(proba.to_numpy(), pipeline.predict_proba(raw))
    assert len(served.predict(raw.head(0))) == 0  # the pipeline itself refuses 0 rows
    assert served.predict(raw.head(0), params={"predict_method": "predict_proba"}).shape == (0, 2)
    bad = raw.astype({"color": object})
    bad.at[bad.index[0], "color"] = {"name": "red"}
    for request, message in (
        (bad, "column 'color' holds a dict in row 0"),
        (raw.to_numpy(), "without column names"),
    ):
        with pytest.raises(MlflowException, match=message) as raised:
            served.predict(request)
        assert raised.value.get_http_status_code() == 400
    with pytest.raises(MlflowException, match="predict_method 'decision_function'"):
        served.predict(raw, params={"predict_method": "decision_function"})


def test_the_native_pyfunc_checks_the_columns_itself(messy: object) -> None:
    """Saved without an input schema, it refuses a missing column by name and takes the
    others in any order, with any extra ones."""
    from mlflow.exceptions import MlflowException

    from mlengine.native_pyfunc import NativeModel

    pipeline = _fit(messy, LINEAR)
    required = list(pipeline.feature_names_in_)
    served = NativeModel(pipeline, optional=["customer_id"])
    assert served.required == required
    raw = messy_frame(5, seed=9).drop(columns="churn")
    expected = list(pipeline.predict(raw[required]))
    shuffled = raw[required[::-1]].assign(unknown=1)
    assert list(served.predict(shuffled)) == expected
    assert list(served.predict(raw[required])) == expected  # no unused column needed
    for dropped, message in (
        (["color"], r"column 'color' is missing; the model takes \[.*\] \(and ignores"),
        (["color", "score"], "columns 'score', 'color' are missing"),
    ):
        with pytest.raises(MlflowException, match=message) as raised:
            served.predict(raw.drop(columns=dropped))
        assert raised.value.get_http_status_code() == 400
    records = raw[required].drop(columns="color").to_dict(orient="records")
    with pytest.raises(MlflowException, match="column 'color' is missing"):
        served.predict(records)


def test_raw_and_loaded_rows_get_the_same_predictions(messy: object) -> None:
    pipeline = _fit(messy, LINEAR)
    raw = messy_frame(200, seed=4)
    loaded = load_dataset(frame_cfg(), raw)
    raw_rows = raw[raw["churn"].isin(["leave", "stay"])].drop(columns="churn")
    np.testing.assert_array_equal(
        pipeline.predict(raw_rows), pipeline.predict(loaded.X[raw_rows.columns])
    )


def test_dates_given_as_text_read_with_the_training_formats() -> None:
    dates = pd.DataFrame({"d": pd.to_datetime(["2021-03-04 10:30", "2021-12-31 00:00"])})
    features = DatetimeFeatures(formats={"d": ["%d/%m/%Y %H:%M"]}).fit(dates)
    as_text = pd.DataFrame({"d": ["04/03/2021 10:30", "31/12/2021 00:00"]})
    np.testing.assert_array_equal(features.transform(as_text), features.transform(dates))
    np.testing.assert_array_equal(features.transform(dates)[0], [2021, 3, 4, 3, 10])


# ---------------------------------------------------------------------------------------------
# No leakage: every statistic is learned inside the fold
# ---------------------------------------------------------------------------------------------
def test_preprocessing_is_fitted_inside_each_fold(messy: object) -> None:
    import optuna

    from mlengine.search import CrossValidatedObjective

    X_train, _, y_train, _ = holdout_split(messy, 0.2, 0)
    columns = _features(messy)
    X_train = X_train[list(columns)]
    folds = cv_folds(messy, X_train, y_train, 3, 0)
    built = []

    def make_preprocessor() -> object:
        built.append(build_preprocessor(columns, LINEAR, FeaturesConfig(), messy.date_formats))
        return built[-1]

    objective = CrossValidatedObjective(
        model=LINEAR,
        make_preprocessor=make_preprocessor,
        X=X_train,
        y=y_train,
        task="classification",
        metric="accuracy",
        folds=folds,
        seed=0,
    )
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.create_study(direction="maximize").optimize(objective, n_trials=1)
    assert len(built) == len(folds)
    numeric = [c for c, k in columns.items() if k == "numeric"]
    full = NumericCleaner().fit_transform(X_train[numeric])
    for ct, (train, valid) in zip(built, folds, strict=True):
        imputer, scaler = ct.named_transformers_["numeric"][1:]
        fold_values = NumericCleaner().fit_transform(X_train.iloc[train][numeric])
        np.testing.assert_allclose(imputer.statistics_, np.nanmedian(fold_values, axis=0))
        imputed = np.where(np.isnan(fold_values), imputer.statistics_, fold_values)
        np.testing.assert_allclose(scaler.mean_, imputed.mean(axis=0))
        assert not np.allclose(scaler.mean_, np.nanmean(full, axis=0))
        assert ct.n_features_in_ == X_train.shape[1] and len(train) + len(valid) == len(full)
        categories = ct.named_transformers_["categorical"][-1].categories_
        assert all(len(c) >= 1 for c in categories)


# ---------------------------------------------------------------------------------------------
# Export: the fitted pipeline round-trips through skops and MLflow without pickle
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_fitted_pipeline_round_trips_through_skops() -> None:
    import skops.io

    small = load_dataset(frame_cfg(), messy_frame(300))
    for model in (LINEAR, HIST):
        pipeline = _fit(small, model)
        data = skops.io.dumps(pipeline)
        untrusted = skops.io.get_untrusted_types(data=data)
        # (HistGradientBoosting's own categorical preprocessor adds a functools.partial)
        assert all(
            t.startswith(("mlengine.", "sklearn.", "numpy.", "pandas.", "scipy."))
            or (model is HIST and t == "functools.partial")
            for t in untrusted
        ), untrusted
        loaded = skops.io.loads(data, trusted=untrusted)
        rows = messy_frame(30, seed=5).drop(columns="churn")
        np.testing.assert_array_equal(loaded.predict(rows), pipeline.predict(rows))


@pytest.mark.slow
def test_mlflow_saves_and_loads_the_pipeline_with_skops(messy: object, tmp_path: Path) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn
    import skops.io

    pipeline = _fit(messy, LINEAR)
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    mlflow.sklearn.save_model(
        pipeline, str(tmp_path / "m"), serialization_format="skops", skops_trusted_types=trusted
    )
    rows = messy.X.head(20)
    loaded = mlflow.sklearn.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict(rows), pipeline.predict(rows))
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(rows), pipeline.predict(rows)
    )


@pytest.mark.slow
@pytest.mark.parametrize("model", ["logistic_regression", "xgboost"])
def test_exported_model_predicts_raw_rows_in_the_original_labels(workdir: Path, model: str) -> None:
    import mlflow.pyfunc

    from mlengine import run_experiment

    frame = messy_frame(600)
    result = run_experiment(
        [f"model={model}", "eda=off", "search.n_trials=2", "search.cv_folds=3"],
        frame=frame,
        target="churn",
    )
    assert set(result.dropped_columns) == set(EXPECTED_DROPS)
    served = mlflow.pyfunc.load_model(str(result.model_path))
    features = [c for c in frame.columns if c not in EXPECTED_DROPS and c != "churn"]
    rows = load_dataset(frame_cfg(), messy_frame(60, seed=7)).X[features].head(8).copy()
    rows.loc[0, "color"] = "purple"  # never seen in training
    rows.loc[1, ["amount", "score", "discount", "rating", "is_member"]] = np.nan
    rows.loc[2, ["color", "review"]] = None
    rows.loc[3, "signup"] = pd.NaT
    labels = served.predict(rows)
    assert len(labels) == 8 and set(labels) <= {"leave", "stay"}
    assert all(isinstance(label, str) for label in labels)
    raw = messy_frame(60, seed=7).drop(columns="churn").head(8)  # the user's own strings
    raw.loc[0, "color"] = "purple"
    raw.loc[1, ["amount", "rating", "review"]] = None
    assert set(result.pipeline.predict(raw)) <= {"leave", "stay"}


def test_every_column_left_out_says_why() -> None:
    from mlengine.features import drop_reasons

    kinds = {"a": "numeric", "b": "numeric", "row": "id", "note": "text", "c": "numeric"}
    cfg = FeaturesConfig(drop=["b"], text="drop")
    kept = select_columns(kinds, cfg, extra_drop=["c"])
    dropped = [c for c in kinds if c not in kept]
    assert drop_reasons(dropped, kinds, cfg) == {
        "b": "features.drop",
        "row": "ID-like",
        "note": "features.text=drop",
        "c": "the loader or the EDA report (features.select=eda)",
    }
