"""Guarantees of shared/RELIABILITY.md that no other test proved (see docs/reliability.md).

Each test is named after the item it proves. Tests marked xfail(strict=True) document a
guarantee mlengine does not keep yet, and the reason names where the fix goes; once it
lands the test passes, and strict=True turns that into a failure until the mark is removed.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from mlengine import sweep
from mlengine.studies import OpenStudy
from tests.helpers import frame_cfg, scoring_server

NO_FINITE_VALUE = "the objective returned no finite value"  # mlengine.sweep._evaluate


# ---------------------------------------------------------------------------------------------
# Item 13: a trial returning NaN/inf is FAIL and never chosen as best
# ---------------------------------------------------------------------------------------------
def _memory_study(direction: str) -> OpenStudy:
    """An in-memory study, as `studies.open_study` would hand it to the trial loop (no
    journal, no lock file: `slot` takes no lock for a storage it does not know)."""
    storage = optuna.storages.InMemoryStorage()
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(storage=storage, direction=direction, sampler=sampler)
    return OpenStudy(study, storage, "memory", created=True)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_item13_nan_objective_trial_is_fail_and_never_best(direction: str) -> None:
    # inf would be the best value of a maximised study, -inf of a minimised one: both are
    # here, before the finite values, so a loop that told them COMPLETE would pick them.
    returned = [
        float("nan"),
        float("inf"),
        float("-inf"),
        np.float64("nan"),
        np.float32("inf"),
        None,
        0.5,
        0.25,
    ]
    handle = _memory_study(direction)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        return returned[trial.number]

    ran = sweep.run_trials(handle, objective, n_trials=len(returned))
    trials = handle.study.trials
    assert ran == len(returned) == len(trials)
    non_finite = trials[:6]
    assert [t.state for t in non_finite] == [TrialState.FAIL] * 6
    assert all(t.value is None and t.values is None for t in non_finite)
    assert [t.user_attrs["fail_reason"] for t in non_finite] == [NO_FINITE_VALUE] * 6
    assert [t.state for t in trials[6:]] == [TrialState.COMPLETE] * 2

    best = handle.study.best_trial
    assert best.number == (6 if direction == "maximize" else 7)
    assert math.isfinite(handle.study.best_value)
    assert handle.study.best_value == (0.5 if direction == "maximize" else 0.25)


def test_item13_a_study_of_only_non_finite_trials_has_no_best() -> None:
    handle = _memory_study("maximize")
    sweep.run_trials(handle, lambda t: float("nan") if t.number % 2 else float("inf"), 4)
    assert {t.state for t in handle.study.trials} == {TrialState.FAIL}
    # mlengine.run then raises "No trial of study ... completed" (item 14)
    assert not handle.study.get_trials(states=(TrialState.COMPLETE,))
    with pytest.raises(ValueError):
        _ = handle.study.best_trial


def test_item13_a_non_finite_trial_is_never_an_ensemble_member() -> None:
    from types import SimpleNamespace

    from mlengine import ensemble
    from mlengine.run import _members
    from mlengine.search import CrossValidatedObjective

    n = 200
    y = np.zeros(n, dtype=int)
    y[::2] = 1
    rows = np.arange(n)

    def probabilities(right: np.ndarray) -> np.ndarray:
        """0.9 on the true class where `right`, 0.6 on the wrong one elsewhere."""
        on_true = np.where(right, 0.9, 0.4)
        out = np.empty((n, 2))
        out[rows, y], out[rows, 1 - y] = on_true, 1 - on_true
        return out

    # Trials 0 and 1 are each right on 70% of the rows and complementary (their blend is
    # right everywhere); trial 2 is worse. Trial 0's mean fold score was NaN.
    oof = {
        0: probabilities(rows < 140),
        1: probabilities(rows >= 60),
        2: probabilities(rows % 10 < 6),
    }
    cv = CrossValidatedObjective(
        model=None,
        make_preprocessor=None,
        X=pd.DataFrame({"x": np.zeros(n)}),
        y=pd.Series(y),
        task="classification",
        metric="accuracy",
        folds=[],
        seed=0,
        keep_oof=ensemble.CANDIDATES_PER_MEMBER * 2,
    )
    values = [float("nan"), 0.7, 0.6]

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("C", 0.1, 1.0)
        # What CrossValidatedObjective.__call__ does after its last fold: keep the trial's
        # out-of-fold predictions with its mean fold score, and return that mean.
        cv._keep(trial.number, oof[trial.number], values[trial.number])
        return values[trial.number]

    handle = _memory_study("maximize")
    sweep.run_trials(handle, objective, n_trials=3)
    study = handle.study
    assert [t.state for t in study.trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 2

    conf = SimpleNamespace(search=SimpleNamespace(ensemble=2))  # search.ensemble=2
    members = _members(conf, cv, study, pd.Series(y), "accuracy", "classification")
    assert [(t.number, t.state) for t, _ in members if t.state != TrialState.COMPLETE] == []
    # select() itself passes over a non-finite score, even when handed one with its rows.
    weights = ensemble.select(oof, dict(enumerate(values)), y, "accuracy", 2, np.array([0, 1]))
    assert weights and 0 not in weights


# ---------------------------------------------------------------------------------------------
# Items 4 and 22: unreadable files, and names that would escape the output folder
# ---------------------------------------------------------------------------------------------
def test_item4_corrupt_gzip_and_parquet_files_name_the_path(tmp_path: Path) -> None:
    from mlengine.data import DataError, load_dataset

    cases = {
        "broken.csv.gz": b"this is not gzip data" * 10,
        "broken.parquet": b"PAR1" + b"\x00garbage" * 50,  # magic bytes, no footer
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(DataError) as raised:
            load_dataset(frame_cfg(source="file", path=str(path)))
        message = str(raised.value)
        assert str(path) in message and "\n" not in message, message
    truncated = tmp_path / "truncated.csv.gz"
    with gzip.open(truncated, "wb") as handle:
        handle.write(b"a,b,churn\n" + b"1,2,yes\n" * 5000)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(DataError, match=r"truncated\.csv\.gz"):
        load_dataset(frame_cfg(source="file", path=str(truncated)))


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
# Item 11: bad scoring requests get a 4xx naming the column, never a stack trace
# ---------------------------------------------------------------------------------------------
TRAINING_STACK = ("sklearn", "xgboost", "torch", "skops", "scipy", "skl2onnx", "onnx", "mlengine")
FAST = ["model=logistic_regression", "search.n_trials=2", "search.cv_folds=3", "eda=off"]


def _table(n: int = 300) -> pd.DataFrame:
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


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """One small run: its native model (`<run>/model`) and its ONNX model (`model_onnx`)."""
    from mlengine import run_experiment

    previous = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("reliability_gaps"))
    try:
        result = run_experiment(FAST, frame=_table(), target="segment")
    finally:
        os.chdir(previous)
    assert result.onnx_path is not None, result.onnx_reason
    return result


@pytest.fixture(scope="module")
def servers(trained) -> Iterator[dict[str, str]]:
    """Both forms behind `mlflow models serve`; the ONNX one where the training stack
    cannot be imported, as on a serving machine."""
    with (
        scoring_server(trained.model_path) as native,
        scoring_server(trained.onnx_path, blocked=TRAINING_STACK) as onnx,
    ):
        yield {"native": native, "onnx": onnx}


ROW = {"income": 61.0, "city": "paris", "age": 40.0}
JSON, CSV = "application/json", "text/csv"


def _split(rows: list[dict]) -> bytes:
    columns = list(rows[0]) if rows else list(ROW)
    data = [[row[c] for c in columns] for row in rows]
    return json.dumps({"dataframe_split": {"columns": columns, "data": data}}).encode()


def _post(url: str, body: bytes, content_type: str = JSON) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{url}/invocations", data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _assert_no_stack_trace(text: str) -> dict:
    assert "Traceback" not in text, text[:3000]
    body = json.loads(text)  # MLflow's answers, errors included, are JSON
    if isinstance(body, dict):
        assert not body.get("stack_trace"), body.get("stack_trace", "")[-3000:]
    return body


# Why a case fails today, and where the fix goes.
MLFLOW_CSV_PARSER = (
    "MLflow's parse_csv_input reports an unparseable CSV through "
    "_handle_serving_error(include_traceback=True) before the model runs, and no environment "
    "variable turns that off: only a serving entry point of mlengine's own (a middleware "
    "dropping stack_trace from mlflow.pyfunc.scoring_server.init's app) or MLflow can fix it"
)


def _case(name: str, body: bytes, column: str | None, content_type: str = JSON, **xfail: str):
    """One request per form; `xfail`: form -> why that form fails it today."""
    return [
        pytest.param(
            form,
            body,
            column,
            content_type,
            id=f"{name}-{form}",
            marks=[pytest.mark.xfail(strict=True, reason=xfail[form])] if form in xfail else [],
        )
        for form in ("native", "onnx")
    ]


GOOD_REQUESTS = [
    *_case("dataframe_split", _split([ROW, ROW]), None),
    *_case("dataframe_records", json.dumps({"dataframe_records": [ROW, ROW]}).encode(), None),
    *_case(
        "inputs_columns",
        json.dumps({"inputs": {k: [v, v] for k, v in ROW.items()}}).encode(),
        None,
    ),
    *_case("instances_records", json.dumps({"instances": [ROW, ROW]}).encode(), None),
    *_case("csv", b"income,city,age\n61.0,paris,40.0\n45.0,lyon,30\n", None, CSV),
]


@pytest.mark.slow
@pytest.mark.parametrize(("form", "body", "column", "content_type"), GOOD_REQUESTS)
def test_item11_good_requests_in_every_format_are_answered(
    servers, form: str, body: bytes, column: None, content_type: str
) -> None:
    status, text = _post(servers[form], body, content_type)
    assert status == 200, (status, text[:3000])
    predictions = _assert_no_stack_trace(text)["predictions"]
    assert len(predictions) == 2 and set(predictions) <= {"premium", "basic"}


BAD_REQUESTS = [
    *_case("missing_column", _split([{"income": 61.0, "age": 40.0}]), "city"),
    *_case(
        "missing_column_records",
        json.dumps({"dataframe_records": [{"income": 61.0, "age": 40.0}]}).encode(),
        "city",
    ),
    *_case("missing_column_csv", b"income,age\n61.0,40.0\n", "city", CSV),
    *_case("dict_in_a_numeric_cell", _split([{**ROW, "income": {"value": 61}}]), "income"),
    *_case("list_in_a_numeric_cell", _split([{**ROW, "income": [61.0, 62.0]}]), "income"),
    *_case(
        "dict_in_a_records_cell",
        json.dumps({"dataframe_records": [{**ROW, "city": {"name": "paris"}}]}).encode(),
        "city",
    ),
    *_case(
        "list_in_an_instances_cell",
        json.dumps({"instances": [{**ROW, "age": [40.0, 41.0]}]}).encode(),
        "age",
    ),
    *_case("unnamed_columns", json.dumps({"inputs": [[61.0, "paris", 40.0]]}).encode(), None),
    *_case("malformed_json", b'{"dataframe_split": {"columns": ["income", "city"', None),
    *_case("not_utf8", b'{"dataframe_split": "\xff\xfe"}', None),
    *_case(
        "malformed_csv",
        b'income,city,age\n61.0,"paris\n',
        None,
        CSV,
        native=MLFLOW_CSV_PARSER,
        onnx=MLFLOW_CSV_PARSER,
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("form", "body", "column", "content_type"), BAD_REQUESTS)
def test_item11_bad_requests_get_a_4xx_naming_the_column_and_no_stack_trace(
    servers, form: str, body: bytes, column: str | None, content_type: str
) -> None:
    status, text = _post(servers[form], body, content_type)
    assert 400 <= status < 500, (status, text[:3000])
    message = _assert_no_stack_trace(text)["message"]
    if column is not None:
        assert f"'{column}'" in message, message


@pytest.mark.slow
@pytest.mark.parametrize("form", ["native", "onnx"])
def test_item11_an_empty_batch_gets_no_stack_trace(servers, form: str) -> None:
    status, text = _post(servers[form], _split([]))
    assert status == 200 or 400 <= status < 500, (status, text[:3000])
    body = _assert_no_stack_trace(text)
    assert status != 200 or body["predictions"] == []


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
def test_item23_serving_without_host_listens_on_loopback_only(trained) -> None:
    assert Path("/proc/net/tcp").exists(), "reads Linux's socket table"
    with scoring_server(trained.served_path, host=None) as url:  # as the README serves it
        assert _listening(int(url.rsplit(":", 1)[1])) == {"127.0.0.1"}


# ---------------------------------------------------------------------------------------------
# Item 6: rows whose target is missing are dropped with a logged count
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_item6_rows_without_a_target_are_dropped_with_a_logged_count(workdir: Path) -> None:
    from tests.helpers import all_runs, run_cli

    frame = _table(200)
    frame.loc[[3, 50, 120], "segment"] = None
    frame.loc[7, "segment"] = "?"  # a missing marker, as the loader reads it
    frame.to_csv(workdir / "data.csv", index=False)
    args = ["dataset=csv", "dataset.path=data.csv", "dataset.target=segment", *FAST]
    result = run_cli([*args, "export.enabled=false"], workdir, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Dropped 4 rows whose target 'segment' is missing" in result.stdout + result.stderr
    (parent,) = [r for r in all_runs(workdir) if "mlflow.parentRunId" not in r.data.tags]
    assert parent.data.params["data.dropped_missing_target"] == "4"
