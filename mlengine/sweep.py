"""The trial loop every worker runs: take a slot, ask, evaluate, tell, report.

Optuna's ask-and-tell interface, not `study.optimize`, so the count check and the ask
share one lock (studies.OpenStudy.slot) and a trial is stamped with its worker before
anything can kill it. A trial that raises is told FAIL with its reason; an interrupted one
(Ctrl-C here, or a killed process found by the next run) is marked so `search.retry_failed`
can run its parameters once more.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from mlengine.recovery import INTERRUPTED_KEY, WORKER_KEY, interruption, worker_id
from mlengine.studies import OpenStudy, counted_trials, quiet_optuna

RETRY_OF_KEY = "mlengine.retry_of"  # user attr of a retry: the number of the trial it reruns


def run_trials(
    handle: OpenStudy,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    *,
    catch: tuple[type[BaseException], ...] = (),
    callbacks: Sequence[Callable[[optuna.Study, Any], None]] = (),
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Run trials until the study holds `n_trials` (counting every worker's, running ones
    included), `should_stop()`, or a grid sampler has visited every point; returns how many
    this worker ran."""
    study, ran = handle.study, 0
    with quiet_optuna():
        while not should_stop() and not getattr(study.sampler, "exhausted", False):
            with handle.slot():
                if handle.beats:  # a dead worker's trial: FAIL, and its retry enqueued
                    optuna.storages.fail_stale_trials(study)
                if counted_trials(study, running=True) >= n_trials:
                    break
                trial = study.ask()
                if handle.beats:  # a first beat before anything can kill it: it can go stale
                    handle.storage.record_heartbeat(handle.trial_id(trial.number))
                # Stamped at once, so a rerun can tell a trial whose process was killed.
                trial.set_user_attr(WORKER_KEY, worker_id())
            with heartbeat(handle, trial.number):
                frozen = _evaluate(study, trial, objective, catch)
            ran += 1
            for callback in callbacks:
                callback(study, frozen)
    return ran


@contextlib.contextmanager
def heartbeat(handle: OpenStudy, number: int) -> Iterator[None]:
    """While the block runs, a thread records trial `number`'s heartbeat every
    heartbeat_interval (RDB storages; Optuna's own only beats inside study.optimize). The
    first beat is recorded when the trial is asked for (`run_trials`)."""
    if not handle.beats:
        yield
        return
    trial_id, stop = handle.trial_id(number), threading.Event()
    interval = handle.storage.get_heartbeat_interval()

    def beat() -> None:
        while not stop.wait(interval):
            handle.storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _evaluate(
    study: optuna.Study,
    trial: optuna.Trial,
    objective: Callable[[optuna.Trial], float],
    catch: tuple[type[BaseException], ...],
) -> Any:
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED)
    except catch as error:
        return _fail(study, trial, str(error))
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (recovery.Terminated)
        trial.set_user_attr(INTERRUPTED_KEY, True)
        _fail(study, trial, interruption(stop))
        raise
    except BaseException as error:
        _fail(study, trial, f"{type(error).__name__}: {error}")
        raise
    if value is None or not math.isfinite(value):
        return _fail(study, trial, "the objective returned no finite value")
    return study.tell(trial, value)


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> Any:
    if "fail_reason" not in trial.user_attrs:  # the objective may have said it better
        trial.set_user_attr("fail_reason", reason[:5000])
    return study.tell(trial, state=TrialState.FAIL)


def enqueue_retries(study: optuna.Study) -> int:
    """Enqueue, once each, the parameters of trials that failed because they were
    interrupted (`search.retry_failed`); a retry counts toward n_trials like any trial."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF_KEY) for t in trials}  # waiting ones included
    count = 0
    for trial in trials:
        interrupted = trial.state == TrialState.FAIL and trial.user_attrs.get(INTERRUPTED_KEY)
        if interrupted and RETRY_OF_KEY not in trial.user_attrs and trial.number not in retried:
            study.enqueue_trial(trial.params, user_attrs={RETRY_OF_KEY: trial.number})
            count += 1
    return count
