"""A trial's nested MLflow run: what it records (plain values, taken when the trial ends)
and how it is written (three calls: create, log_batch, set_terminated)."""

from __future__ import annotations

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
