"""The `mlengine` command: a Hydra app whose main only calls run(cfg)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mlengine.config import MlengineError, register_configs, validate
from mlengine.tracking import redact


def config_dir() -> Path:
    """conf/ beside the package in a source checkout, inside it in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"mlengine's conf/ folder is missing next to {here}")


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
                store.store(group="experiment", name=path.stem, node=OmegaConf.load(path),
                            package="_global_")


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
        except MlengineError as error:
            print(error, file=sys.stderr)
            sys.exit(1)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> None:
    from mlengine.run import run

    hydra_cfg = HydraConfig.get()
    try:
        run(cfg, Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task))
    except KeyboardInterrupt:
        print("Interrupted: the study is saved; rerun the same command to resume.",
              file=sys.stderr)
        sys.exit(130)
    except MlengineError as error:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise  # the launcher records this job as failed and runs the others
        # Exiting here keeps Hydra from echoing the overrides, which may hold passwords.
        print(redact(str(error)), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
