"""Items 21-24 of shared/RELIABILITY.md, security: non-executable export formats, writes only
inside the run folder, a loopback-bound endpoint, and passwords typed on the command line
(`search.storage`, `tracking.uri`) in no file a run writes (Hydra's own included), no MLflow
param, tag or artifact, and no console line (docs/reliability.md maps each item)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mlengine.redaction import redact
from tests.helpers import all_runs, run_cli, scoring_server
from tests.postgres import fresh_database

PASSWORD = "Sup3r-Secret-42"
FAST = ["model=logistic_regression", "search.n_trials=2", "search.cv_folds=3", "eda=off"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://bob:s3cr%40t@db:5432/optuna", "postgresql://bob:***@db:5432/optuna"),
        ("postgresql://bob:pa/ss@w@rd@db/x", "postgresql://bob:***@db/x"),  # "/" and "@"
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),  # no user name
        (
            "x=['search.storage=mysql+pymysql://u:p@h/d', 'y=1']",
            "x=['search.storage=mysql+pymysql://u:***@h/d', 'y=1']",
        ),
        (r"s=postgresql\://u\:pw@h\:5/d", r"s=postgresql\://u\:***@h\:5/d"),  # Hydra's log
        ("sqlite:///outputs/mlflow.db", "sqlite:///outputs/mlflow.db"),
        ("http://host:5000/api/2.0", "http://host:5000/api/2.0"),
    ],
)
def test_item24_redact_masks_every_password_form(text: str, shown: str) -> None:
    assert redact(text) == shown


def _grep_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]


def _grep_mlflow(workdir: Path, tracking_uri: str | None = None) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri or f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs, "the store holds the run's runs"
    found = []
    for run in runs:
        values = {**run.data.params, **run.data.tags}
        found += [f"{run.info.run_id} {k}" for k, v in values.items() if PASSWORD in str(v)]
        folder = client.download_artifacts(
            run.info.run_id, "", str(workdir / "dl" / run.info.run_id)
        )
        found += [str(p) for p in _grep_files(Path(folder))]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("multirun", [False, True], ids=["run", "multirun"])
def test_item24_a_password_on_the_command_line_is_nowhere(
    postgres_server: str, tmp_path: Path, multirun: bool
) -> None:
    database = fresh_database(postgres_server, f"secrets_{int(multirun)}")
    storage = database.replace("mlengine@", f"mlengine:{PASSWORD}@")  # trust auth: any password
    args = [f"search.storage={storage}", *FAST]
    if multirun:
        args = ["-m", *args, "search.cv_folds=3,4"]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert PASSWORD not in result.stdout + result.stderr
    hydra_files = list((tmp_path / "outputs").rglob(".hydra/overrides.yaml"))
    assert hydra_files and ":***@127.0.0.1" in hydra_files[0].read_text()
    assert _grep_files(tmp_path / "outputs") == []
    assert _grep_mlflow(tmp_path) == []


@pytest.mark.slow
def test_item24_a_password_in_the_tracking_uri_is_nowhere(
    postgres_server: str, tmp_path: Path
) -> None:
    """A run that trains and exports against an MLflow store on PostgreSQL, its password
    typed in tracking.uri: not on the console, in no file, param, tag or artifact."""
    database = fresh_database(postgres_server, "secrets_tracking")
    tracking = database.replace("mlengine@", f"mlengine:{PASSWORD}@")  # trust auth
    result = run_cli([f"tracking.uri={tracking}", *FAST], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert PASSWORD not in result.stdout + result.stderr
    assert "Holdout: " in result.stdout  # it trained, evaluated and exported
    assert list((tmp_path / "outputs").rglob("MLmodel"))
    assert _grep_files(tmp_path) == []  # outputs/ and the artifact store (./mlruns)
    assert _grep_mlflow(tmp_path, tracking) == []


def test_item24_a_password_in_a_storage_url_that_fails_is_masked(workdir: Path) -> None:
    result = run_cli(
        [
            "search.storage=postgresql://bob:hunter2@127.0.0.1:9/optuna",
            "eda=off",
            "experiment_name=secret",
        ],
        workdir,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Cannot open Optuna storage postgresql://bob:***@127.0.0.1:9/optuna" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    (run,) = all_runs(workdir)
    assert run.info.status == "FAILED"
    assert run.data.params["search.storage"] == "postgresql://bob:***@127.0.0.1:9/optuna"
    config = next((workdir / "outputs").rglob("config.yaml")).read_text()
    assert "hunter2" not in config and "bob:***@" in config


@pytest.mark.slow
def test_item21_no_exported_file_is_a_pickle_and_xgboost_is_stored_as_its_own_format(
    workdir: Path,
) -> None:
    import io
    import re
    import zipfile

    import numpy as np

    from mlengine import run_experiment

    result = run_experiment(
        ["dataset=wine", "model=xgboost", "search.n_trials=2", "search.cv_folds=3", "eda=off"]
    )
    run_folder = result.model_path.parent
    files = [p for p in run_folder.rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.suffix in {".pkl", ".pickle", ".joblib"}]
    assert not [p for p in files if p.read_bytes()[:1] == b"\x80"], "a pickle stream"
    with zipfile.ZipFile(result.model_path / "model.skops") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = members.pop("schema.json").decode()
    for name, content in members.items():
        if name.endswith(".npy"):
            np.load(io.BytesIO(content), allow_pickle=False)  # raises on an object array
        else:
            assert name.endswith(".bin") and content[:1] == b"{", name  # XGBoost's UBJSON
    assert '"__class__": "Booster"' in schema
    loaders = set(re.findall(r'"__loader__": "(\w+)"', schema))
    assert not loaders & {"ConstructorFromReduceNode", "FunctionNode", "MethodNode"}, loaders


# ---------------------------------------------------------------------------------------------
# Item 22: names that would escape the output folder are refused
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["/tmp/escape", "../escape", "a/../../escape", "..", "a\\b"])
def test_item22_export_names_that_leave_the_folder_are_refused_by_the_config(name: str) -> None:
    from mlengine.config import ConfigError, ExportConfig

    with pytest.raises(ConfigError) as raised:
        ExportConfig(name=name)
    assert raised.value.key == "export.name"


def test_item22_the_export_path_refuses_absolute_names_parents_and_symlinks(
    tmp_path: Path,
) -> None:
    from mlengine.config import MlengineError
    from mlengine.export import safe_child

    out, outside = tmp_path / "run", tmp_path / "elsewhere"
    out.mkdir()
    outside.mkdir()
    (out / "model").symlink_to(outside, target_is_directory=True)  # points out of the run
    (out / "dangling").symlink_to(tmp_path / "nothing-there")
    for name in (str(outside / "model"), "../elsewhere", "model", "dangling", "x/../../y"):
        with pytest.raises(MlengineError, match="export.name|already exists"):
            safe_child(out, name)
    assert not list(outside.iterdir()) and not (tmp_path / "nothing-there").exists()
    assert safe_child(out, "model_onnx") == (out / "model_onnx").resolve()


# ---------------------------------------------------------------------------------------------
# Item 23: a served endpoint binds to 127.0.0.1 unless told otherwise
# ---------------------------------------------------------------------------------------------
def _listening(port: int) -> set[str]:
    """The addresses of this machine's TCP sockets LISTENing on `port` (/proc/net/tcp*)."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: TCP_LISTEN
                continue
            raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


@pytest.mark.slow
def test_item23_serving_without_host_listens_on_loopback_only(small_served_run) -> None:
    assert Path("/proc/net/tcp").exists(), "reads Linux's socket table"
    with scoring_server(small_served_run.served_path, host=None) as url:  # as the README serves it
        assert _listening(int(url.rsplit(":", 1)[1])) == {"127.0.0.1"}
