"""Helpers shared by test modules: the real CLI in a subprocess and the messy test table.

Test modules import these as `tests.helpers` (tests/ is a package, so pytest puts the repo
root on sys.path whether it is started as `pytest` or `python -m pytest`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from mlengine.config import DatasetConfig

REPO = Path(__file__).resolve().parents[1]


def run_cli(
    args: list[str], cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`mlengine ARGS` in a subprocess, as a user types it."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "mlengine", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(args: list[str], cwd: Path) -> subprocess.Popen:
    """`mlengine ARGS` started in the background (to kill or interrupt it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "mlengine", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def all_runs(workdir: Path) -> list:
    """Every MLflow run of the default store under workdir/outputs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, max_results=5000)


def assert_nothing_left(workdir: Path) -> None:
    """After a refused run: no exported model, and no MLflow run left RUNNING."""
    outputs = workdir / "outputs"
    assert not list(outputs.rglob("MLmodel")), "a refused run exported a model"
    if (outputs / "mlflow.db").exists():
        running = [r.info.run_id for r in all_runs(workdir) if r.info.status == "RUNNING"]
        assert not running, f"runs left RUNNING: {running}"


def journal_study(workdir: Path) -> object:
    """The one study in workdir's default journal (None before it exists)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = workdir / "outputs" / "optuna" / "journal.log"
    if not journal.exists():
        return None
    storage = JournalStorage(JournalFileBackend(str(journal)))
    names = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=names[0], storage=storage) if names else None


EXPECTED_KINDS = {
    "customer_id": "id",
    "order_ref": "id",
    "amount": "numeric",
    "discount": "numeric",
    "score": "numeric",
    "mixed": "numeric",
    "color": "categorical",
    "rating": "categorical",
    "is_member": "boolean",
    "active": "boolean",
    "signup": "datetime",
    "last_seen": "datetime",
    "mixed_dates": "datetime",
    "country": "categorical",
    "empty": "categorical",
    "review": "text",
}
EXPECTED_DROPS = {
    "customer_id": "ID-like",
    "order_ref": "ID-like",
    "country": "constant",
    "empty": "all values missing",
}
N_MISSING_TARGET = 3 + 2  # None and "?" labels


def messy_frame(n: int = 1200, seed: int = 0, n_texts: int | None = None) -> pd.DataFrame:
    """The table an ML engineer is handed: every kind of mess, label 'leave'/'stay'.

    `n_texts` distinct review texts (10,000 for the acceptance case; default n // 2).
    """
    rng = np.random.default_rng(seed)
    amount = rng.integers(100, 90_000, n)
    score = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], n)
    words = np.array(["good", "bad", "slow", "fast", "cheap", "late", "fine", "broken"])
    n_texts = n_texts or n // 2
    texts = [" ".join(words[rng.integers(0, 8, 4)]) + f" order{i}" for i in range(n_texts)]
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    risk = (amount > 45_000).astype(int) + (score > 0.5) + (color == "red")
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n) + 10_000,
            "order_ref": [f"{v:016x}" for v in rng.integers(0, 2**62, n)],
            "amount": pd.Series([f"{v:,}" for v in amount], dtype=object),
            "discount": [f"{v}%" for v in rng.integers(0, 60, n)],
            "score": score,
            "mixed": pd.Series(rng.integers(0, 100, n), dtype=object),
            "color": color.astype(object),
            "rating": rng.integers(1, 6, n),
            "is_member": rng.choice(["yes", "no", "Yes", "NO"], n),
            "active": rng.random(n) < 0.5,
            "signup": days.strftime("%Y-%m-%d"),
            "last_seen": (days + pd.to_timedelta(rng.integers(0, 24, n), unit="h")).strftime(
                "%d/%m/%Y %H:%M"
            ),
            "mixed_dates": np.where(
                np.arange(n) % 2 == 0, days.strftime("%Y-%m-%d"), days.strftime("%d/%m/%Y")
            ),
            "country": "NL",
            "empty": pd.Series([None] * n, dtype=object),
            "review": np.asarray(texts, dtype=object)[np.arange(n) % n_texts],
            "churn": np.where(risk >= 2, "leave", "stay").astype(object),
        }
    )
    frame.loc[::17, "amount"] = "?"
    frame.loc[5::23, "amount"] = "NA"
    frame.loc[::31, "discount"] = "n/a"
    frame.loc[::19, "score"] = np.inf
    frame.loc[7::41, "score"] = -np.inf
    frame.loc[3::29, "score"] = np.nan
    frame.loc[1::13, "mixed"] = "?"
    frame.loc[2::13, "mixed"] = 2.5
    frame.loc[::11, "color"] = " red "
    frame.loc[4::37, "color"] = "NA"
    frame.loc[6::43, "is_member"] = ""
    frame.loc[[i for i in (10, 20, 30) if i < n], "churn"] = None
    frame.loc[[i for i in (40, 50) if i < n], "churn"] = "?"
    return frame


def write_customers_csv(path: Path, marker: str, n: int = 300) -> None:
    """A customers table as a user's CSV: integer, float-with-NaN, boolean, categorical (with
    `marker`, the user's own missing marker), date-text and "52,340"-text columns; an ID."""
    rng = np.random.default_rng(3)
    year = rng.integers(1990, 2024, n)
    income = rng.normal(50_000, 15_000, n).round(0)
    city = rng.choice(["paris", "lyon", "nice", marker], n, p=[0.3, 0.3, 0.3, 0.1])
    member = rng.random(n) < 0.5
    score = rng.normal(size=n)
    score[::9] = np.nan
    signup = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    risk = (income > 52_000).astype(int) + (city == "paris") + (year > 2010) + member
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n) + 1000,  # ID-like: not a feature, optional input
            "year": year,
            "score": score,
            "member": member,
            "city": city,
            "signup": signup.strftime("%d/%m/%Y"),
            "income": [f"{v:,.0f}" for v in income],  # "52,340": text the loader parses
            "label": np.where(risk >= 2, "high", "low"),
        }
    )
    frame.to_csv(path, index=False)


def frame_cfg(**kwargs) -> DatasetConfig:
    defaults = {"name": "t", "source": "dataframe", "target": "churn"}
    return DatasetConfig(**{**defaults, **kwargs})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_json(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    """POST `body` to `url`: the status and the answer's text, errors included."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# A sitecustomize.py that makes packages unimportable in every process it reaches.
_BLOCKER = """
import sys

BLOCKED = {blocked!r}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not installed on this server")
        return None


sys.meta_path.insert(0, Blocker())
"""


def blocking_env(blocked: tuple[str, ...] = ()) -> dict[str, str]:
    """This environment, the venv's bin on PATH, and `blocked` packages unimportable."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    if blocked:
        site = Path(tempfile.mkdtemp(prefix="blocked-site-"))
        (site / "sitecustomize.py").write_text(_BLOCKER.format(blocked=set(blocked)))
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env


@contextlib.contextmanager
def served_process(
    command: list[str], ready_url: str, log: Path, env: dict[str, str], timeout: float = 180
) -> Iterator[None]:
    """A server started in its own session (its workers are its children), ready once
    `ready_url` answers 200; on the way out its whole process group is stopped.

    Its output goes to `log`, not a pipe: a pipe no one reads fills up and stalls it."""
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def tail() -> str:
        return log.read_text(errors="replace")[-3000:]

    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None:
                raise AssertionError(f"{shlex.join(command[:5])} exited:\n{tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer from {ready_url} in {timeout:.0f} s:\n{tail()}")
            time.sleep(0.5)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):  # a server that failed is gone already
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


@contextlib.contextmanager
def scoring_server(
    model_path: Path | str, blocked: tuple[str, ...] = (), host: str | None = "127.0.0.1"
) -> Iterator[str]:
    """`mlflow models serve` on a free loopback port; yields its URL.

    `blocked`: top-level packages the server (and its workers) cannot import, as on a
    machine where they are not installed. `host=None`: no --host (nor MLFLOW_HOST), as the
    README's command runs it.
    """
    port = free_port()
    env = blocking_env(blocked)
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_path)]
    command += ["--env-manager", "local", "--port", str(port)]
    if host is None:
        env.pop("MLFLOW_HOST", None)
    else:
        command += ["--host", host]
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkdtemp(prefix="scoring-server-")) / "server.log"
    with served_process(command, f"{url}/ping", log, env, timeout=120):
        yield url


# A small run for the serving tests: two trials of a linear model, both forms exported.
SMALL_RUN = ["model=logistic_regression", "search.n_trials=2", "search.cv_folds=3", "eda=off"]


def segment_table(n: int = 300) -> pd.DataFrame:
    """income, city and age; the target `segment` follows income and city."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n).round(1),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "age": rng.integers(18, 80, n).astype(float),
        }
    )
    frame["segment"] = np.where(
        frame["income"] + (frame["city"] == "paris") * 8 > 52, "premium", "basic"
    )
    return frame
