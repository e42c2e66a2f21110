"""model=auto: one study over several families, the family a categorical parameter.

Each family keeps its own preprocessing, search space (namespaced "xgboost.max_depth") and
pruning steps (its own FAMILY_STRIDE range, so the median pruner compares a trial only with
trials of its family). The study starts with every family's warm-start settings, in the
order the EDA's family advice ranks them, first settings first, so the first seconds try
each family's best-known configuration; TPE then spends the rest where the scores are.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

from mlengine.config import ConfigError, ModelConfig
from mlengine.search import FAMILY_STRIDE, CrossValidatedObjective

FAMILY_PARAM = "family"
ADVISED_AGAINST = 0.0  # an EDA advice score under this: the family does not suit the table

log = logging.getLogger("mlengine")


def load_family(name: str, conf_dir: Path) -> ModelConfig:
    """conf/model/NAME.yaml as a validated ModelConfig (what `model=NAME` would compose)."""
    path = conf_dir / "model" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (conf_dir / "model").glob("*.yaml"))
        raise ConfigError("model.families", f"'{name}' is not a family; choose from {known}")
    merged = OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(path))
    family = OmegaConf.to_object(merged)
    if family.families:
        raise ConfigError("model.families", f"'{name}' is itself a family list")
    return family


def applicable(families: list[ModelConfig], task: str) -> list[ModelConfig]:
    """The families with an estimator for `task`."""
    role = "classifier" if task == "classification" else "regressor"
    return [f for f in families if getattr(f, role) is not None]


def ranked(families: list[ModelConfig], advice: dict[str, float]) -> list[ModelConfig]:
    """Families by the EDA advice's score, best first; those it did not score keep their
    order, last. A family scored below ADVISED_AGAINST is left out: e.g. a kernel SVM on
    100k rows, whose one trial could take the whole budget."""
    kept = [f for f in families if advice.get(f.name, ADVISED_AGAINST) >= ADVISED_AGAINST]
    kept = kept or families  # advised against them all: the user's list stands
    left_out = [f.name for f in families if f not in kept]
    if left_out:
        log.info("model=auto leaves out %s: the EDA advises against them", ", ".join(left_out))
    return sorted(kept, key=lambda f: -advice.get(f.name, -math.inf))


class AutoObjective:
    """Dispatches a trial to its family's cross-validated objective."""

    def __init__(self, objectives: dict[str, CrossValidatedObjective]) -> None:
        self.objectives = objectives

    def __call__(self, trial: optuna.Trial) -> float:
        family = trial.suggest_categorical(FAMILY_PARAM, list(self.objectives))
        return self.objectives[family](trial)

    @property
    def oof(self) -> dict[int, Any]:
        """Every family's kept out-of-fold predictions (trial numbers are unique)."""
        return {n: v for o in self.objectives.values() for n, v in o.oof.items()}

    @property
    def oof_values(self) -> dict[int, float]:
        return {n: v for o in self.objectives.values() for n, v in o.oof_values.items()}

    def resolve(self, params: dict[str, Any]) -> tuple[CrossValidatedObjective, dict[str, Any]]:
        """The trial's family objective, and its parameters as that estimator names them."""
        return self.objectives[params[FAMILY_PARAM]].resolve(params)

    def warm_starts(self) -> list[dict[str, Any]]:
        """Round-robin over the families (in their order): every family's first setting,
        then every second one, ..."""
        per_family = [
            [{FAMILY_PARAM: name, **p} for p in objective.warm_starts() or [{}]]
            for name, objective in self.objectives.items()
        ]
        depth = max(map(len, per_family), default=0)
        return [row[i] for i in range(depth) for row in per_family if i < len(row)]


def family_objectives(
    families: list[ModelConfig], make_objective: Any
) -> dict[str, CrossValidatedObjective]:
    """One objective per family, each with its namespace and its range of pruning steps."""
    return {
        f.name: make_objective(f, prefix=f"{f.name}.", step_offset=i * FAMILY_STRIDE)
        for i, f in enumerate(families)
    }
