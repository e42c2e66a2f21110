"""The Optuna study: its name, its storage, and the lock that keeps its trial count exact.

A study is resumable by name. Its storage is a journal file on this machine by default, or
an RDB URL (PostgreSQL shared by many workers). Workers on one study take a *slot* before
they ask for a trial: the count of trials and the ask happen under one lock, so K workers
end with exactly `search.n_trials` trials (Optuna's MaxTrialsCallback counts after the fact
and overshoots by up to K - 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from mlengine.config import MlengineError, SearchConfig
from mlengine.locks import file_lock
from mlengine.samplers import make_pruner, make_sampler

# Trials that count toward search.n_trials: every one that ended, whatever its state, and
# those running now (they will end). WAITING ones (enqueued warm starts) are not yet trials.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
PARENT_RUN_KEY = "mlengine.parent_run_id"  # the study's MLflow parent run (a user attr)
SCHEMA_LOCK = "mlengine:storage-schema"  # the slot taken while a storage creates its tables


@dataclass
class OpenStudy:
    study: optuna.Study
    storage: Any  # the BaseStorage the study lives in
    url: str  # where: "journal:PATH" or the RDB URL
    created: bool  # a new study (not a resumed one)
    grid: dict[str, list] | None = None  # search.sampler=grid: the points

    @property
    def name(self) -> str:
        return self.study.study_name

    def slot(self) -> contextlib.AbstractContextManager:
        return slot(self.url, self.name)

    @property
    def beats(self) -> bool:
        """Whether running trials send heartbeats (RDB storages)."""
        storage = self.storage
        return (
            isinstance(storage, optuna.storages.RDBStorage)
            and storage.get_heartbeat_interval() is not None
        )

    def trial_id(self, number: int) -> int:
        study_id = self.storage.get_study_id_from_name(self.name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)


@contextlib.contextmanager
def slot(url: str, name: str) -> Iterator[None]:
    """Exclusive between every worker of study `name` in storage `url`, on any machine the
    storage reaches (the study need not exist yet)."""
    if url.startswith("postgresql"):
        with _advisory_lock(url, name):
            yield
        return
    path = _lock_path(url)
    if path is None:  # an RDB without a lock we know: counts may overshoot by K - 1
        yield
        return
    with file_lock(path):
        yield


def storage_url(search: SearchConfig, default_journal: Path) -> str:
    return search.storage or f"journal:{default_journal}"


def study_name(prefix: str, *parts: Any) -> str:
    """Same experiment + data + model + space -> same name, so a rerun resumes that study."""
    payload = json.dumps(
        [asdict(p) if hasattr(p, "__dataclass_fields__") else p for p in parts],
        sort_keys=True,
        default=str,
    )
    return f"{prefix}-{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


def open_study(
    search: SearchConfig,
    name: str,
    direction: str,
    seed: int,
    default_journal: Path,
    grid: dict[str, list] | None = None,
) -> OpenStudy:
    """Create or load the study (resumable by name) in the configured storage."""
    url = storage_url(search, default_journal)
    with quiet_optuna():
        storage = _storage(url, search)
        created = name not in optuna.get_all_study_names(storage)
        try:
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=make_sampler(search, seed, grid),
                pruner=make_pruner(search),
                direction=direction,
                load_if_exists=True,
            )
        except ValueError as error:  # e.g. an existing study with the other direction
            raise MlengineError(f"Cannot open study '{name}': {error}") from None
    return OpenStudy(study, storage, url, created, grid)


def sibling_studies(handle: OpenStudy, prefix: str) -> list[str]:
    """Other studies of the same experiment, dataset and model (their data, space or metric
    differ: the name's fingerprint says so)."""
    names = optuna.get_all_study_names(handle.storage)
    return sorted(n for n in names if n.startswith(prefix + "-") and n != handle.name)


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines (the progress bar reports each trial) and its
    ExperimentalWarnings (journal storage, multivariate TPE) off while mlengine drives it;
    the caller's log level and warning filters come back after."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def counted_trials(study: optuna.Study, running: bool = False) -> int:
    """Trials that count toward n_trials (with `running`: those running now as well)."""
    states = (*COUNTED, TrialState.RUNNING) if running else COUNTED
    return len(study.get_trials(deepcopy=False, states=states))


def _storage(url: str, search: SearchConfig) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:").removeprefix("//"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    from mlengine.tracking import redact

    try:
        # Workers started together would create the schema at once (a unique-key error
        # in PostgreSQL, a locked file in SQLite): one creates it, the others find it.
        with slot(url, SCHEMA_LOCK):
            # A trial whose worker stops beating (killed, on any machine) is FAIL after the
            # grace period, and its parameters are enqueued once more.
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=search.heartbeat_interval,
                grace_period=search.grace_period,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=1
                ),
            )
    except Exception as error:  # noqa: BLE001 - drivers raise their own types
        raise MlengineError(
            f"Cannot open Optuna storage {redact(url)}: {str(error).splitlines()[0]}"
        ) from None


def _lock_path(url: str) -> Path | None:
    """A lock file beside a journal or SQLite file (every worker reaching it shares it);
    not "<journal>.lock", the name of Optuna's own lock on the journal."""
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:").removeprefix("//"))
    elif url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
    else:
        return None
    return path.with_name(path.name + ".slot.lock")


@contextlib.contextmanager
def _advisory_lock(url: str, name: str) -> Iterator[None]:
    """PostgreSQL's session-level advisory lock, keyed by the study name. A server that
    cannot be reached takes no lock: opening the study then fails with the clear error."""
    import sqlalchemy

    key = zlib.crc32(name.encode())
    engine = _engines.get(url) or _engines.setdefault(
        url, sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    )
    try:
        connection = engine.connect()
    except sqlalchemy.exc.SQLAlchemyError:
        yield
        return
    with connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


_engines: dict[str, Any] = {}


EXPORT_CLAIM_KEY = "mlengine.exported_at"  # study user attr: the trial count last exported


def claim_export(handle: OpenStudy, patience_s: float | None = None, poll_s: float = 0.5) -> bool:
    """Whether this worker exports the study: the first to find no trial running (another
    worker's, on any machine) once its own sweep ended, for this count of trials.

    Trials of dead workers are failed while it waits (local processes at once, RDB ones
    after their grace period), so a killed worker does not stall the decision. A trial
    still RUNNING after `patience_s` (one killed before its first heartbeat) is not waited
    for any longer.
    """
    from mlengine.recovery import fail_stale_trials

    study, started = handle.study, time.monotonic()
    while True:
        with handle.slot():
            if handle.beats:
                optuna.storages.fail_stale_trials(study)
            fail_stale_trials(handle)
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            patient = patience_s is None or time.monotonic() - started < patience_s
            if not running or not patient:
                count = counted_trials(study)
                if study.user_attrs.get(EXPORT_CLAIM_KEY) == count:
                    return False  # a worker that ended with this one exported already
                study.set_user_attr(EXPORT_CLAIM_KEY, count)
                return True
        time.sleep(poll_s)
