"""A private PostgreSQL cluster for the tests: its own data folder, on a loopback port.

`.ci/run` installs Debian's postgresql package; the session fixture (`conftest.py`) starts
a cluster with it, or uses `MLENGINE_TEST_POSTGRES` (a `postgresql://` URL) when set.
Without either, the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import free_port

URL_VARIABLE = "MLENGINE_TEST_POSTGRES"
NOT_INSTALLED = (
    "PostgreSQL is not installed (initdb not found): apt-get install postgresql, as .ci/run "
    f"does, or set {URL_VARIABLE}=postgresql://USER:PASSWORD@HOST:PORT/DB"
)


def server_binaries() -> Path | None:
    """Debian's /usr/lib/postgresql/<version>/bin (the newest), or initdb on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextlib.contextmanager
def private_cluster(binaries: Path) -> Iterator[str]:
    """initdb + pg_ctl start in a temporary folder; yields the database's URL, then stops.

    PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user the
    Debian package creates.
    """
    folder = Path(tempfile.mkdtemp(prefix="mlengine-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)

    run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "mlengine")
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c max_connections=200"
    run(
        str(binaries / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )
    try:
        run(
            str(binaries / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "mlengine",
            "tests",
        )
        yield f"postgresql://mlengine@127.0.0.1:{port}/tests"
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """A new, empty database on the server at `url`; its URL (each test gets its own)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


def wait_until(condition, timeout: float, poll: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()
