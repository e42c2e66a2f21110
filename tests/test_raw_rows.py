"""The exported model takes the rows a user has: `pd.read_csv` of the training file itself.

Trained through the CLI on a CSV with integer, float-with-NaN, boolean, categorical,
date-text and thousands-separator columns (and a missing marker of the user's own), the
model must answer those raw rows in process, through the real scoring server, and with an
integer column that arrives as float, exactly as the pipeline answers the loader's rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlengine.config import DatasetConfig
from mlengine.data import load_dataset
from tests.helpers import post_json, run_cli, scoring_server, write_customers_csv

pytestmark = pytest.mark.slow
MARKER = "unknown"  # given as dataset.na_values


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("raw_rows")
    path = folder / "customers.csv"
    write_customers_csv(path, MARKER)
    result = run_cli(
        [
            "dataset=csv",
            f"dataset.path={path}",
            "dataset.target=label",
            f"dataset.na_values=[{MARKER}]",
            "model=random_forest",
            "search.n_trials=2",
            "search.cv_folds=3",
            "eda=off",
            "export.onnx=false",
        ],
        folder,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next((folder / "outputs" / "runs").iterdir())
    model_path = Path(json.loads((run_dir / "result.json").read_text())["model_path"])
    return path, model_path


def _reference(path: Path, model_path: Path) -> tuple[np.ndarray, object]:
    """The native pipeline on the rows as mlengine's own loader typed them."""
    import mlflow.sklearn

    pipeline = mlflow.sklearn.load_model(str(model_path))
    cfg = DatasetConfig(
        name="csv", source="file", path=str(path), target="label", na_values=[MARKER]
    )
    loaded = load_dataset(cfg)
    return pipeline.predict(loaded.X), pipeline


def test_pyfunc_takes_read_csv_rows_and_ints_arriving_as_floats(trained) -> None:
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    path, model_path = trained
    expected, _ = _reference(path, model_path)
    raw = pd.read_csv(path).drop(columns="label")
    assert raw["year"].dtype.kind == "i" and raw["member"].dtype == bool
    model = mlflow.pyfunc.load_model(str(model_path))
    assert list(model.predict(raw)) == list(expected)
    # No input schema (MLflow's CSV parser cannot read one of Any columns): the model
    # checks the columns itself; the table's unused ID may be left out, a used one not.
    assert model.metadata.get_input_schema() is None
    columns = model.metadata.metadata["mlengine_columns"]
    assert columns["optional"] == ["customer_id"] and "customer_id" not in columns["required"]
    assert list(model.predict(raw.drop(columns="customer_id"))) == list(expected)
    assert list(model.predict(raw[columns["required"][::-1]])) == list(expected)
    with pytest.raises(MlflowException, match="column 'year' is missing") as refused:
        model.predict(raw.drop(columns="year"))
    assert refused.value.get_http_status_code() == 400

    with_gap = raw.copy()
    with_gap.loc[0, "year"] = np.nan  # one missing value makes the whole column float64
    assert with_gap["year"].dtype == np.float64
    predicted = model.predict(with_gap)
    assert len(predicted) == len(raw)
    assert list(predicted[1:]) == list(expected[1:])


def test_users_missing_marker_is_missing_in_the_served_model(trained) -> None:
    path, model_path = trained
    _, pipeline = _reference(path, model_path)
    raw = pd.read_csv(path).drop(columns="label")
    marked = raw[raw["city"] == MARKER].head(5)
    assert len(marked) == 5
    blank = marked.assign(city=np.nan)
    preprocess = pipeline[0]
    np.testing.assert_array_equal(preprocess.transform(marked), preprocess.transform(blank))


def test_scoring_server_answers_read_csv_rows_like_the_pipeline(trained) -> None:
    path, model_path = trained
    expected, _ = _reference(path, model_path)
    raw = pd.read_csv(path).drop(columns="label")
    body = json.dumps({"dataframe_split": json.loads(raw.to_json(orient="split"))}).encode()
    with scoring_server(model_path) as url:
        status, text = post_json(f"{url}/invocations", body)
        # the user's file itself, as text/csv: its target column is taken and ignored
        csv_status, csv_text = post_json(f"{url}/invocations", path.read_bytes(), "text/csv")
    assert status == 200, text[-2000:]
    assert json.loads(text)["predictions"] == list(expected)
    assert csv_status == 200, csv_text[-2000:]
    assert json.loads(csv_text)["predictions"] == list(expected)
