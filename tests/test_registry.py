"""mlengine.registry on a real SQLite store: versions, tags and the `champion` alias."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlengine.config import MlengineError
from mlengine.registry import CHAMPION, register

FP = "a" * 64  # a data fingerprint
NAME = "churn"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """A fresh SQLite tracking + registry store, its client and an experiment id.

    The global URIs (module state and the env vars MLflow exports) are monkeypatched, so
    they are restored after the test; the experiment is passed explicitly to each run, so
    no active experiment leaks into other tests.
    """
    from mlflow import MlflowClient
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setattr(tracking_utils, "_tracking_uri", uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return client, client.create_experiment("registry")


def log_constant(experiment: str, value: float) -> tuple[str, str]:
    """A real logged model predicting `value` for every row: (models:/ URI, run id)."""
    import mlflow
    from sklearn.dummy import DummyRegressor

    model = DummyRegressor(strategy="constant", constant=value).fit([[0.0]], [value])
    with mlflow.start_run(experiment_id=experiment) as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=[],
            pip_requirements=["scikit-learn"],  # skips requirement inference (seconds)
        )
    return info.model_uri, run.info.run_id


def add(client: Any, model: tuple[str, str], score: float, **options: Any) -> Any:
    options = {"metric": "accuracy", "direction": "maximize", "fingerprint": FP} | options
    uri, run_id = model
    return register(uri, NAME, run_id=run_id, score=score, client=client, **options)


def champion(client: Any) -> str:
    return str(client.get_model_version_by_alias(NAME, CHAMPION).version)


def tags(client: Any, version: str) -> dict[str, str]:
    return client.get_model_version(NAME, version).tags


def test_first_version_becomes_champion_with_its_tags(store) -> None:
    client, experiment = store
    model = log_constant(experiment, 1.0)
    first = add(client, model, 0.93)
    assert (first.name, first.version, first.promoted, first.previous) == (NAME, "1", True, None)
    assert "no champion" in first.reason
    assert champion(client) == "1"
    got = tags(client, "1")
    assert got["mlengine.metric"] == "accuracy"
    assert got["mlengine.score"] == "0.93"
    assert got["mlengine.direction"] == "maximize"
    assert got["mlengine.data_fingerprint"] == FP
    assert got["mlengine.run_id"] == model[1]
    assert got["mlengine.registered_at"].endswith("+00:00")
    assert got["mlengine.champion.previous_version"] == "none"
    # MLflow's own link from the logged model to its registered version, kept as it does.
    logged = client.get_logged_model(model[0].removeprefix("models:/"))
    assert '"name": "churn"' in logged.tags["mlflow.modelVersions"]


def test_worse_or_equal_version_leaves_the_champion(store) -> None:
    client, experiment = store
    model = log_constant(experiment, 1.0)
    add(client, model, 0.93)
    worse = add(client, model, 0.91)
    assert (worse.version, worse.promoted, worse.previous) == ("2", False, "1")
    assert worse.reason == "holdout accuracy 0.91 does not beat champion v1's 0.93"
    assert tags(client, "2")["mlengine.champion.reason"] == worse.reason
    assert "mlengine.champion.previous_version" not in tags(client, "2")
    assert not add(client, model, 0.93).promoted  # a tie keeps the champion
    assert champion(client) == "1"
    assert "mlengine.champion.replaced_by" not in tags(client, "1")


def test_better_version_takes_the_champion_and_records_the_move(store) -> None:
    client, experiment = store
    model = log_constant(experiment, 1.0)
    add(client, model, 0.93)
    add(client, model, 0.91)
    better = add(client, model, 0.95)
    assert (better.version, better.promoted, better.previous) == ("3", True, "1")
    assert better.reason == "holdout accuracy 0.95 beats champion v1's 0.93"
    assert champion(client) == "3"
    new, old = tags(client, "3"), tags(client, "1")
    assert new["mlengine.champion.previous_version"] == "1"
    assert new["mlengine.champion.previous_score"] == "0.93"
    assert new["mlengine.champion.reason"] == better.reason
    assert old["mlengine.champion.replaced_by"] == "3"
    assert old["mlengine.champion.replaced_at"] == new["mlengine.champion.promoted_at"]
    assert "mlengine.champion.replaced_by" not in tags(client, "2")


def test_minimize_lower_score_wins(store) -> None:
    client, experiment = store
    model = log_constant(experiment, 1.0)
    rmse = {"metric": "rmse", "direction": "minimize"}
    add(client, model, 3.0, **rmse)
    assert not add(client, model, 3.5, **rmse).promoted
    assert add(client, model, 2.5, **rmse).promoted
    assert champion(client) == "3"


def test_other_data_or_metric_does_not_compete(store) -> None:
    client, experiment = store
    model = log_constant(experiment, 1.0)
    add(client, model, 0.60)
    other_data = add(client, model, 0.99, fingerprint="b" * 64)
    assert not other_data.promoted
    assert "other data" in other_data.reason and "aaaaaaaaaaaa" in other_data.reason
    other_metric = add(client, model, 0.99, metric="f1_macro")
    assert not other_metric.promoted
    assert "ranked on accuracy, not f1_macro" in other_metric.reason
    assert champion(client) == "1"


@pytest.mark.parametrize("name", ["", "  ", "team/churn", "churn:v2", "churn@prod"])
def test_bad_name_is_a_user_error(store, name: str) -> None:
    client, _ = store
    with pytest.raises(MlengineError, match="export.registered_model"):
        register("models:/m-x", name, run_id="r", metric="accuracy", score=1.0,
                 direction="maximize", fingerprint=FP, client=client)  # fmt: skip
    assert client.search_registered_models() == []  # refused before touching the store


def test_champion_uri_loads_the_champion_model(store) -> None:
    import mlflow

    client, experiment = store
    add(client, log_constant(experiment, 1.0), 0.90)
    assert mlflow.pyfunc.load_model(f"models:/{NAME}@{CHAMPION}").predict([[0.0]])[0] == 1.0
    uri, run_id = log_constant(experiment, 3.0)
    add(client, (f"runs:/{run_id}/model", run_id), 0.95)  # a runs:/ URI, resolved to its model
    assert mlflow.pyfunc.load_model(f"models:/{NAME}@{CHAMPION}").predict([[0.0]])[0] == 3.0
    assert client.get_model_version(NAME, "2").source == uri
