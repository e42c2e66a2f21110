"""The real MLflow scoring server for benchmarks: start it, time requests to it, stop it.

`scoring_server` runs `mlflow models serve -m FOLDER --env-manager local --workers 1` on a
free loopback port, in its own process group, with every native thread pool (OpenMP, BLAS,
MKL) at one thread, as one serving worker per core would run; it waits on /ping and stops
the whole group (uvicorn's worker is a child) when the block ends. The server's log goes to a
file, never to a pipe nobody reads: a request log of a few hundred lines fills a pipe's buffer
and the server blocks on its next write.

`request_latencies_ms` sends JSON bodies one after another on one kept-alive HTTP/1.1
connection (`http.client`, as a client with a connection pool does), so the timings are
request + scoring + response, without a TCP handshake per request.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

SINGLE_THREAD = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "BLIS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    )
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env() -> dict[str, str]:
    """This environment with the venv's bin first on PATH and one thread per native pool."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **SINGLE_THREAD}


def serve_command(model_path: Path | str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        str(model_path),
        "--env-manager",
        "local",
        "--workers",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


@contextlib.contextmanager
def scoring_server(model_path: Path | str, ready_timeout: float = 180) -> Iterator[str]:
    """The scoring server for the model folder; yields its URL once /ping answers."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            serve_command(model_path, port),
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, server, log, ready_timeout)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):  # one that failed is gone already
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


def _wait_ready(url: str, server: subprocess.Popen, log: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/ping", timeout=2)
            return
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"scoring server exited:\n{_tail(log)}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"scoring server did not answer /ping in {timeout:.0f} s:\n{_tail(log)}"
                ) from None
            time.sleep(0.25)


def _tail(log: object, chars: int = 3000) -> str:
    log.seek(0)  # type: ignore[attr-defined]
    return log.read().decode(errors="replace")[-chars:]  # type: ignore[attr-defined]


class KeptAliveClient:
    """POSTs JSON to /invocations on one persistent connection (reopened if the server closed
    it); any answer but 200 raises with the server's message."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.connection: http.client.HTTPConnection | None = None

    def invoke(self, body: bytes) -> bytes:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            try:
                self.connection.request(
                    "POST", "/invocations", body, {"Content-Type": "application/json"}
                )
                response = self.connection.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
                continue
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {payload[-2000:].decode()}")
            return payload
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def request_latencies_ms(
    url: str, bodies: Sequence[bytes], n_requests: int, warmup: int = 20
) -> np.ndarray:
    """Milliseconds of each of `n_requests` sequential requests, cycling through `bodies`,
    after `warmup` untimed ones."""
    client = KeptAliveClient(url)
    try:
        for i in range(warmup):
            client.invoke(bodies[i % len(bodies)])
        times = np.empty(n_requests)
        for i in range(n_requests):
            body = bodies[i % len(bodies)]
            started = time.perf_counter()
            client.invoke(body)
            times[i] = time.perf_counter() - started
    finally:
        client.close()
    return times * 1000.0
