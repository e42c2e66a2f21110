"""Full runs through the real CLI and the Python API, checked through MLflow's client."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.slow


def _store(workdir: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")


def _runs(client, experiment_name: str):
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def test_cli_run_is_tracked_and_its_model_serves_the_holdout(workdir: Path) -> None:
    import mlflow.pyfunc
    from sklearn.datasets import load_breast_cancer

    n_trials = 4
    # export.refit=train: the exported model is the one the holdout scored (the default,
    # all, refits on the holdout rows too; test_time_to_quality covers it).
    args = ["model=xgboost", "search.n_trials=4", "search.cv_folds=3", "eda=off"]
    result = run_cli([*args, "experiment_name=e2e", "export.refit=train"], workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    # the holdout line: each metric with its bootstrap interval, which holds the estimate
    line = re.search(
        r"Holdout: accuracy=(\d\.\d{4}) \[(\d\.\d{4}), (\d\.\d{4})\].*"
        r"95% CI of 1000 bootstrap resamples",
        result.stdout,
    )
    assert line, result.stdout
    value, low, high = map(float, line.groups())
    assert low <= value <= high
    assert "Time: setup " in result.stdout and "Trials per family: xgboost 4" in result.stdout
    assert "mlflow ui --backend-store-uri" in result.stdout

    client = _store(workdir)
    parents, children = _runs(client, "e2e")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert len(children) == n_trials
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert all(c.info.status == "FINISHED" for c in children)
    assert all(
        "cv_roc_auc" in c.data.metrics and "learning_rate" in c.data.params for c in children
    )
    metrics, params = parent.data.metrics, parent.data.params
    for key in ("holdout_accuracy", "holdout_roc_auc", "cv_roc_auc"):
        assert 0.5 < metrics[key] <= 1.0
    assert params["search.n_trials"] == "4" and params["model.name"] == "xgboost"
    assert len(params["data.fingerprint"]) == 16 and params["version.scikit-learn"]
    assert "best.learning_rate" in params and parent.data.tags["mlengine.study"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "config.yaml" in artifacts
    # The ONNX form: the served MLflow model, smaller and faster on one row than the
    # pipeline, from a serving environment a fraction of the size; the card beside it.
    assert parent.data.tags["mlengine.served_path"].endswith("model_onnx")
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "model_card")} == {
        "model_card/model_card.json",
        "model_card/model_card.md",
    }
    assert metrics["onnx_parity_label_agreement"] >= 0.99
    assert metrics["onnx_1row_ms"] < metrics["native_1row_ms"]
    assert 0 < metrics["onnx_size_mb"] < 5
    assert metrics["onnx_serving_env_mb"] * 5 < metrics["native_serving_env_mb"]

    # The exported model reproduces the logged holdout accuracy on the same split.
    out = Path(parent.data.tags["mlengine.output_dir"])
    saved = json.loads((out / "result.json").read_text())
    model = mlflow.pyfunc.load_model(saved["model_path"])
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    from sklearn.model_selection import train_test_split

    _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)
    accuracy = float(np.mean(model.predict(X_test) == y_test.to_numpy()))
    assert accuracy == pytest.approx(metrics["holdout_accuracy"], abs=1e-9)
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")
    same_from_store = mlflow.pyfunc.load_model(saved["model_uri"]).predict(X_test)
    np.testing.assert_array_equal(same_from_store, model.predict(X_test))


def test_api_pipeline_and_served_model_agree(workdir: Path) -> None:
    import mlflow.pyfunc
    from sklearn.datasets import load_wine

    from mlengine import run_experiment

    result = run_experiment(
        ["dataset=wine", "model=random_forest", "search.n_trials=3", "search.cv_folds=3", "eda=off"]
    )
    assert result.n_trials == 3 and result.holdout["accuracy"] >= 0.85
    X, _ = load_wine(return_X_y=True, as_frame=True)
    served = mlflow.pyfunc.load_model(str(result.model_path)).predict(X)
    np.testing.assert_array_equal(served, result.pipeline.predict(X))
    assert (result.model_path / "MLmodel").is_file()
    assert (result.model_path / "model.skops").is_file(), "saved without pickle"


def test_multirun_gives_one_parent_run_per_job(workdir: Path) -> None:
    result = run_cli(
        [
            "-m",
            "model=logistic_regression,random_forest,xgboost",
            "search.n_trials=2",
            "search.cv_folds=3",
            "eda=off",
            "experiment_name=multi",
        ],
        workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parents, children = _runs(_store(workdir), "multi")
    (sweep,) = [p for p in parents if p.data.tags["mlengine.run_kind"] == "sweep"]
    parents = [p for p in parents if p != sweep]  # the leaderboard's run, and the 3 jobs
    assert sorted(p.data.params["model.name"] for p in parents) == [
        "logistic_regression",
        "random_forest",
        "xgboost",
    ]
    assert len(children) == 6
    job_dirs = {p.data.tags["mlengine.output_dir"] for p in parents}
    assert len(job_dirs) == 3 and all((Path(d) / "model" / "MLmodel").is_file() for d in job_dirs)


def test_rerun_resumes_the_study_instead_of_repeating_it(workdir: Path) -> None:
    from mlengine import run_experiment

    overrides = ["dataset=wine", "model=logistic_regression", "search.cv_folds=3", "eda=off"]
    first = run_experiment([*overrides, "search.n_trials=2"])
    second = run_experiment([*overrides, "search.n_trials=5"])
    assert first.study_name == second.study_name
    assert (first.n_trials, second.n_trials) == (2, 5)  # 3 new trials, not 5
    assert first.output_dir != second.output_dir
