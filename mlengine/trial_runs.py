"""A trial's nested MLflow run: what it records, and the writer process that logs them.

A run is three SQLite commits (~40-60 ms, as long as a cheap trial), and MLflow's Python
side of them holds the interpreter lock: on a thread it slows the trial running beside it
by as much. So the sweep hands each finished trial to a writer *process* (one JSON line on
its stdin) and goes on at once; the writer, started with the parent run so its imports are
done by the first trial, logs them in order on another core. A trial still in the pipe when
the sweep is SIGKILLed is written by the next run's `Tracker.sync_trials`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from typing import Any

TRIAL_NUMBER_TAG = "optuna.trial_number"
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}  # anything else: FAILED


def trial_record(trial: Any, metric: str) -> dict[str, Any]:
    """What a finished Optuna trial's run holds, as plain JSON values."""
    start = int(trial.datetime_start.timestamp() * 1000)
    end = int((trial.datetime_complete or trial.datetime_start).timestamp() * 1000)
    metrics = {"trial_number": trial.number, "fit_seconds": (end - start) / 1000}
    if trial.state.name == "COMPLETE" and trial.value is not None:
        metrics[f"cv_{metric}"] = trial.value
        metrics[f"cv_{metric}_std"] = trial.user_attrs.get("cv_std", float("nan"))
    if "best_rounds" in trial.user_attrs:
        metrics["best_rounds"] = trial.user_attrs["best_rounds"]
    tags = {TRIAL_NUMBER_TAG: str(trial.number), "optuna.state": trial.state.name}
    if trial.state.name == "FAIL":
        tags["fail_reason"] = str(trial.user_attrs.get("fail_reason", "no finite score"))[:5000]
    return {
        "number": trial.number,
        "state": trial.state.name,
        "start": start,
        "end": end,
        "metrics": metrics,
        "params": {k: str(v) for k, v in trial.params.items()},
        "tags": tags,
    }


def write_trial_run(
    client: Any, experiment_id: str, parent_id: str, tags: dict[str, str], record: dict
) -> str:
    """The nested run of one trial record, in three calls; its run id."""
    from mlflow.entities import Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

    from mlengine.recovery import WORKER_KEY, worker_id

    name = f"trial-{record['number']:03d}"
    run = client.create_run(
        experiment_id,
        start_time=record["start"],
        tags={
            **tags,
            **record["tags"],
            MLFLOW_PARENT_RUN_ID: parent_id,
            MLFLOW_RUN_NAME: name,
            # Stamped like the parent: a kill between create and terminate leaves it RUNNING.
            WORKER_KEY: worker_id(),
        },
    )
    end = record["end"]
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), end, 0) for k, v in record["metrics"].items()],
        params=[Param(k, v) for k, v in record["params"].items()],
    )
    client.set_terminated(run.info.run_id, STATUS.get(record["state"], "FAILED"), end_time=end)
    return run.info.run_id


class TrialWriter:
    """The writer process: `put` returns at once, `close` waits until all are written."""

    def __init__(self, uri: str, experiment_id: str, parent_id: str, tags: dict) -> None:
        # Its messages go to a file, not a pipe: a pipe nobody reads until `close` would
        # fill, stop the writer, and then block `put`.
        self.errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlengine.trial_runs"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.errors,
            text=True,
        )
        setup = {"uri": uri, "experiment_id": experiment_id, "parent_id": parent_id}
        self._send({**setup, "tags": tags})

    def put(self, record: dict) -> None:
        self._send(record)

    def close(self) -> str | None:
        """None when every record was written, else the writer's last error line."""
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        code = self.process.wait()
        self.errors.seek(0)
        lines = self.errors.read().strip().splitlines()
        self.errors.close()
        return None if code == 0 else (lines or [f"exit {code}"])[-1]

    def _send(self, message: dict) -> None:
        with contextlib.suppress(BrokenPipeError):  # it died: close() says why
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()


def main() -> None:
    from mlflow.tracking import MlflowClient

    setup = json.loads(sys.stdin.readline())
    client = MlflowClient(setup["uri"])
    for line in sys.stdin:
        record = json.loads(line)
        write_trial_run(client, setup["experiment_id"], setup["parent_id"], setup["tags"], record)


if __name__ == "__main__":
    main()
