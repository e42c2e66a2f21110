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
from mlengine.recovery import WORKER_KEY
from mlengine.redaction import redact
from mlengine.trial_runs import TRIAL_NUMBER_TAG, TrialWriter, trial_record, write_trial_run

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


def resolve_uri(uri: str) -> str:
    """Make a relative SQLite path absolute and its folder exist, so any cwd finds it."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = Path(uri.removeprefix(prefix)).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return uri


_PROBE = "/api/2.0/mlflow/experiments/search"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"'()\\\]]+)")


def check_reachable(uri: str) -> None:
    """A tracking server (http[s]://) answers an authenticated REST call now, or this raises
    one line: a server that is down or refuses the credentials fails at start-up, before any
    training, not after minutes of MLflow's retries or in the middle of the sweep.

    One request, no retries, a short timeout (MLFLOW_HTTP_REQUEST_TIMEOUT when set, else
    15 s); the credentials are MLflow's own (MLFLOW_TRACKING_USERNAME/PASSWORD or _TOKEN,
    ~/.mlflow/credentials). Messages carry the URI redacted, never a password.
    """
    if not uri.lower().startswith(("http://", "https://")):
        return
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_TIMEOUT
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    shown = redact(uri)
    timeout = MLFLOW_HTTP_REQUEST_TIMEOUT.get() if MLFLOW_HTTP_REQUEST_TIMEOUT.defined else 15
    creds = get_default_host_creds(uri)
    try:
        response = http_request(
            creds,
            _PROBE,
            "GET",
            max_retries=0,
            backoff_factor=0,
            timeout=timeout,
            raise_on_status=False,
            params={"max_results": 1},
        )
    except Exception as error:  # noqa: BLE001 - requests and MLflow wrap many types
        # "tracking store ... is unreachable", as for any store that fails (Tracker below).
        raise MlengineError(
            f"MLflow tracking store {shown} is unreachable: no server answers there "
            f"({_reason(error, timeout)}); start it (mlflow server ...) or set tracking.uri"
        ) from None
    status = response.status_code
    if status in (401, 403):
        given = creds.username or creds.password or creds.token or "@" in uri.split("/")[2]
        raise MlengineError(
            f"MLflow tracking server at {shown} refused the credentials (HTTP {status}): "
            "check MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"
            if given
            else f"MLflow tracking server at {shown} wants credentials (HTTP {status}) and "
            "none are set: set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"
        )
    try:
        answered = status == 200 and isinstance(response.json(), dict)
    except ValueError:
        answered = False
    if not answered:
        body = redact(" ".join(response.text.split()))[:200]
        raise MlengineError(
            f"MLflow tracking server at {shown} answered HTTP {status} to {_PROBE}, not as an "
            f"MLflow tracking server{f' ({body})' if body else ''}: check tracking.uri"
        )


def _reason(error: BaseException, timeout: float) -> str:
    """The root cause of a failed request in a few words ("Connection refused")."""
    chain = [error]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) and len(chain) < 10:
        chain.append(cause)
    text = " ".join(str(e) for e in chain)
    if match := _ERRNO.search(text):
        return match.group(1).strip()
    if "timed out" in text.lower() or "timeout" in text.lower():
        return f"no answer within {timeout:g} s"
    if "ssl" in text.lower() or "certificate" in text.lower():
        return "TLS error (" + redact(" ".join(text.split()))[:200] + ")"
    last = str(chain[-1]) or type(chain[-1]).__name__
    return redact(" ".join(last.split()))[:200]


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
    from mlengine.locks import file_lock

    with file_lock(Path(uri.removeprefix("sqlite:///")).with_suffix(".lock")):
        yield


# How MLflow records a training experiment (not a GenAI one): the value the UI's own
# "experiment type" selector writes. MLflow 3.18's UI no longer reads it when it opens an
# experiment: it follows the browser's own workflow toggle (GenAI unless the user picked
# "Machine learning"), so the bare experiment URL shows a GenAI overview ("send your first
# trace"). `runs_page` is the link that opens on the runs whatever the toggle says.
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_TAG = (EXPERIMENT_KIND, "custom_model_development")


def runs_page(ui: str, experiment_id: str) -> str:
    """The MLflow UI page of an experiment's training runs (`ui`: the server's address)."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


class Tracker:
    """Connects to the store at start-up, so a bad URI fails before any training."""

    def __init__(self, uri: str, experiment_name: str, artifact_root: Path) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self.uri = resolve_uri(uri)
        check_reachable(self.uri)  # a tracking server: down or refusing, in one line, now
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
                if not experiment or EXPERIMENT_KIND not in experiment.tags:
                    self.client.set_experiment_tag(self.experiment_id, *EXPERIMENT_KIND_TAG)
        except Exception as error:  # noqa: BLE001 - stores raise many types
            reason = redact(str(error).splitlines()[0] if str(error) else type(error).__name__)
            raise MlengineError(
                f"MLflow tracking store {redact(self.uri)} is unreachable: "
                f"{reason} (check tracking.uri)"
            ) from None
        self.parent_id: str | None = None
        # Copied onto every trial's run: filtering on them in the UI keeps the children
        # (a filter on the parent's params alone drops them).
        self.trial_tags: dict[str, str] = {}
        self._writer: TrialWriter | None = None  # logs the trials' runs (trial_runs.py)
        self.write_errors: list[str] = []

    def _artifact_location(self, artifact_root: Path) -> str | None:
        """Local stores keep artifacts beside them (MLflow's default is ./mlruns in the cwd);
        a tracking server decides for itself."""
        if not self.uri.startswith(("sqlite:", "file:")):
            return None
        return (artifact_root / "artifacts").resolve().as_uri()

    def open_parent(self, name: str, tags: dict[str, str], resume: str | None = None) -> str:
        """The job's parent run: `resume` (the study's run, after a kill or to extend it)
        when it still exists, else a new one; returns its id."""
        from mlflow.exceptions import MlflowException

        if resume:
            try:
                run = self.client.get_run(resume)
            except MlflowException:
                run = None
            if run is not None and run.info.lifecycle_stage == "active":
                self.client.log_batch(resume, tags=[_tag(k, v) for k, v in tags.items()])
                return resume
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        return run.info.run_id

    def find_study_run(self, study: str) -> str | None:
        """The parent run of Optuna study `study` in this experiment, if one exists."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`mlengine.study` = '{study}' and "
            "tags.`mlengine.run_kind` = 'study'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    @contextlib.contextmanager
    def parent_run(self, run_id: str) -> Iterator[str]:
        """The job's run, active for the block: FINISHED on success, KILLED on Ctrl-C,
        FAILED on any error."""
        import mlflow

        mlflow.start_run(run_id=run_id)  # RUNNING again when it is resumed
        self.parent_id = run_id
        status = "FINISHED"
        try:
            yield run_id
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            self.flush()  # the trials' runs end before their parent
            mlflow.end_run(status)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Params as given; on a resumed run a param that changed since (MLflow keeps a
        param's first value) is recorded as a tag of the same name."""
        from mlflow.entities import Param

        values = {k[:250]: redact(str(v))[:6000] for k, v in params.items()}
        logged = self.client.get_run(self.parent_id).data.params
        items = [Param(k, v) for k, v in values.items() if k not in logged]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.parent_id, params=items[start : start + 100])
        changed = {k: v for k, v in values.items() if k in logged and logged[k] != v}
        if changed:
            self.set_tags(changed)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        self.client.log_batch(self.parent_id, metrics=items)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.client.log_batch(self.parent_id, tags=[_tag(k, v) for k, v in tags.items()])

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.parent_id, str(path), folder)

    def log_trial(self, trial: Any, metric: str) -> str:
        """One nested run per finished trial, written now."""
        record = trial_record(trial, metric)
        return write_trial_run(
            self.client, self.experiment_id, self.parent_id, self.trial_tags, record
        )

    def start_trial_writer(self) -> None:
        """The writer process for `log_trial_soon` (its imports overlap the run's set-up)."""
        if self._writer is None:
            self._writer = TrialWriter(
                self.uri, self.experiment_id, self.parent_id, self.trial_tags
            )

    def log_trial_soon(self, trial: Any, metric: str) -> None:
        """`log_trial` by the writer process (mlengine/trial_runs.py): the next trial starts
        at once. `flush` waits for them."""
        self.start_trial_writer()
        self._writer.put(trial_record(trial, metric))

    def flush(self) -> None:
        """Until every trial handed to `log_trial_soon` has its run (the writer ends)."""
        writer, self._writer = self._writer, None
        problem = writer.close() if writer else None
        if problem:
            self.write_errors.append(problem)

    def logged_trials(self) -> set[int]:
        """Numbers of the trials that have a nested run under the parent."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{self.parent_id}'",
            max_results=50_000,
        )
        return {int(r.data.tags[TRIAL_NUMBER_TAG]) for r in runs if TRIAL_NUMBER_TAG in r.data.tags}

    def sync_trials(self, study: Any, metric: str) -> int:
        """Write the nested run of every finished trial that has none and whose worker
        process is gone (killed before it wrote it); returns how many. A live worker's
        trials are its own to write."""
        from mlengine.recovery import is_dead_local_worker

        def orphaned(trial: Any) -> bool:
            worker = trial.user_attrs.get(WORKER_KEY)
            return not worker or is_dead_local_worker(worker)

        logged = self.logged_trials()
        missing = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.state.is_finished() and t.number not in logged and orphaned(t)
        ]
        for trial in missing:
            self.log_trial(trial, metric)
        return len(missing)


def _tag(key: str, value: Any) -> Any:
    from mlflow.entities import RunTag

    return RunTag(key, str(value))
