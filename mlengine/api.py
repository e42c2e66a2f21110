"""The Python entry for notebooks and tests: the CLI's overrides in, a RunResult out."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from mlengine.cli import config_dir  # importing the CLI registers the schema and experiments
from mlengine.config import ConfigError
from mlengine.run import RunResult, run
from mlengine.validation import validate


def run_experiment(
    overrides: Sequence[str] = (),
    *,
    frame: pd.DataFrame | None = None,
    target: str | None = None,
    output_dir: Path | None = None,
) -> RunResult | None:
    """Run one job as `mlengine OVERRIDES...` would.

    `frame` (with `target`) trains on an in-memory table instead of the configured dataset.
    The output folder defaults to the CLI's: a new one under paths.root/runs.
    """
    overrides = list(overrides)
    if frame is not None:
        if not isinstance(target, str) or not target:
            raise ConfigError(
                "dataset.target",
                f"run_experiment(frame=...) needs target='COLUMN', the column to predict "
                f"(got {target!r})",
            )
        overrides.append("dataset=csv")
    with initialize_config_dir(
        config_dir=str(config_dir()), version_base="1.3", job_name="mlengine"
    ):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    if frame is not None:
        # Set as values, not pasted into override strings that Hydra would parse again: a
        # column named "a,b", "it's" or "${x}" stays that name (`\${` keeps it literal).
        with open_dict(cfg):
            cfg.dataset.source, cfg.dataset.name, cfg.dataset.path = "dataframe", "dataframe", None
            cfg.dataset.target = target.replace("${", "\\${")
    validate(cfg)  # before the output folder exists
    folder = Path(output_dir) if output_dir else _new_folder(Path(cfg.hydra.run.dir))
    with open_dict(cfg):
        del cfg["hydra"]
    return run(cfg, folder, overrides, frame=frame)


def _new_folder(wanted: Path) -> Path:
    """Claim a folder nobody has: runs in one process and second share the CLI's name."""
    folder = wanted
    while True:
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            folder = wanted.with_name(f"{wanted.name}-{secrets.token_hex(2)}")
