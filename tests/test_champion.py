"""export.registered_model through real runs: the served form is registered, the alias
`champion` moves only for a better model on the same data, and the scoring server serves
`models:/NAME@champion`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers import post_json, scoring_server

pytestmark = pytest.mark.slow
ARGS = ["model=logistic_regression", "search.n_trials=2", "search.cv_folds=3", "eda=off"]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "city": rng.choice(["a", "b", "c"], 300)})
    frame["y"] = np.where(frame["x"] + (frame["city"] == "a") > 0.3, "yes", "no")
    return frame


def test_champion_moves_only_for_a_better_model_on_the_same_data(tmp_path, monkeypatch) -> None:
    from mlflow import MlflowClient

    from mlengine import run_experiment

    monkeypatch.chdir(tmp_path)
    register = [*ARGS, "export.registered_model=churn"]
    first = run_experiment(register, frame=_frame(), target="y")
    assert first.registration["promoted"] and first.registration["version"] == "1"
    # The same study exported again: an equal score does not beat the champion.
    again = run_experiment([*register, "export.only=true"], frame=_frame(), target="y")
    assert not again.registration["promoted"] and "does not beat" in again.registration["reason"]
    # One changed cell is other data: whatever it scores, it does not compete.
    changed = _frame()
    changed.loc[0, "x"] += 1.0
    other = run_experiment(register, frame=changed, target="y")
    assert not other.registration["promoted"] and "other data" in other.registration["reason"]

    uri = first.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("churn", "champion")
    assert str(champion.version) == "1"
    assert champion.tags["mlengine.champion.previous_version"] == "none"
    assert (
        champion.tags["mlengine.data_fingerprint"]
        != client.get_model_version("churn", "3").tags["mlengine.data_fingerprint"]
    )
    assert champion.tags["mlengine.metric"] == first.metric
    assert float(champion.tags["mlengine.score"]) == first.holdout[first.metric]
    # The card saved with the model says which version it became.
    card = json.loads((first.served_path / "model_card.json").read_text())
    assert card["registration"]["version"] == "1" and card["served_form"] == "onnx"

    # `mlflow models serve -m models:/churn@champion` serves the registered ONNX form.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    rows = _frame().drop(columns="y").head(10)
    body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
    with scoring_server("models:/churn@champion") as url:
        status, text = post_json(f"{url}/invocations", body.encode())
    assert status == 200, text[-2000:]
    assert json.loads(text)["predictions"] == list(first.pipeline.predict(rows))
