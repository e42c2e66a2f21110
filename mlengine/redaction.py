"""Passwords in URIs stay out of everything a run writes, Hydra's own files included.

A database or tracking URI may carry a password (`postgresql://bob:PASSWORD@db/optuna`).
mlengine's own outputs (config.yaml, MLflow params and tags, result.json, messages) pass
through `redact`. Hydra writes the command line's overrides itself: `.hydra/config.yaml`,
`hydra.yaml` and `overrides.yaml` in each job folder, `multirun.yaml` in a sweep folder, and
the launcher's log lines. `RedactSecrets` (a Hydra callback) masks those files as soon as
the job starts, after Hydra wrote them and before any training, and masks every log record.
Masking, not late resolution: a password typed on the command line is in the overrides
whatever resolves it. `${oc.env:VAR}` keeps it out of every file in the first place.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

# scheme://[user]:password@host: the password runs to the last "@" before a host, so it
# may hold "@" and "/"; the user name may be empty. Hydra's logs escape ":" as "\:".
_SECRET = re.compile(r"(\b[a-zA-Z][\w+.-]*\\?://[^:/@\s'\"]*:)[^\s'\"]*@(?=[^@/\s'\"]+)")


def redact(text: str) -> str:
    """Hide the password of any URL in `text`."""
    return _SECRET.sub(r"\1***@", text)


def install_log_redaction() -> None:
    """Every log record of this process is created with its passwords masked.

    A record factory, not a handler filter: Hydra replaces the root logger's handlers
    between a multirun's jobs (and logs each job's overrides right after).
    """
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return

    def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format is logging's to report, at emit
            return record
        if (masked := redact(message)) != message:
            record.msg, record.args = masked, ()
        return record

    redacting.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)


def redact_file(path: Path) -> None:
    if path.is_file():
        text = path.read_text()
        if (masked := redact(text)) != text:
            path.write_text(masked)


class RedactSecrets(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        install_log_redaction()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        install_log_redaction()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        install_log_redaction()  # a launcher's job process starts without it
        hydra = config.hydra
        if hydra.output_subdir:
            folder = Path(hydra.runtime.output_dir) / hydra.output_subdir
            for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
                redact_file(folder / name)
        redact_file(Path(hydra.sweep.dir) / "multirun.yaml")
