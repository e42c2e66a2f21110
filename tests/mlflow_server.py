"""A real `mlflow server` on a loopback port for the tracking-server tests, and its REST API.

The server keeps runs in SQLite and artifacts under its own folder, served through its
artifact proxy (`mlflow-artifacts:/...`), as a team's shared server does. With `auth` it runs
MLflow's basic-auth app, its admin user bootstrapped from a config file.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port, served_process

ADMIN = "admin"
ADMIN_PASSWORD = "admin-Pw-for-the-test-server-1"  # noqa: S105 - a throwaway test server's


@dataclass
class Server:
    url: str
    root: Path
    auth: tuple[str, str] | None = None  # whom the REST reads below authenticate as

    def api(self, method: str, endpoint: str, body: dict | None = None, /, **params) -> dict:
        """One REST call (JSON in, JSON out); raises urllib's HTTPError on an error status."""
        url = f"{self.url}{endpoint}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers())
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def download(self, path: str) -> bytes:
        """A file's bytes through the artifact proxy (`mlflow-artifacts:/PATH`)."""
        quoted = urllib.parse.quote(path.lstrip("/"))
        request = urllib.request.Request(
            f"{self.url}/api/2.0/mlflow-artifacts/artifacts/{quoted}", headers=self._headers()
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.auth:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers


@contextlib.contextmanager
def mlflow_server(root: Path, auth: bool = False) -> Iterator[Server]:
    """`mlflow server` (SQLite store, artifact proxy) under `root` on a free loopback port;
    yields it once /health answers, then stops its whole process group."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if auth:
        config = root / "basic_auth.ini"
        config.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{root / 'auth.db'}\n"
            f"admin_username = {ADMIN}\n"
            f"admin_password = {ADMIN_PASSWORD}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # Each credential check is a PBKDF2 hash (~1 s on a shared core): without the
            # cache a sweep's few hundred requests take minutes.
            "auth_cache_ttl_seconds = 600\n"
        )
        env |= {
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-server-secret-key",
        }
        command += ["--app-name", "basic-auth"]
    url = f"http://127.0.0.1:{port}"
    with served_process(command, f"{url}/health", root / "server.log", env):
        yield Server(url, root, (ADMIN, ADMIN_PASSWORD) if auth else None)


def create_user(server: Server, username: str, password: str) -> None:
    """A user of the basic-auth app, created by its admin."""
    server.api("POST", "/api/2.0/mlflow/users/create", {"username": username, "password": password})


def experiment_runs(server: Server, experiment_name: str) -> list[dict]:
    """Every run of experiment `experiment_name` on the server (REST JSON, with data)."""
    found = server.api(
        "GET", "/api/2.0/mlflow/experiments/get-by-name", experiment_name=experiment_name
    )
    experiment_id = found["experiment"]["experiment_id"]
    runs, token = [], None
    while True:
        body = {"experiment_ids": [experiment_id], "max_results": 1000}
        if token:
            body["page_token"] = token
        page = server.api("POST", "/api/2.0/mlflow/runs/search", body)
        runs += page.get("runs", [])
        token = page.get("next_page_token")
        if not token:
            return runs


def artifact_files(server: Server, artifact_uri: str) -> dict[str, bytes]:
    """Every file under a run's (or logged model's) `mlflow-artifacts:/...` URI, by relative
    path, downloaded through the proxy."""
    prefix = "mlflow-artifacts:"
    assert artifact_uri.startswith(prefix), artifact_uri
    base = urllib.parse.urlparse(artifact_uri).path.lstrip("/")
    files: dict[str, bytes] = {}
    pending = [""]
    while pending:
        folder = pending.pop()
        params = {"path": f"{base}/{folder}".rstrip("/")}
        listing = server.api("GET", "/api/2.0/mlflow-artifacts/artifacts", **params)
        for entry in listing.get("files", []):
            relative = f"{folder}/{entry['path']}".lstrip("/")
            if entry.get("is_dir"):
                pending.append(relative)
            else:
                files[relative] = server.download(f"{base}/{relative}")
    return files


def http_error(call) -> int | None:
    """The HTTP status `call()` failed with, None when it succeeded."""
    try:
        call()
    except urllib.error.HTTPError as error:
        return error.code
    return None
