"""The ONNX form as an MLflow model, for every family that converts.

Each family's pipeline is built from its own YAML (as a run builds it), fitted on a messy
table (text numbers, categories, booleans, text dates, missing markers, infinities), saved
as the ONNX MLflow model and loaded as the scoring server loads it; it must answer raw
rows, unseen categories and missing values included, within the parity tolerances.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from sklearn.pipeline import Pipeline

from mlengine.cli import config_dir
from mlengine.config import validate
from mlengine.data import load_dataset
from mlengine.export import serving_signature
from mlengine.features import build_preprocessor
from mlengine.onnx import compare_predictions, convert_pipeline
from mlengine.onnx_pyfunc import SERVING_REQUIREMENTS, load_served, save_onnx_model, served_outputs
from mlengine.search import make_estimator
from tests.helpers import frame_cfg, messy_frame

pytestmark = pytest.mark.slow

# Families whose pipelines convert; an ensemble (WeightedEnsemble) has no ONNX form.
FAMILIES = {
    "classification": [
        "hist_gradient_boosting",
        "logistic_regression",
        "random_forest",
        "extra_trees",
        "xgboost",
        "torch_mlp",
        "knn",
        "svm",
    ],
    "regression": [
        "elastic_net",
        "hist_gradient_boosting",
        "random_forest",
        "extra_trees",
        "xgboost",
        "torch_mlp",
        "knn",
        "svm",
    ],
}
SMALL = {"torch_mlp": {"max_epochs": 5}}  # keep the test fast; parity does not need skill


def _table(task: str) -> tuple[pd.DataFrame, str]:
    frame = messy_frame(400, seed=1).drop(columns="review")  # TF-IDF has no ONNX form
    if task == "classification":
        return frame, "churn"
    rng = np.random.default_rng(1)
    frame["spend"] = (frame["color"] == "red") * 30.0 + rng.normal(100, 10, len(frame))
    return frame.drop(columns="churn"), "spend"


@pytest.fixture(scope="module")
def tables() -> dict[str, tuple]:
    """task -> (the loaded dataset, the raw table it was loaded from)."""
    loaded = {}
    for task in FAMILIES:
        frame, target = _table(task)
        loaded[task] = load_dataset(frame_cfg(target=target), frame=frame), frame
    return loaded


def _model_conf(family: str):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return validate(compose("config", overrides=[f"model={family}"]))


def _fitted(ds, family: str) -> Pipeline:
    conf = _model_conf(family)
    usable = [c for c in ds.X.columns if c not in ds.drop_columns and ds.column_types[c] != "id"]
    preprocess = build_preprocessor(
        {c: ds.column_types[c] for c in usable},
        conf.model,
        conf.features,
        ds.date_formats,
    )
    estimator = make_estimator(conf.model, ds.task, SMALL.get(family, {}), seed=0)
    pipeline = Pipeline([("preprocess", preprocess), ("model", estimator)])
    return pipeline.fit(ds.X[usable], ds.y)


def _raw_rows(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows as a client sends them: the raw table, with cells the training data never had."""
    rows = frame.drop(columns=target).head(60).copy()
    rows.loc[rows.index[0], "color"] = "purple"  # unseen category
    rows.loc[rows.index[1], "amount"] = None  # missing number
    rows.loc[rows.index[2], "signup"] = None  # missing date
    rows.loc[rows.index[3], "is_member"] = "n/a"  # missing marker
    return rows


CASES = [(task, family) for task, families in FAMILIES.items() for family in families]


@pytest.mark.parametrize(("task", "family"), CASES, ids=[f"{t}-{f}" for t, f in CASES])
def test_family_served_as_onnx_answers_like_its_pipeline(
    tables: dict, task: str, family: str, tmp_path: Path
) -> None:
    ds, frame = tables[task]
    pipeline = _fitted(ds, family)
    rows = _raw_rows(frame, ds.y.name)
    converted = convert_pipeline(pipeline, ds.X.sample(200, random_state=0), task, ds.schema)
    assert converted.model is not None, converted.reason
    example = rows.head(3)
    signature = serving_signature(pipeline.predict(example), task=task)
    classes = pipeline.classes_ if task == "classification" else None
    path = tmp_path / "model_onnx"
    save_onnx_model(converted.model, ds.schema, task, classes, signature, example, path)

    served = load_served(path)
    parity = compare_predictions(pipeline, rows, task, served_outputs(served, rows, task))
    assert parity.passed, parity.reason
    assert parity.rows == len(rows)
    if task == "classification":
        assert parity.label_agreement == 1.0  # no float32 flip on these rows
        proba = served.predict(rows, params={"predict_method": "predict_proba"})
        assert list(proba.columns) == [str(c) for c in pipeline.classes_]
    requirements = (path / "requirements.txt").read_text().split()
    assert [r.split("==")[0] for r in requirements] == list(SERVING_REQUIREMENTS)


def test_the_onnx_model_holds_no_pickle_and_ships_its_code(tables: dict, tmp_path: Path) -> None:
    ds, _ = tables["classification"]
    pipeline = _fitted(ds, "logistic_regression")
    converted = convert_pipeline(pipeline, ds.X.head(100), "classification", ds.schema)
    example = ds.X.head(3)
    signature = serving_signature(pipeline.predict(example), task="classification")
    path = tmp_path / "m"
    save_onnx_model(
        converted.model, ds.schema, "classification", pipeline.classes_, signature, example, path
    )
    files = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))]
    assert {"data/onnx/model.onnx", "schema.json", "code/mlengine_serving/feed.py"} <= files
    assert not [m for m in sys.modules if m.startswith("mlengine_serving")]  # forgotten
    assert mlflow.models.Model.load(str(path)).signature.params is not None
