"""The ONNX MLflow model behind the real scoring server, on a machine without the training
stack: `mlflow models serve` runs in processes where scikit-learn, xgboost, torch, skops,
scipy and mlengine itself cannot be imported, and must answer raw CSV rows (an unseen
category and missing values included) exactly as the in-process pipeline does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import blocking_env, post_json, run_cli, scoring_server, write_customers_csv

pytestmark = pytest.mark.slow
TRAINING_STACK = ("sklearn", "xgboost", "torch", "skops", "scipy", "skl2onnx", "onnx", "mlengine")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """(server URL, raw CSV rows, the native pipeline, the run's result.json)."""
    import mlflow.sklearn

    folder = tmp_path_factory.mktemp("serving_onnx")
    path = folder / "customers.csv"
    write_customers_csv(path, "unknown")
    args = [
        "dataset=csv",
        f"dataset.path={path}",
        "dataset.target=label",
        "dataset.na_values=[unknown]",
        "model=xgboost",
        "search.n_trials=2",
        "search.cv_folds=3",
        "eda=off",
    ]
    result = run_cli(args, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next((folder / "outputs" / "runs").iterdir())
    saved = json.loads((run_dir / "result.json").read_text())
    assert saved["served_path"] == saved["onnx_path"] and saved["onnx_path"].endswith("model_onnx")
    pipeline = mlflow.sklearn.load_model(saved["model_path"])
    rows = pd.read_csv(path).drop(columns="label").head(40)
    rows.loc[0, "city"] = "marseille"  # a category the model never saw
    rows.loc[1, ["score", "income"]] = np.nan  # missing values
    rows.loc[2, "signup"] = np.nan
    with scoring_server(Path(saved["onnx_path"]), blocked=TRAINING_STACK) as url:
        yield url, rows, pipeline, saved


def _invoke(url: str, rows: pd.DataFrame, **params: str) -> tuple[int, str]:
    body = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    if params:
        body["params"] = params
    return post_json(f"{url}/invocations", json.dumps(body).encode())


def test_the_server_environment_cannot_import_the_training_stack() -> None:
    code = "import sys\nfor name in sys.argv[1:]:\n    try:\n        __import__(name)\n"
    code += "    except ImportError:\n        print('blocked', name)\n"
    out = subprocess.run(
        [sys.executable, "-c", code, *TRAINING_STACK],
        env=blocking_env(TRAINING_STACK),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split("\n")[:-1] == [f"blocked {name}" for name in TRAINING_STACK]


def test_onnx_server_answers_raw_rows_exactly_like_the_pipeline(served) -> None:
    url, rows, pipeline, _ = served
    status, text = _invoke(url, rows)
    assert status == 200, text[-2000:]
    assert json.loads(text)["predictions"] == list(pipeline.predict(rows))
    status, text = _invoke(url, rows, predict_method="predict_proba")
    assert status == 200, text[-2000:]
    served_proba = pd.DataFrame(json.loads(text)["predictions"])
    assert list(served_proba.columns) == [str(c) for c in pipeline.classes_]
    np.testing.assert_allclose(served_proba.to_numpy(), pipeline.predict_proba(rows), atol=1e-4)


def test_a_request_missing_a_column_gets_a_4xx_naming_it(served) -> None:
    url, rows, _, _ = served
    status, text = _invoke(url, rows.drop(columns="city"))
    assert 400 <= status < 500 and "city" in text
    status, text = _invoke(url, rows.head(1), predict_method="decision_function")
    assert 400 <= status < 500 and "predict_proba" in text


def test_the_onnx_form_is_smaller_and_its_environment_leaner(served) -> None:
    _, _, _, saved = served
    card = json.loads((Path(saved["onnx_path"]) / "model_card.json").read_text())
    forms = {form["kind"]: form for form in card["forms"]}
    assert card["served_form"] == "onnx"
    assert forms["onnx"]["parity"]["label_agreement"] >= 0.99
    assert forms["onnx"]["parity"]["rows_from"] == "holdout"
    assert forms["onnx"]["size_bytes"] < forms["native"]["size_bytes"]
    assert forms["onnx"]["serving_env_bytes"] * 5 < forms["native"]["serving_env_bytes"]
    assert not any(
        r.startswith(("scikit-learn", "xgboost", "torch", "mlengine"))
        for r in forms["onnx"]["requirements"]
    )
