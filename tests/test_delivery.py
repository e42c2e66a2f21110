"""The export step (mlengine/delivery.py): both forms measured, the parity gate, the card."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow
ARGS = ["model=random_forest", "search.n_trials=2", "search.cv_folds=3", "eda=off"]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "order_id": np.arange(n) + 5000,  # an ID: dropped, with the reason on the card
            "amount": rng.normal(100, 30, n).round(2),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "member": rng.random(n) < 0.5,
            "country": "FR",  # constant: dropped
        }
    )
    frame["bought"] = np.where(frame["amount"] + (frame["city"] == "paris") * 20 > 105, "y", "n")
    return frame


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory):
    import os

    from mlengine import run_experiment

    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("delivery"))
    try:
        yield run_experiment(ARGS, frame=_frame(), target="bought")
    finally:
        os.chdir(previous)


def test_both_forms_are_measured_and_logged(delivered) -> None:
    from mlflow import MlflowClient

    native, onnx = delivered.delivery.forms
    assert (native.kind, onnx.kind) == ("native", "onnx")
    assert delivered.served_path == onnx.path == delivered.onnx_path
    assert 0 < onnx.size_bytes < native.size_bytes
    assert 0 < onnx.serving_env_bytes < native.serving_env_bytes
    assert 0 < onnx.latency_1row_ms < native.latency_1row_ms
    assert onnx.parity["rows"] == 60 and onnx.parity["label_agreement"] == 1.0  # 20% holdout
    metrics = MlflowClient(delivered.tracking_uri).get_run(delivered.run_id).data.metrics
    assert metrics["onnx_1row_ms"] == pytest.approx(onnx.latency_1row_ms)
    assert metrics["native_serving_env_mb"] == pytest.approx(native.serving_env_bytes / 1e6)
    assert metrics["onnx_parity_label_agreement"] == 1.0


def test_the_model_card_says_what_was_trained_and_served(delivered) -> None:
    for folder in (delivered.model_path, delivered.onnx_path):
        card = json.loads((folder / "model_card.json").read_text())
        assert card["served_form"] == "onnx" and card["task"] == "classification"
        assert set(card["features"]["used"]) == {"amount", "city", "member"}
        assert set(card["features"]["dropped"]) == {"order_id", "country"}
        assert all(card["features"]["dropped"].values())  # each with its reason
        assert card["model"]["best_params"] == delivered.best_params
        assert card["metrics"]["holdout"] == delivered.holdout
        assert len(card["data"]["fingerprint"]) == 16
        assert [f["kind"] for f in card["forms"]] == ["native", "onnx"]
        intervals = card["metrics"]["holdout_intervals"]
        assert set(intervals) == set(delivered.holdout)
        for metric, (low, high) in intervals.items():
            assert low <= delivered.holdout[metric] <= high, metric
        # the digests the run logged as its MLflow dataset inputs
        assert card["data"]["digests"] == delivered.data_digests == _logged_digests(delivered)
        importance = card["importance"]
        assert {i["name"] for i in importance} == {"amount", "city", "member"}  # raw columns
        assert importance[0]["name"] == "amount"  # the target is mostly amount > 105
        assert all(i["std"] >= 0 for i in importance) and importance[0]["std"] > 0
    markdown = (delivered.onnx_path / "model_card.md").read_text()
    assert "| onnx |" in markdown and "`onnxruntime==" in markdown and "`country`:" in markdown
    assert "## Permutation importance (holdout)" in markdown and "| `amount` |" in markdown
    low, high = card["metrics"]["holdout_intervals"]["accuracy"]
    assert (
        f"| holdout | accuracy | {delivered.holdout['accuracy']:.4f} | [{low:.4f}, {high:.4f}] |"
        in (markdown)
    )
    for digest in delivered.data_digests.values():
        assert f"`{digest}`" in markdown


def _logged_digests(result) -> dict[str, str]:
    from mlflow import MlflowClient

    inputs = MlflowClient(result.tracking_uri).get_run(result.run_id).inputs.dataset_inputs
    return {
        next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset.digest
        for i in inputs
    }


def test_a_form_that_fails_parity_is_removed_and_the_native_one_served(
    tmp_path, monkeypatch
) -> None:
    from mlengine import onnx_pyfunc, run_experiment

    real = onnx_pyfunc.served_outputs

    def swapped(model, X, task):  # the served form answers the other class on every row
        labels, proba = real(model, X, task)
        return [np.where(labels == "y", "n", "y"), proba[:, ::-1]]

    monkeypatch.setattr(onnx_pyfunc, "served_outputs", swapped)
    monkeypatch.chdir(tmp_path)
    result = run_experiment(ARGS, frame=_frame(), target="bought")
    assert result.onnx_path is None
    assert result.onnx_reason.startswith("parity on 60 holdout rows failed")
    assert result.served_path == result.model_path
    assert not (result.output_dir / "model_onnx").exists()
    card = json.loads((result.model_path / "model_card.json").read_text())
    assert card["served_form"] == "native" and card["onnx_reason"] == result.onnx_reason
