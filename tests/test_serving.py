"""The exported model behind the real MLflow scoring server (`mlflow models serve`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import post_json, scoring_server, segment_table

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served_model(tmp_path_factory: pytest.TempPathFactory):
    """A model trained on a table with strings, and the scoring server serving it (once)."""
    from mlengine import run_experiment

    previous = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("serving"))

    frame = segment_table(400)
    try:
        result = run_experiment(
            ["model=random_forest", "search.n_trials=2", "search.cv_folds=3", "eda=off"],
            frame=frame,
            target="segment",
        )
    finally:
        os.chdir(previous)
    with scoring_server(result.model_path) as url:
        yield url, result, frame


def test_server_predicts_original_labels_like_the_pipeline(served_model) -> None:
    url, result, frame = served_model
    rows = frame.drop(columns=["segment"]).head(20)
    body = json.dumps({"dataframe_split": rows.to_dict(orient="split")}).encode()
    status, text = post_json(f"{url}/invocations", body)
    assert status == 200, text
    served = json.loads(text)["predictions"]
    assert served == list(result.pipeline.predict(rows))
    assert set(served) <= {"premium", "basic"}


def test_unseen_category_and_missing_value_are_predicted(served_model) -> None:
    url, _, _ = served_model
    rows = {
        "columns": ["income", "city", "age"],
        "data": [[61.0, "marseille", 40.0], [45.0, "paris", None]],
    }
    status, text = post_json(f"{url}/invocations", json.dumps({"dataframe_split": rows}).encode())
    assert status == 200, text
    assert len(json.loads(text)["predictions"]) == 2


def test_bad_requests_get_a_4xx_naming_the_problem(served_model) -> None:
    url, _, _ = served_model
    missing = {"columns": ["income", "age"], "data": [[61.0, 40.0]]}
    status, text = post_json(
        f"{url}/invocations", json.dumps({"dataframe_split": missing}).encode()
    )
    assert 400 <= status < 500 and "city" in text
    status, text = post_json(f"{url}/invocations", b"{not json")
    assert 400 <= status < 500
    assert "Traceback" not in text
