"""`search.n_jobs=K`: K - 1 worker processes beside the job's own, sweeping one study.

The job hands each worker what it decided (the training split, the columns, the family
advice, the study, the parent run, the deadline) in a pickle under its output folder; a
worker rebuilds the same objective, runs `sweep.run_trials` on the study's storage and
writes one nested MLflow run per trial under the job's parent. Processes, not threads: the
estimators hold the GIL in their Python parts, and a crashed worker cannot take the job down.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class WorkerJob:
    conf: Any  # config.Config
    ds: Any  # data.Dataset
    columns: dict[str, str]
    X: pd.DataFrame
    y: pd.Series
    metric: str
    advice: dict[str, float]
    study_name: str
    direction: str
    grid: dict[str, list] | None
    parent_id: str
    trial_tags: dict[str, str]
    budget_seconds: float | None
    started: float  # time.monotonic() of the job's start: the same clock in every process
    export_seconds: float


def start(job: WorkerJob, count: int, folder: Path) -> list[tuple[subprocess.Popen, Path]]:
    """Start `count` workers on `job`; each writes its log to folder/worker-<k>.log."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = folder / "job.pkl"
    payload.write_bytes(pickle.dumps(job))
    started = []
    for k in range(1, count + 1):
        log = folder / f"worker-{k}.log"
        with open(log, "w") as stream:
            process = subprocess.Popen(
                [sys.executable, "-m", "mlengine.workers", str(payload), str(k)],
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT,
            )
        started.append((process, log))
    return started


def wait(started: list[tuple[subprocess.Popen, Path]]) -> list[str]:
    """Wait for every worker; the last log line of each that failed. The payload (a copy of
    the training rows) goes once they are done."""
    problems = []
    for process, log in started:
        if process.wait() != 0:
            lines = log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
            problems.append(f"{log.name} exited {process.returncode}: {lines[-1][:300]}")
    for _, log in started[:1]:
        (log.parent / "job.pkl").unlink(missing_ok=True)
    return problems


def stop(started: list[tuple[subprocess.Popen, Path]]) -> None:
    """On Ctrl-C or an error in the job: the workers end too (their trials are told FAIL)."""
    import signal

    for process, _ in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process, _ in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    wait(started)


def run_worker(job: WorkerJob, index: int = 1) -> int:
    """One worker's sweep; returns the trials it ran."""
    from mlengine import run, search, sweep, threads
    from mlengine.budget import Budget, StopAtDeadline
    from mlengine.studies import open_study
    from mlengine.tracking import Tracker

    conf = job.conf
    budget = Budget(job.budget_seconds, job.started)
    stop_at_deadline = StopAtDeadline(budget, conf.search.cv_folds, job.export_seconds)
    objective = run.build_objective(
        conf, job.ds, job.columns, job.X, job.y, job.metric, stop_at_deadline, job.advice
    )
    handle = open_study(
        conf.search,
        job.study_name,
        job.direction,
        conf.seed + index,  # the same seed would repeat the main process's suggestions
        run.default_journal(conf),
        job.grid,
    )
    tracker = Tracker(conf.tracking.uri, conf.experiment_name, Path(conf.paths.root))
    tracker.parent_id, tracker.trial_tags = job.parent_id, job.trial_tags
    tracker.start_trial_writer()
    try:
        with threads.shared_by(conf.search.n_jobs):
            return sweep.run_trials(
                handle,
                objective,
                conf.search.n_trials,
                catch=(search.EstimatorFailure,),
                callbacks=[lambda s, t: tracker.log_trial_soon(t, job.metric), stop_at_deadline],
                should_stop=lambda: stop_at_deadline.stopped,
            )
    finally:
        tracker.flush()


def main(payload: str, index: int) -> None:
    from mlengine.recovery import install_stop_handlers

    install_stop_handlers()
    job = pickle.loads(Path(payload).read_bytes())
    try:
        ran = run_worker(job, index)
    except KeyboardInterrupt:
        print("worker interrupted", flush=True)
        sys.exit(130)
    print(f"worker ran {ran} trials", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
