"""A thin MLflow layer: one parent run per job, one nested run per Optuna trial."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from mlengine.config import MlengineError
from mlengine.recovery import WORKER_KEY, worker_id

TRACKED_PACKAGES = (
    "mlengine",
    "scikit-learn",
    "xgboost",
    "torch",
    "optuna",
    "mlflow",
    "pandas",
    "numpy",
    "hydra-core",
)
_SECRET = re.compile(r"(://[^:/@]+:)[^@/]+@")


def redact(text: str) -> str:
    """Hide the password of any URL in `text` (database and tracking URIs carry them)."""
    return _SECRET.sub(r"\1***@", text)


def resolve_uri(uri: str) -> str:
    """Make a relative SQLite path absolute and its folder exist, so any cwd finds it."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = Path(uri.removeprefix(prefix)).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return uri


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@contextlib.contextmanager
def _store_creation_lock(uri: str) -> Iterator[None]:
    """Serialise first use of a SQLite store: MLflow's schema set-up races between
    processes that open a new store at once (e.g. jobs of a parallel launcher)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    lock_path = Path(uri.removeprefix("sqlite:///")).with_suffix(".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Tracker:
    """Connects to the store at start-up, so a bad URI fails before any training."""

    def __init__(self, uri: str, experiment_name: str, artifact_root: Path) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self.uri = resolve_uri(uri)
        mlflow.set_tracking_uri(self.uri)
        try:
            with _store_creation_lock(self.uri):
                self.client = MlflowClient(self.uri)
                self.client.search_experiments(max_results=1)  # creates a new store's schema
                experiment = self.client.get_experiment_by_name(experiment_name)
                self.experiment_id = (
                    experiment.experiment_id
                    if experiment
                    else self.client.create_experiment(
                        experiment_name, self._artifact_location(artifact_root)
                    )
                )
        except Exception as error:  # noqa: BLE001 - stores raise many types
            reason = redact(str(error).splitlines()[0] if str(error) else type(error).__name__)
            raise MlengineError(
                f"MLflow tracking store {redact(self.uri)} is unreachable: "
                f"{reason} (check tracking.uri)"
            ) from None
        self.parent_id: str | None = None

    def _artifact_location(self, artifact_root: Path) -> str | None:
        """Local stores keep artifacts beside them (MLflow's default is ./mlruns in the cwd);
        a tracking server decides for itself."""
        if not self.uri.startswith(("sqlite:", "file:")):
            return None
        return (artifact_root / "artifacts").resolve().as_uri()

    @contextlib.contextmanager
    def parent_run(self, name: str, tags: dict[str, str]) -> Iterator[str]:
        """The job's run: FINISHED on success, KILLED on Ctrl-C, FAILED on any error."""
        import mlflow

        run = mlflow.start_run(experiment_id=self.experiment_id, run_name=name, tags=tags)
        self.parent_id = run.info.run_id
        try:
            yield self.parent_id
        except KeyboardInterrupt:
            mlflow.end_run("KILLED")
            raise
        except BaseException:
            mlflow.end_run("FAILED")
            raise
        mlflow.end_run("FINISHED")

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k[:250], redact(str(v))[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.parent_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        self.client.log_batch(self.parent_id, metrics=items)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.parent_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.parent_id, str(path), folder)

    def log_trial(self, trial: Any, metric: str) -> str:
        """One nested run per finished trial, written in four calls (batched)."""
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
        from optuna.trial import TrialState

        start = int(trial.datetime_start.timestamp() * 1000)
        end = int((trial.datetime_complete or trial.datetime_start).timestamp() * 1000)
        name = f"trial-{trial.number:03d}"
        run = self.client.create_run(
            self.experiment_id,
            start_time=start,
            run_name=name,
            # Stamped like the parent: a kill between create and terminate leaves it RUNNING.
            tags={
                MLFLOW_PARENT_RUN_ID: self.parent_id,
                MLFLOW_RUN_NAME: name,
                WORKER_KEY: worker_id(),
            },
        )
        metrics = {"fit_seconds": (end - start) / 1000}
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            metrics[f"cv_{metric}"] = trial.value
            metrics[f"cv_{metric}_std"] = trial.user_attrs.get("cv_std", float("nan"))
        if "best_rounds" in trial.user_attrs:
            metrics["best_rounds"] = trial.user_attrs["best_rounds"]
        tags = {"optuna.trial_number": str(trial.number), "optuna.state": trial.state.name}
        if trial.state == TrialState.FAIL:
            tags["fail_reason"] = str(trial.user_attrs.get("fail_reason", "no finite score"))[:5000]
        self.client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, float(v), end, 0) for k, v in metrics.items()],
            params=[Param(k, str(v)) for k, v in trial.params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        status = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED"}.get(
            trial.state, "FAILED"
        )
        self.client.set_terminated(run.info.run_id, status, end_time=end)
        return run.info.run_id
