"""`tracking.uri=http://...`: a real `mlflow server` (SQLite store, artifact proxy), with and
without MLflow's basic-auth app, read back through its REST API."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlengine.config import MlengineError
from mlengine.tracking import Tracker, check_reachable
from tests.helpers import free_port, run_cli
from tests.mlflow_server import (
    Server,
    artifact_files,
    create_user,
    experiment_runs,
    http_error,
    mlflow_server,
)

SWEEP = [
    "model=logistic_regression",
    "search.n_trials=2",
    "search.cv_folds=3",
    "eda=off",
    "export.onnx=false",
]
EXPERIMENT = "remote"


def _args(server_url: str) -> list[str]:
    return [f"tracking.uri={server_url}", f"experiment_name={EXPERIMENT}", *SWEEP]


def _tag(run: dict, key: str) -> str | None:
    return next((t["value"] for t in run["data"].get("tags", []) if t["key"] == key), None)


def _metrics(run: dict) -> dict[str, float]:
    return {m["key"]: m["value"] for m in run["data"].get("metrics", [])}


def _parent_and_trials(server: Server) -> tuple[dict, list[dict]]:
    runs = experiment_runs(server, EXPERIMENT)
    parents = [r for r in runs if _tag(r, "mlflow.parentRunId") is None]
    assert len(parents) == 1, [r["info"]["run_name"] for r in runs]
    parent = parents[0]
    trials = [r for r in runs if _tag(r, "mlflow.parentRunId") == parent["info"]["run_id"]]
    assert len(trials) + 1 == len(runs)
    return parent, trials


def _logged_models(server: Server, run_id: str) -> list[dict]:
    found = server.api("GET", "/api/2.0/mlflow/experiments/get-by-name", experiment_name=EXPERIMENT)
    body = {"experiment_ids": [found["experiment"]["experiment_id"]]}
    models = server.api("POST", "/api/2.0/mlflow/logged-models/search", body).get("models", [])
    return [m for m in models if m["info"].get("source_run_id") == run_id]


def _one_line_failure(result, started: float) -> str:
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert time.monotonic() - started < 30
    assert "trial" not in (result.stdout + result.stderr).lower()  # no sweep began
    return lines[0]


def _no_model_under(folder: Path) -> None:
    assert not list(folder.rglob("MLmodel")), "a model was exported"
    assert not list(folder.rglob("result.json")), "the run finished"


@pytest.mark.slow
def test_a_sweep_is_tracked_on_a_server_with_artifacts_through_its_proxy(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with mlflow_server(tmp_path / "server") as server:
        result = run_cli(_args(server.url), work)
        assert result.returncode == 0, result.stderr[-3000:]

        parent, trials = _parent_and_trials(server)
        parent_id = parent["info"]["run_id"]
        assert parent["info"]["status"] == "FINISHED"
        assert _tag(parent, "mlengine.run_kind") == "study"
        assert len(trials) == 2
        assert {_tag(t, "optuna.trial_number") for t in trials} == {"0", "1"}
        assert all(t["info"]["status"] == "FINISHED" for t in trials)
        assert all("cv_roc_auc" in _metrics(t) for t in trials)
        metrics = _metrics(parent)
        for key in ("holdout_accuracy", "cv_roc_auc"):
            assert 0.5 < metrics[key] <= 1.0, key
        params = {p["key"]: p["value"] for p in parent["data"]["params"]}
        assert params["tracking.uri"] == server.url and params["search.n_trials"] == "2"

        # Artifacts go through the proxy: the run stores mlflow-artifacts:/ URIs, the bytes
        # land in the server's folder, and nothing is written beside the client.
        artifact_uri = parent["info"]["artifact_uri"]
        assert artifact_uri.startswith("mlflow-artifacts:/"), artifact_uri
        files = artifact_files(server, artifact_uri)
        assert {"config.yaml", "schema.json"} <= set(files), sorted(files)
        (run_folder,) = (work / "outputs" / "runs").iterdir()
        assert files["config.yaml"] == (run_folder / "config.yaml").read_bytes()
        assert json.loads(files["schema.json"])["columns"]
        stored = server.root / "artifacts" / artifact_uri.removeprefix("mlflow-artifacts:/")
        on_disk = {p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()}
        assert set(files) == on_disk and "holdout/holdout.json" in files
        assert not (work / "mlruns").exists()
        assert not (work / "outputs" / "mlflow.db").exists()
        assert not (work / "outputs" / "artifacts").exists()

        # The exported model is an MLflow 3 logged model of the parent run, on the server.
        (model,) = _logged_models(server, parent_id)
        assert model["info"]["artifact_uri"].startswith("mlflow-artifacts:/")
        model_files = artifact_files(server, model["info"]["artifact_uri"])
        assert "MLmodel" in model_files, sorted(model_files)
        summary = json.loads((run_folder / "result.json").read_text())
        assert summary["model_uri"] == f"models:/{model['info']['model_id']}"
        assert summary["tracking_uri"] == server.url


@pytest.mark.slow
def test_a_server_that_is_down_fails_at_start_up_in_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    started = time.monotonic()
    result = run_cli(_args(url), tmp_path)
    line = _one_line_failure(result, started)
    assert f"MLflow tracking store {url} is unreachable" in line, line
    assert "(Connection refused); start it (mlflow server ...)" in line, line
    _no_model_under(tmp_path)


@pytest.mark.slow
def test_basic_auth_credentials_come_from_the_environment_and_are_never_recorded(
    tmp_path: Path,
) -> None:
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth]")
    password = f"Pw-{secrets.token_hex(12)}"
    wrong = f"Wrong-{secrets.token_hex(12)}"
    good_work, bad_work = tmp_path / "good", tmp_path / "bad"
    good_work.mkdir()
    bad_work.mkdir()
    with mlflow_server(tmp_path / "server", auth=True) as server:
        create_user(server, "alice", password)
        alice = replace(server, auth=("alice", password))

        # Without credentials the server refuses; the run below authenticates from the env.
        assert (
            http_error(
                lambda: replace(server, auth=None).api(
                    "POST", "/api/2.0/mlflow/experiments/search", {"max_results": 1}
                )
            )
            == 401
        )
        env = {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": password}
        good = run_cli(_args(server.url), good_work, env=env)
        assert good.returncode == 0, good.stderr[-3000:]
        parent, trials = _parent_and_trials(alice)
        assert parent["info"]["status"] == "FINISHED" and len(trials) == 2
        assert "holdout_accuracy" in _metrics(parent)

        started = time.monotonic()
        bad = run_cli(
            _args(server.url),
            bad_work,
            env={**env, "MLFLOW_TRACKING_PASSWORD": wrong},
        )
        line = _one_line_failure(bad, started)
        assert server.url in line and "refused the credentials" in line, line
        assert "MLFLOW_TRACKING_PASSWORD" in line
        _no_model_under(bad_work)
        (bad_work / "nobody").mkdir()
        started = time.monotonic()
        no_credentials = {"MLFLOW_TRACKING_USERNAME": "", "MLFLOW_TRACKING_PASSWORD": ""}
        nobody = run_cli(_args(server.url), bad_work / "nobody", env=no_credentials)
        line = _one_line_failure(nobody, started)
        assert "wants credentials" in line and "MLFLOW_TRACKING_USERNAME" in line, line
        assert len(experiment_runs(alice, EXPERIMENT)) == 3  # the refused runs made none

        # Neither password is anywhere: console, files (run folders, Hydra's .hydra/,
        # journal), the runs' params, tags, metrics, inputs and every artifact on the server.
        recorded = [good.stdout, good.stderr, bad.stdout, bad.stderr, nobody.stderr]
        recorded += [
            p.read_bytes().decode(errors="replace")
            for work in (good_work, bad_work)
            for p in work.rglob("*")
            if p.is_file()
        ]
        runs = experiment_runs(server, EXPERIMENT)
        recorded.append(json.dumps(runs))
        for run in runs:
            files = artifact_files(server, run["info"]["artifact_uri"])
            recorded += [data.decode(errors="replace") for data in files.values()]
        (model,) = _logged_models(server, parent["info"]["run_id"])
        recorded.append(json.dumps(model))
        files = artifact_files(server, model["info"]["artifact_uri"])
        assert "MLmodel" in files
        recorded += [data.decode(errors="replace") for data in files.values()]
        assert len(recorded) > 20  # the files were read
        for secret in (password, wrong):
            assert not [text[:200] for text in recorded if secret in text]


@contextlib.contextmanager
def _answering(status: int, body: bytes) -> Iterator[str]:
    """A loopback HTTP server that answers every GET with `status` and `body`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_start_up_check_names_the_problem_in_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "env-secret-pw")
    down = f"http://bob:uri-secret-pw@127.0.0.1:{free_port()}"
    cases = [(down, "is unreachable: no server answers there (Connection refused)")]
    with contextlib.ExitStack() as stack:
        refusing = stack.enter_context(_answering(401, b"You are not authenticated"))
        forbidden = stack.enter_context(_answering(403, b"Permission denied"))
        foreign = stack.enter_context(_answering(200, b"<html>a web page</html>"))
        missing = stack.enter_context(_answering(404, b"Not Found"))
        cases += [
            (
                refusing.replace("://", "://bob:uri-secret-pw@"),
                "refused the credentials (HTTP 401)",
            ),
            (forbidden, "refused the credentials (HTTP 403)"),
            (foreign, "not as an MLflow tracking server (<html>a web page</html>)"),
            (missing, "answered HTTP 404"),
        ]
        for uri, expected in cases:
            started = time.monotonic()
            with pytest.raises(MlengineError) as caught:
                check_reachable(uri)
            message = str(caught.value)
            assert expected in message, message
            assert "\n" not in message and "secret-pw" not in message, message
            assert time.monotonic() - started < 10
        with pytest.raises(MlengineError, match="refused the credentials"):
            Tracker(refusing, "e", Path("outputs"))  # the Tracker checks before anything else


def test_the_start_up_check_says_when_no_credentials_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.mlflow/credentials
    with (
        _answering(401, b"You are not authenticated") as url,
        pytest.raises(MlengineError, match="wants credentials .* none are set"),
    ):
        check_reachable(url)


def test_local_stores_are_not_probed() -> None:
    check_reachable("sqlite:////nonexistent/mlflow.db")
    check_reachable("file:///nonexistent/mlruns")
