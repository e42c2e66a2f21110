"""The study and its trial loop: exact counts across workers, samplers and pruners by name,
recovery and retries, the parent run kept per study, the multirun leaderboard."""

from __future__ import annotations

import threading
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mlengine import leaderboard, samplers, sweep
from mlengine.config import PRUNERS, SAMPLERS, ConfigError, ModelConfig, ParamSpec, SearchConfig
from mlengine.recovery import DIED, INTERRUPTED_KEY, WORKER_KEY, fail_stale_trials
from mlengine.studies import counted_trials, open_study


def _open(tmp_path: Path, **search) -> object:
    config = SearchConfig(**search)
    return open_study(config, "s", "maximize", 0, tmp_path / "journal.log")


def test_workers_on_one_study_end_with_exactly_n_trials(tmp_path: Path) -> None:
    """Four workers, each with its own handle on the journal, race for 10 trial slots."""

    def work() -> None:
        handle = _open(tmp_path)
        sweep.run_trials(handle, lambda t: t.suggest_float("x", 0, 1), n_trials=10)

    _open(tmp_path)  # created once, so the workers only load it
    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    trials = _open(tmp_path).study.trials
    assert len(trials) == 10
    assert sorted(t.number for t in trials) == list(range(10))
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_a_raising_objective_is_told_fail_with_its_reason_and_the_loop_goes_on(
    tmp_path: Path,
) -> None:
    handle = _open(tmp_path)

    def objective(trial: optuna.Trial) -> float:
        if trial.number == 1:
            raise ValueError("bad combination")
        if trial.number == 2:
            raise optuna.TrialPruned()
        return float("nan") if trial.number == 3 else 1.0

    ran = sweep.run_trials(handle, objective, 5, catch=(ValueError,))
    states = [t.state for t in handle.study.trials]
    assert ran == 5 and counted_trials(handle.study) == 5
    assert states == [
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.PRUNED,
        TrialState.FAIL,
        TrialState.COMPLETE,
    ]
    reasons = [t.user_attrs.get("fail_reason") for t in handle.study.trials]
    assert reasons[1] == "bad combination"
    assert reasons[3] == "the objective returned no finite value"
    assert all(t.user_attrs[WORKER_KEY] for t in handle.study.trials)


def test_an_uncaught_error_fails_the_trial_and_stops_the_loop(tmp_path: Path) -> None:
    handle = _open(tmp_path)
    with pytest.raises(RuntimeError):
        sweep.run_trials(handle, lambda t: (_ for _ in ()).throw(RuntimeError("boom")), 3)
    (trial,) = handle.study.trials
    assert trial.state == TrialState.FAIL and trial.user_attrs["fail_reason"] == (
        "RuntimeError: boom"
    )


def test_trials_of_a_dead_worker_fail_as_interrupted_and_are_retried_once(
    tmp_path: Path,
) -> None:
    handle = _open(tmp_path)
    dead = handle.study.ask()
    dead.suggest_float("x", 0, 1)
    dead.set_user_attr(WORKER_KEY, f"{__import__('socket').gethostname()}:999999999")
    alive = handle.study.ask()
    alive.set_user_attr(WORKER_KEY, "another-host:1")  # left to the storage's heartbeat

    assert fail_stale_trials(handle) == 1
    first, second = handle.study.trials
    assert first.state == TrialState.FAIL and second.state == TrialState.RUNNING
    assert first.user_attrs["fail_reason"] == DIED and first.user_attrs[INTERRUPTED_KEY]

    assert sweep.enqueue_retries(handle.study) == 1
    assert sweep.enqueue_retries(handle.study) == 0  # once
    sweep.run_trials(handle, lambda t: t.suggest_float("x", 0, 1), n_trials=3)  # 2 counted
    retry = handle.study.trials[-1]
    assert retry.state == TrialState.COMPLETE and retry.params == first.params
    assert retry.user_attrs[sweep.RETRY_OF_KEY] == first.number


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_by_name_runs_a_seeded_study(tmp_path: Path, name: str) -> None:
    model = ModelConfig(
        name="m",
        classifier={"_target_": "x"},
        search_space={
            "depth": ParamSpec(type="int", low=1, high=3),
            "kind": ParamSpec(type="categorical", choices=["a", "b"]),
        },
    )
    grid = samplers.grid_space(model, "classification") if name == "grid" else None
    values = []
    for folder in ("a", "b"):
        handle = open_study(
            SearchConfig(sampler=name), "s", "maximize", 7, tmp_path / folder / "j.log", grid
        )

        def objective(trial: optuna.Trial) -> float:
            return trial.suggest_int("depth", 1, 3) + (
                trial.suggest_categorical("kind", "ab") == "a"
            )

        sweep.run_trials(handle, objective, 10 if name == "grid" else 6)
        values.append([t.params for t in handle.study.trials])
    assert values[0] == values[1]  # seeded: the same suggestions
    if name == "grid":  # every one of the 6 points once, then the sweep ends
        assert len(values[0]) == 6 and len({tuple(sorted(p.items())) for p in values[0]}) == 6


@pytest.mark.parametrize("name", PRUNERS)
def test_every_pruner_by_name_is_built(name: str) -> None:
    pruner = samplers.make_pruner(SearchConfig(pruner=name))
    assert isinstance(pruner, optuna.pruners.BasePruner)


def test_unknown_sampler_and_pruner_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="search.sampler.*tpe, random, cmaes, qmc, grid"):
        SearchConfig(sampler="bayes")
    with pytest.raises(ConfigError, match="search.pruner.*successive_halving"):
        SearchConfig(pruner="asha")


def test_the_grid_sampler_refuses_a_continuous_or_huge_space() -> None:
    continuous = ModelConfig(
        name="m",
        classifier={"_target_": "x"},
        search_space={"lr": ParamSpec(type="float", low=0.01, high=0.3)},
    )
    with pytest.raises(ConfigError, match="search_space.lr is a continuous float"):
        samplers.grid_space(continuous, "classification")
    huge = ModelConfig(
        name="m",
        classifier={"_target_": "x"},
        search_space={
            "a": ParamSpec(type="int", low=1, high=1000),
            "b": ParamSpec(type="int", low=1, high=1000),
        },
    )
    with pytest.raises(ConfigError, match="1,000,000 points"):
        samplers.grid_space(huge, "classification")


def test_a_resumed_parent_run_keeps_its_id_and_records_changed_params_as_tags(
    tmp_path: Path,
) -> None:
    from mlengine.tracking import Tracker

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "e", tmp_path)
    run_id = tracker.open_parent("p", {"a": "1"})
    with tracker.parent_run(run_id):
        tracker.log_params({"search.n_trials": 12, "seed": 1})
    assert tracker.open_parent("p", {"a": "2"}, resume=run_id) == run_id
    with tracker.parent_run(run_id):
        tracker.log_params({"search.n_trials": 15, "seed": 1, "new": "x"})
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"search.n_trials": "12", "seed": "1", "new": "x"}
    assert run.data.tags["search.n_trials"] == "15" and run.data.tags["a"] == "2"
    tracker.client.delete_run(run_id)
    assert tracker.open_parent("p", {}, resume=run_id) != run_id  # a deleted one is not reused


def _job(job: int, dataset: str, model: str, holdout: float, cv: float, metric: str) -> dict:
    return {
        "job": job,
        "dataset": dataset,
        "model": model,
        "metric": metric,
        "holdout": holdout,
        "cv": cv,
        "trials": 5,
        "wall_s": 1.0,
        "status": "ok",
        "overrides": f"model={model}",
    }


def test_the_leaderboard_ranks_within_each_dataset_by_the_metrics_direction(
    tmp_path: Path,
) -> None:
    jobs = [
        _job(0, "wine", "a", 0.90, 0.95, "accuracy"),
        _job(1, "wine", "b", 0.97, 0.91, "accuracy"),
        _job(2, "wine", "c", 0.97, 0.93, "accuracy"),  # tie on holdout: CV decides
        _job(3, "diabetes", "a", 60.0, 58.0, "rmse"),
        _job(4, "diabetes", "b", 55.0, 59.0, "rmse"),  # lower is better
        {"job": 5, "dataset": "wine", "model": "d", "status": "failed", "reason": "no trial"},
    ]
    rows = leaderboard.rank(jobs)
    assert [(r["dataset"], r["model"], r["rank"]) for r in rows] == [
        ("diabetes", "b", 1),
        ("diabetes", "a", 2),
        ("wine", "c", 1),
        ("wine", "b", 2),
        ("wine", "a", 3),
        ("wine", "d", ""),
    ]
    paths = leaderboard.write(rows, tmp_path)
    assert paths[0].read_text().splitlines()[0] == ",".join(leaderboard.COLUMNS)
    markdown = paths[1].read_text()
    assert markdown.count("\n") == 2 + len(rows) and "no trial" in markdown
    console = leaderboard.console_table(rows)
    assert "failed #5 : no trial" in console


def test_jobs_whose_interval_overlaps_the_leaders_are_not_distinguishable() -> None:
    def job(n: int, holdout: float, low: float, high: float) -> dict:
        return {
            **_job(n, "wine", f"m{n}", holdout, 0.9, "accuracy"),
            "holdout_ci_low": low,
            "holdout_ci_high": high,
        }

    rows = leaderboard.rank(
        [
            job(0, 0.95, 0.92, 0.98),
            job(1, 0.93, 0.90, 0.96),
            job(2, 0.80, 0.75, 0.85),
            {**_job(3, "wine", "m3", 0.70, 0.9, "accuracy")},
        ]  # no interval: nothing claimed
    )
    assert [(r["model"], r["vs_leader"]) for r in rows] == [
        ("m0", "leader"),
        ("m1", "not distinguishable"),
        ("m2", "behind"),
        ("m3", ""),
    ]
    console = leaderboard.console_table(rows)
    assert "[0.9000, 0.9600]" in console and "not distinguishable" in console
