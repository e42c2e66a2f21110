"""Sweeps through the real CLI: parallel workers on one study, several processes on one
journal, and a multirun's leaderboard (console, CSV, markdown, MLflow)."""

from __future__ import annotations

import csv
import re
import textwrap
from pathlib import Path

import pytest

from tests.helpers import all_runs, journal_study, run_cli, start_cli

FAST = ["search.cv_folds=3", "eda=off", "export.onnx=false"]


def _parents(runs: list) -> list:
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def _children(runs: list) -> list:
    return [r for r in runs if "mlflow.parentRunId" in r.data.tags]


@pytest.mark.slow
def test_two_workers_run_exactly_n_trials_under_one_parent(workdir: Path) -> None:
    args = ["dataset=digits", "model=random_forest", "search.n_trials=10", "search.n_jobs=2"]
    result = run_cli([*args, *FAST, "search.plots=true"], workdir, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    trials = journal_study(workdir).trials
    assert sorted(t.number for t in trials) == list(range(10))
    assert all(t.state.is_finished() for t in trials)
    workers = {t.user_attrs["mlengine.worker"] for t in trials}
    assert len(workers) == 2  # both processes ran trials
    sampled = [
        tuple(sorted(t.params.items())) for t in trials if "fixed_params" not in t.system_attrs
    ]
    assert len(set(sampled)) == len(sampled)  # each worker's sampler has its own seed

    runs = all_runs(workdir)
    (parent,) = _parents(runs)
    children = _children(runs)
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert sorted(int(r.data.metrics["trial_number"]) for r in children) == list(range(10))
    for child in children:  # the parent's identity, copied so UI filters keep the children
        assert child.data.tags["mlengine.study"] == parent.data.tags["mlengine.study"]
        assert child.data.tags["mlengine.dataset"] == "digits"
    assert parent.data.params["study.sampler"] == "tpe"
    assert parent.data.params["study.name"] == parent.data.tags["mlengine.study"]
    assert not list(workdir.rglob("job.pkl"))  # the workers' copy of the data is gone
    exported = [p for p in (workdir / "outputs" / "runs").glob("*/model") if p.is_dir()]
    assert len(exported) == 1  # item 17: one model exported

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "optuna")}
    assert {"optuna/optimization_history.png", "optuna/slice.png"} <= plots


@pytest.mark.slow
def test_three_processes_on_one_journal_study_end_with_exactly_n_trials(workdir: Path) -> None:
    args = ["dataset=wine", "model=random_forest", "search.n_trials=12", *FAST]
    processes = [start_cli(args, workdir) for _ in range(3)]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-2000:]
    trials = journal_study(workdir).trials
    assert sorted(t.number for t in trials) == list(range(12))
    runs = all_runs(workdir)
    assert len(_parents(runs)) == 1  # one study, one parent run, whoever came first
    assert len(_children(runs)) == 12
    exported = [p for p in (workdir / "outputs" / "runs").glob("*/model") if p.is_dir()]
    assert len(exported) == 1  # item 17: one model, by the worker that completed the study


def _experiment(workdir: Path, name: str, dataset: str, model: str, extra: str = "") -> None:
    folder = workdir / "experiments"
    folder.mkdir(exist_ok=True)
    body = f"""\
        # @package _global_
        defaults:
          - override /dataset: {dataset}
          - override /model: {model}
        search: {{n_trials: 3, cv_folds: 3}}
        eda: {{enabled: false}}
        export: {{onnx: false}}
        """
    (folder / f"{name}.yaml").write_text(textwrap.dedent(body) + extra)


def _leaderboard(workdir: Path) -> list[dict]:
    (path,) = (workdir / "outputs" / "multirun").glob("*/leaderboard.csv")
    assert (path.parent / "leaderboard.md").is_file()
    with open(path) as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow
def test_a_multirun_ends_with_a_ranked_leaderboard(workdir: Path) -> None:
    args = ["-m", "dataset=wine,iris", "model=logistic_regression,knn", *FAST]
    result = run_cli([*args, "search.n_trials=3"], workdir, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _leaderboard(workdir)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    for dataset in ("iris", "wine"):
        ranked = [r for r in rows if r["dataset"] == dataset]
        assert [r["rank"] for r in ranked] == ["1", "2"]
        assert float(ranked[0]["holdout"]) >= float(ranked[1]["holdout"])
        # each job's holdout interval, and how it stands against the leader's
        for row in ranked:
            low, high = float(row["holdout_ci_low"]), float(row["holdout_ci_high"])
            assert low <= float(row["holdout"]) <= high
        leader, second = ranked
        bounds = [
            float(r[k]) for r in (leader, second) for k in ("holdout_ci_low", "holdout_ci_high")
        ]
        overlap = bounds[2] <= bounds[1] and bounds[0] <= bounds[3]
        assert leader["vs_leader"] == "leader"
        assert second["vs_leader"] == ("not distinguishable" if overlap else "behind")
    assert "rank  job  dataset" in result.stderr  # the console table
    assert re.search(r"\[\d\.\d{4}, \d\.\d{4}\]", result.stderr)  # its interval column

    runs = all_runs(workdir)
    parents = [r for r in _parents(runs) if r.data.tags.get("mlengine.run_kind") == "study"]
    (sweep,) = [r for r in runs if r.data.tags.get("mlengine.run_kind") == "sweep"]
    assert len(parents) == 4
    assert {p.data.tags["mlengine.sweep"] for p in parents} == {sweep.data.tags["mlengine.sweep"]}
    assert {r["run_id"] for r in rows} == {p.info.run_id for p in parents}
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")
    logged = {a.path for a in client.list_artifacts(sweep.info.run_id)}
    assert logged == {"leaderboard.csv", "leaderboard.md"}


@pytest.mark.slow
def test_a_job_failing_in_training_is_listed_with_its_reason(workdir: Path) -> None:
    _experiment(workdir, "lr_wine", "wine", "logistic_regression")
    _experiment(workdir, "knn_wine", "wine", "knn")
    _experiment(workdir, "lr_iris", "iris", "logistic_regression")
    # Valid config, but every fit rejects it: the job fails while training.
    _experiment(workdir, "broken", "iris", "knn", "model: {classifier: {algorithm: nope}}\n")
    args = ["-m", "+experiment=lr_wine,knn_wine,lr_iris,broken"]
    result = run_cli(args, workdir, timeout=600)
    assert result.returncode != 0
    rows = _leaderboard(workdir)
    ok = [r for r in rows if r["status"] == "ok"]
    (failed,) = [r for r in rows if r["status"] == "failed"]
    assert len(ok) == 3 and failed["rank"] == "" and failed["model"] == "knn"
    assert "No trial of study" in failed["reason"]
    assert "failed #3 +experiment=broken: No trial of study" in result.stderr


@pytest.mark.slow
def test_a_changed_metric_makes_a_new_study_and_says_so(workdir: Path) -> None:
    args = ["dataset=wine", "model=logistic_regression", "search.n_trials=2", *FAST]
    first = run_cli(args, workdir, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_cli([*args, "search.metric=f1_macro"], workdir, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "New study mlengine-wine-logistic_regression-" in second.stdout
    assert "differ from the earlier" in second.stdout
    parents = _parents(all_runs(workdir))
    assert len(parents) == 2 and len({p.data.tags["mlengine.study"] for p in parents}) == 2
