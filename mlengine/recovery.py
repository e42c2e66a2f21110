"""After a SIGKILL: find what a dead process left RUNNING and close it, so reruns resume.

Each trial and parent run is stamped with its worker (host:pid). A RUNNING one stamped by
a process of this host that no longer exists is stale. Trials of other hosts are left to
the RDB storage's heartbeat (PostgreSQL workers), since their liveness cannot be seen here.
"""

from __future__ import annotations

import os
import socket
from typing import Any

WORKER_KEY = "mlengine.worker"
INTERRUPTED_KEY = "mlengine.interrupted"  # a trial's user attr: it failed by no fault of its own
DIED = "its worker process died (killed or crashed)"


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or `kill`'s stop), handled as Ctrl-C is: the running trial is
    told FAIL (interrupted), the MLflow runs end KILLED, the study stays resumable."""


# The stop a signal asked for. A library's broad `except:` around an import can swallow the
# KeyboardInterrupt a signal raised and turn it into an ImportError (seen: Hydra's
# instantiate reporting "Error locating target" on SIGTERM); `raise_if_stopping` raises it
# again where mlengine turns errors into config errors or failed trials.
_requested_stop: KeyboardInterrupt | None = None


def raise_terminated(signum: int, frame: Any) -> None:
    global _requested_stop
    _requested_stop = Terminated()
    raise Terminated()


def raise_interrupted(signum: int, frame: Any) -> None:
    global _requested_stop
    _requested_stop = KeyboardInterrupt()
    raise KeyboardInterrupt()


def install_stop_handlers() -> None:
    """SIGTERM and SIGINT stop the run as Ctrl-C does, and are remembered (raise_if_stopping)."""
    import signal

    signal.signal(signal.SIGTERM, raise_terminated)
    signal.signal(signal.SIGINT, raise_interrupted)


def raise_if_stopping() -> None:
    """Raise the stop a signal asked for, if one did (call it before reporting an error)."""
    if _requested_stop is not None:
        raise type(_requested_stop)()


def interruption(error: KeyboardInterrupt) -> str:
    return "interrupted (SIGTERM)" if isinstance(error, Terminated) else "interrupted (Ctrl-C)"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dead_local_worker(worker: str | None) -> bool:
    """True for a worker of this host whose process is gone (never for other hosts)."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def fail_stale_trials(handle: Any) -> int:
    """Mark RUNNING trials of dead local workers FAIL (interrupted); returns how many.

    `handle` is a studies.OpenStudy: the reason is written through the storage's public
    API, since the trial belongs to another (dead) process.
    """
    from optuna.trial import TrialState

    stale = [
        t
        for t in handle.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if is_dead_local_worker(t.user_attrs.get(WORKER_KEY))
    ]
    # On an RDB storage a dead worker's trial is retried, found here or by its heartbeat.
    retry = handle.storage.get_heartbeat_stale_trial_callback() if handle.beats else None
    for trial in stale:
        trial_id = handle.trial_id(trial.number)
        handle.storage.set_trial_user_attr(trial_id, "fail_reason", DIED)
        handle.storage.set_trial_user_attr(trial_id, INTERRUPTED_KEY, True)
        failed = handle.study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        if retry is not None:
            retry(handle.study, failed)
    return len(stale)


def close_stale_runs(client: Any, experiment_id: str) -> int:
    """Mark RUNNING MLflow runs of dead local workers KILLED; returns how many."""
    runs = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    stale = [r for r in runs if is_dead_local_worker(r.data.tags.get(WORKER_KEY))]
    for run in stale:
        client.set_terminated(run.info.run_id, "KILLED")
    return len(stale)
