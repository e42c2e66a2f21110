"""Many `mlengine` processes on one PostgreSQL study (a private cluster on loopback, see
tests/postgres.py): the exact trial count, one parent run, one export, and a killed worker's
trial failed by its missing heartbeat and retried."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.helpers import start_cli
from tests.postgres import fresh_database, wait_until

pytestmark = pytest.mark.slow
N_TRIALS = 15


def _args(url: str, *extra: str, n_trials: int = N_TRIALS) -> list[str]:
    return [
        f"search.storage={url}",
        f"search.n_trials={n_trials}",
        "model=random_forest",  # ~1 s a trial: every worker gets some
        "search.cv_folds=3",
        "search.pruner=none",
        "eda=off",
        "export.onnx=false",
        *extra,
    ]


def _study(url: str):
    import optuna

    (summary,) = optuna.get_all_study_summaries(url)
    return optuna.load_study(study_name=summary.study_name, storage=url)


def _finish(workers: list) -> list[tuple[int, str, str]]:
    return [(w.wait(timeout=600), *w.communicate()) for w in workers]


def _exported(workdir: Path) -> list[Path]:
    return [p for p in (workdir / "outputs" / "runs").glob("*/model") if p.is_dir()]


def test_three_workers_run_exactly_n_trials_under_one_parent_and_export_once(
    postgres_server: str, tmp_path: Path
) -> None:
    from optuna.trial import TrialState

    from tests.helpers import all_runs

    url = fresh_database(postgres_server, "three_workers")
    workers = [start_cli(_args(url), tmp_path) for _ in range(3)]
    results = _finish(workers)
    for code, _, err in results:
        assert code == 0, err[-3000:]
    trials = _study(url).get_trials()
    assert len(trials) == N_TRIALS
    assert sorted(t.number for t in trials) == list(range(N_TRIALS))
    assert {t.state for t in trials} == {TrialState.COMPLETE}  # no pruner, nothing failed
    assert len({t.user_attrs["mlengine.worker"] for t in trials}) == 3  # all three worked
    sampled = [
        tuple(sorted(t.params.items())) for t in trials if "fixed_params" not in t.system_attrs
    ]
    assert len(set(sampled)) == len(sampled)  # no two workers suggest the same point
    runs = all_runs(tmp_path)
    parents = [r for r in runs if r.data.tags.get("mlengine.run_kind") == "study"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == N_TRIALS
    assert {r.info.status for r in [*parents, *children]} == {"FINISHED"}
    assert len(_exported(tmp_path)) == 1
    outputs = [out for _, out, _ in results]
    assert sum("another worker exports it" in out for out in outputs) == 2

    # The explicit export-only step, with the same overrides: it exports again, runs no
    # trial and reopens the same parent run.
    again = start_cli(_args(url, "export.only=true"), tmp_path)
    code, out, err = _finish([again])[0]
    assert code == 0, err[-3000:]
    assert len(_study(url).get_trials()) == N_TRIALS
    assert len(_exported(tmp_path)) == 2 and "Holdout: " in out
    runs = all_runs(tmp_path)
    assert [r.info.run_id for r in runs if r.data.tags.get("mlengine.run_kind") == "study"] == [
        parents[0].info.run_id
    ]
    assert len(runs) == len([*parents, *children])  # no new trial run


def test_a_killed_workers_trial_fails_after_the_grace_period_and_the_count_holds(
    postgres_server: str, tmp_path: Path
) -> None:
    from optuna.trial import TrialState

    from tests.helpers import all_runs

    url = fresh_database(postgres_server, "killed_worker")
    beats = ["search.heartbeat_interval=1", "search.grace_period=3"]
    # More trials than the other test: after the grace period some are left to ask for,
    # and the first ask after it runs the dead trial's retry.
    n_trials = 2 * N_TRIALS
    workers = [start_cli(_args(url, *beats, n_trials=n_trials), tmp_path) for _ in range(3)]
    victim = workers[0]

    def victim_is_in_a_trial() -> bool:
        try:
            running = _study(url).get_trials(states=(TrialState.RUNNING,))
        except ValueError:  # the study does not exist yet
            return False
        return any(
            t.user_attrs.get("mlengine.worker", "").endswith(f":{victim.pid}") for t in running
        )

    assert wait_until(victim_is_in_a_trial, timeout=180, poll=0.2)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    for code, _, err in _finish(workers[1:]):
        assert code == 0, err[-3000:]
    trials = _study(url).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    counted = [
        t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    ]
    assert len(counted) == n_trials
    (dead,) = [t for t in trials if t.state == TrialState.FAIL]
    assert dead.user_attrs["mlengine.worker"].endswith(f":{victim.pid}")
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    # Retried once, with what the dead trial had sampled (it died before sampling the rest).
    assert len(retries) == 1 and dead.params.items() <= retries[0].params.items()
    assert len(_exported(tmp_path)) == 1
    # MLflow: one parent, and no run left RUNNING: a trial's nested run is written when the
    # trial ends (the dead one left none), and the parent the victim reopened is ended by
    # the workers that outlive it.
    runs = all_runs(tmp_path)
    assert len([r for r in runs if r.data.tags.get("mlengine.run_kind") == "study"]) == 1
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
