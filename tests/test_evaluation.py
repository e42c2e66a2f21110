"""The holdout report through real runs: metrics with intervals and plots on the parent run,
permutation importance in the user's column names, and the splits as MLflow dataset inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow
FAST = ["model=random_forest", "search.n_trials=2", "search.cv_folds=3"]
CLASSIFIER_PLOTS = {
    "confusion_matrix.png",
    "roc_curve.png",
    "precision_recall_curve.png",
    "calibration_curve.png",
    "permutation_importance.png",
}
CASES = {
    "binary": (
        "breast_cancer",
        ["accuracy", "balanced_accuracy", "f1_macro", "log_loss", "roc_auc", "pr_auc"],
        CLASSIFIER_PLOTS,
    ),
    "multiclass": (
        "wine",
        ["accuracy", "balanced_accuracy", "f1_macro", "log_loss", "roc_auc", "pr_auc"],
        CLASSIFIER_PLOTS,
    ),
    "regression": (
        "diabetes",
        ["r2", "rmse", "mae", "mape"],
        {"predicted_vs_actual.png", "residuals.png", "permutation_importance.png"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_parent_run_holds_the_holdout_metrics_intervals_and_plots(
    case: str, tmp_path, monkeypatch
) -> None:
    from mlflow import MlflowClient

    from mlengine import run_experiment

    dataset, metrics, plots = CASES[case]
    monkeypatch.chdir(tmp_path)
    result = run_experiment([*FAST, f"dataset={dataset}", "eda=off", "export.onnx=false"])
    client = MlflowClient(result.tracking_uri)
    run = client.get_run(result.run_id)
    logged = run.data.metrics
    for name in metrics:
        value = logged[f"holdout_{name}"]
        low, high = logged[f"holdout_{name}_ci_low"], logged[f"holdout_{name}_ci_high"]
        assert low <= value <= high, name
        assert low < high or value in (0.0, 1.0), name  # a spread, unless perfect
    assert run.data.params["holdout.ci_level"] == "0.95"
    artifacts = {a.path.split("/")[-1] for a in client.list_artifacts(result.run_id, "holdout")}
    assert plots | {"holdout.json", "permutation_importance.csv"} <= artifacts
    assert "CI of 1000 bootstrap resamples" in result.holdout_line


def _importance_table(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    strong = rng.normal(size=n)
    pair = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "strong": strong,
            "pair_a": pair,
            "pair_b": pair + rng.normal(0, 0.01, n),  # a near-copy of pair_a
            **{f"noise_{i}": rng.normal(size=n) for i in range(4)},
            "city": rng.choice(["paris", "lyon", "nice"], n),  # one-hot encoded in the model
        }
    )
    effect = 0.5 * (frame["city"] == "paris")
    frame["y"] = np.where(strong + pair + effect + rng.normal(0, 0.3, n) > 0.25, "yes", "no")
    return frame


def test_importance_ranks_the_strong_columns_first_and_groups_the_redundant_pair(
    tmp_path, monkeypatch
) -> None:
    from mlengine import run_experiment

    monkeypatch.chdir(tmp_path)
    result = run_experiment(
        [*FAST, "model=logistic_regression", "export.enabled=false"],
        frame=_importance_table(),
        target="y",
    )
    names = [i["name"] for i in result.importance]
    assert set(names[:2]) == {"strong", "pair_a + pair_b"}, names
    group = next(i for i in result.importance if i["name"] == "pair_a + pair_b")
    assert group["columns"] == ["pair_a", "pair_b"] and group["mean"] > 0.1
    noise = [i for i in result.importance if i["name"].startswith("noise_")]
    assert len(noise) == 4 and all(i["mean"] < group["mean"] / 5 for i in noise)
    # the user's columns, not the model's: the one-hot city is one entry under its name
    assert sorted(names) == sorted(
        ["strong", "pair_a + pair_b", "city", *(n["name"] for n in noise)]
    )
    assert all(i["std"] >= 0 for i in result.importance) and group["std"] > 0  # over repeats


def test_each_run_logs_its_splits_as_datasets_with_a_digest_of_every_value(
    tmp_path, monkeypatch
) -> None:
    import mlflow

    from mlengine import run_experiment

    monkeypatch.chdir(tmp_path)
    args = [*FAST, "model=logistic_regression", "eda=off", "export.enabled=false"]
    frame = _importance_table(300)
    first = run_experiment(args, frame=frame, target="y")
    again = run_experiment([*args, "search.n_trials=3"], frame=frame, target="y")
    changed = frame.copy()
    changed.loc[0, "noise_0"] += 1.0
    other = run_experiment(args, frame=changed, target="y")
    assert first.data_digests == again.data_digests  # the same rows, the same digests
    # row 0 is a training row (the split is seeded): that split's digest changes, not the other
    assert other.data_digests["training"] != first.data_digests["training"]
    assert other.data_digests["holdout"] == first.data_digests["holdout"]
    mlflow.set_tracking_uri(first.tracking_uri)
    digest = first.data_digests["training"]
    found = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"dataset.digest = '{digest}'"
    )
    assert set(found["run_id"]) == {first.run_id, again.run_id}  # not the changed data's
    run = mlflow.get_run(first.run_id)
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}  # by context
    assert set(inputs) == {"training", "holdout"}
    assert inputs["training"].digest == digest and inputs["training"].name == "dataframe-training"
    assert '"num_rows": 240' in inputs["training"].profile
    assert '"num_rows": 60' in inputs["holdout"].profile
    assert "in-memory DataFrame" in inputs["training"].source
    schema = {c["name"] for c in json.loads(inputs["training"].schema)["mlflow_colspec"]}
    assert schema == set(frame.columns)  # the features and the target


def test_a_dataset_s_source_is_its_file_or_its_loader(tmp_path) -> None:
    from mlengine.lineage import source_of

    assert source_of("wine", "built-in dataset 'wine'") == "sklearn.datasets.load_wine"
    data = tmp_path / "sales.csv"
    assert source_of("sales", str(data)) == str(data.resolve())


def test_logging_the_splits_warns_nothing(tmp_path) -> None:
    """An integer column made MLflow print its model-signature hint on every run."""
    import warnings

    import mlflow

    from mlengine.lineage import log_splits

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    X = pd.DataFrame({"count": np.arange(20), "x": np.linspace(0, 1, 20)})
    y = pd.Series(np.arange(20) % 2, name="y")
    with mlflow.start_run(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        digests = log_splits("table", "in-memory DataFrame", {"training": (X, y)})
    assert set(digests) == {"training"}
    assert not [str(w.message)[:80] for w in caught]
