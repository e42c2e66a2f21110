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


def fail_stale_trials(study: Any) -> int:
    """Mark RUNNING trials of dead local workers FAIL; returns how many."""
    from optuna.trial import TrialState

    stale = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if is_dead_local_worker(t.user_attrs.get(WORKER_KEY))
    ]
    for trial in stale:
        study._storage.set_trial_user_attr(
            trial._trial_id, "fail_reason", "its worker process died (killed or crashed)"
        )
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
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
