"""The `mlengine` command: a Hydra app whose main only calls run(cfg)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mlengine.budget import process_started
from mlengine.config import MlengineError, config_dir, no_frame_error, register_configs
from mlengine.recovery import Terminated, install_stop_handlers
from mlengine.tracking import redact
from mlengine.validation import validate


def register_experiments() -> None:
    """`+experiment=NAME` loads experiments/NAME.yaml from the working folder or the repo.

    Experiments belong to a user's project, not to the package, so they are read from
    the folder the command runs in (the project's own ones first, then the repo's).
    """
    folders = [Path.cwd() / "experiments", config_dir().parent / "experiments"]
    store, seen = ConfigStore.instance(), set()
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
            if path.stem not in seen:
                seen.add(path.stem)
                store.store(
                    group="experiment",
                    name=path.stem,
                    node=OmegaConf.load(path),
                    package="_global_",
                )


# One token per process, so two runs started in the same second get separate folders.
_RUN_TOKEN = f"{os.getpid():x}{secrets.token_hex(2)}"
if not OmegaConf.has_resolver("mlengine_uid"):
    OmegaConf.register_new_resolver("mlengine_uid", lambda: _RUN_TOKEN)
register_configs()
register_experiments()


class ValidateBeforeRun(Callback):
    """Refuse bad values before Hydra creates any output folder.

    Hydra turns an Exception raised by a callback into a warning and runs the job anyway,
    so a refusal exits here (SystemExit is not an Exception).
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._validate_or_exit(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._validate_or_exit(config)  # the base config; each job's sweep values are checked too

    @staticmethod
    def _validate_or_exit(config: DictConfig) -> None:
        try:
            validate(config)
            if config.dataset.source == "dataframe":
                raise no_frame_error()
        except MlengineError as error:
            print(error, file=sys.stderr)
            sys.exit(1)


class SweepSummary(Callback):
    """Each job leaves job_status.json in its folder; the sweep ends with a leaderboard.

    Files, not memory, so the leaderboard also covers launchers that run jobs in other
    processes. Hydra stops at the first failed job's error after the batch, before
    on_multirun_end, so `main` writes the leaderboard on its way out.
    """

    sweep_dir: Path | None = None
    job_started: float = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        SweepSummary.sweep_dir = Path(config.hydra.sweep.dir)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        SweepSummary.job_started = time.monotonic()

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        status = {
            "job": config.hydra.job.num,
            "overrides": redact(" ".join(job_return.overrides or [])),
            "dataset": OmegaConf.select(config, "dataset.name", default=""),
            "model": OmegaConf.select(config, "model.name", default=""),
            "wall_s": round(time.monotonic() - SweepSummary.job_started, 1),
            "sweep": str(Path(config.hydra.sweep.dir).resolve()),
        }
        try:
            result = job_return.return_value  # re-raises the job's error when it failed
        except Exception as error:  # noqa: BLE001 - any job error is a failed row
            status |= {"status": "failed", "reason": redact(str(error).splitlines()[0][:500])}
        else:
            status |= {"status": "ok", "reason": ""} | (result.leaderboard_row() if result else {})
        folder = Path(config.hydra.runtime.output_dir)
        (folder / "job_status.json").write_text(json.dumps(status, indent=2, default=str))

    @staticmethod
    def write_leaderboard() -> None:
        from mlengine import leaderboard

        if SweepSummary.sweep_dir is None:
            return
        paths = SweepSummary.sweep_dir.glob("*/job_status.json")
        jobs = [json.loads(p.read_text()) for p in paths]
        if not jobs:
            return
        for job in jobs:
            job.setdefault("metric", "")
        rows = leaderboard.rank(jobs)
        failed = sum(row["status"] != "ok" for row in rows)
        written = leaderboard.write(rows, SweepSummary.sweep_dir)
        print(
            f"\nSweep: {len(rows)} jobs, {failed} failed ({SweepSummary.sweep_dir})\n"
            f"{leaderboard.console_table(rows)}\n"
            f"Leaderboard: {written[0]} and {written[1].name}",
            file=sys.stderr,
        )
        try:
            run_id = leaderboard.log_to_mlflow(rows, written, jobs)
        except Exception as error:  # noqa: BLE001 - the files are written; say why MLflow is not
            print(
                f"The leaderboard was not logged to MLflow: {redact(str(error))}", file=sys.stderr
            )
        else:
            if run_id:
                print(f"Leaderboard run: {run_id} (tag mlengine.sweep)", file=sys.stderr)


def main() -> None:
    """Console entry: the Hydra app, then the sweep summary when it was a multirun."""
    # The command is an application, so it sets MLflow up for its own process (a notebook
    # calling mlengine.run_experiment keeps its own settings). MLflow's INFO lines (store
    # creation, migrations) say nothing a user acts on; a down tracking server would be
    # retried for minutes before the first error.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    install_stop_handlers()  # SIGTERM stops cleanly, as Ctrl-C does
    code: Any = 0
    try:
        hydra_app()
    except SystemExit as stop:
        code = stop.code
    finally:  # also when an exception escapes (it then ends the process the usual way)
        SweepSummary.write_leaderboard()
    _exit_now(code)


def _exit_now(code: Any) -> None:
    """Exit without the interpreter's module teardown, which costs ~2 s once sklearn, skops
    and mlflow are loaded (a job's time budget counts to the process's end).

    Everything a run writes is closed by then (MLflow runs ended, files and the Optuna
    journal written); at-exit handlers still run, and the logs and streams are flushed.
    """
    import atexit

    # CPython's own (private, long-stable) hook that runs the handlers now; os._exit below
    # would skip them. The end-to-end tests read back what a CLI run wrote.
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr, flush=True)  # sys.exit("message") prints it, then 1
        code = 1
    os._exit(code)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def hydra_app(cfg: DictConfig) -> Any:
    from mlengine.run import run

    hydra_cfg = HydraConfig.get()
    try:
        if cfg.get("optimize") is not None:  # +task=optimize: a foreign pipeline, no training
            from mlengine.optimize import optimize

            optimize(validate(cfg).optimize, Path(hydra_cfg.runtime.output_dir))
            return None
        # The budget counts from the process start: imports are part of the wait.
        started = process_started() if hydra_cfg.mode == RunMode.RUN else None
        multirun = hydra_cfg.mode == RunMode.MULTIRUN
        return run(
            cfg,
            Path(hydra_cfg.runtime.output_dir),
            list(hydra_cfg.overrides.task),
            started=started,
            sweep_id=str(Path(hydra_cfg.sweep.dir).resolve()) if multirun else None,
        )
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (recovery.Terminated)
        terminated = isinstance(stop, Terminated)
        print(
            f"{'Terminated (SIGTERM)' if terminated else 'Interrupted'}: the study is saved; "
            "rerun the same command to resume.",
            file=sys.stderr,
        )
        sys.exit(143 if terminated else 130)
    except MlengineError as error:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise  # the launcher records this job as failed and runs the others
        # Exiting here keeps Hydra from echoing the overrides, which may hold passwords.
        print(redact(str(error)), file=sys.stderr)
        sys.exit(1)
    except Exception as error:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise
        # A bug, not a user error: its traceback goes to the run's log file (and console);
        # the MLflow run is already ended FAILED (tracking.parent_run).
        logging.getLogger("mlengine").exception("Unexpected error")
        print(
            redact(
                f"mlengine stopped on an unexpected error: {type(error).__name__}: {error}"
            ).splitlines()[0]
            + f" (the traceback is in {_log_file() or 'the log above'}; please report it)",
            file=sys.stderr,
        )
        sys.exit(1)


def _log_file() -> str | None:
    """The file Hydra's job logging writes, if any."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


if __name__ == "__main__":
    main()
