"""The config, validated: `config.validate`'s typed, range-checked view, then the checks
that read mlengine's own registries (metric names, EDA check names, the format of a
pipeline to optimise). They live here so that `config` stays a leaf that imports nothing
of mlengine; the CLI, the API and `run` validate through `validate`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlengine.config import Config, ConfigError, OptimizeConfig
from mlengine.config import validate as typed

if TYPE_CHECKING:
    from omegaconf import DictConfig


def validate(cfg: DictConfig) -> Config:
    """The typed config, every value checked (raises ConfigError naming the key)."""
    conf = typed(cfg)
    if not isinstance(conf, Config):  # a config without mlengine's schema (a bare compose)
        return conf
    if conf.search.metric is not None:
        check_metric(conf.search.metric)
    if conf.eda.fail_on:
        check_fail_on(conf.eda.fail_on)
    if conf.optimize is not None:
        check_optimize(conf.optimize)
    return conf


def check_optimize(conf: OptimizeConfig) -> None:
    """The pipeline to optimise is a format optimize reads (a pickle only with the opt-in)."""
    from mlengine.optimize import model_format  # imports MLflow: only for +task=optimize

    model_format(Path(conf.model), conf.allow_pickle)


def check_metric(metric: str) -> None:
    from mlengine.metrics import METRICS

    if metric not in METRICS:
        raise ConfigError(
            "search.metric", f"'{metric}' is unknown; choose one of {', '.join(sorted(METRICS))}"
        )


def check_fail_on(names: list[str]) -> None:
    from mlengine.eda import CHECKS  # the registered checks: loads the EDA's modules

    known = (*CHECKS, "error", "warn")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(
            "eda.fail_on", f"{unknown} are not EDA checks; use any of {', '.join(known)}"
        )
