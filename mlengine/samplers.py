"""Optuna samplers and pruners by name (`search.sampler`, `search.pruner`).

Every sampler is seeded, so a study replays the same suggestions. `grid` needs a discrete
space: categorical choices, ints, or floats with a step, and at most MAX_GRID_POINTS points.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from mlengine.config import ConfigError, ModelConfig, SearchConfig

MAX_GRID_POINTS = 10_000


def make_sampler(search: SearchConfig, seed: int, grid: dict[str, list] | None = None) -> Any:
    samplers = optuna.samplers
    startup = search.n_startup_trials
    if search.sampler == "tpe":
        return samplers.TPESampler(
            seed=seed, n_startup_trials=startup, multivariate=True, group=True
        )
    if search.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if search.sampler == "cmaes":  # categorical parameters fall back to random sampling
        return samplers.CmaEsSampler(
            seed=seed, n_startup_trials=startup, warn_independent_sampling=False
        )
    if search.sampler == "qmc":
        return samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    return FiniteGridSampler(grid or {}, seed=seed)


class FiniteGridSampler(optuna.samplers.GridSampler):
    """A GridSampler for the ask-and-tell loop: once every point is evaluated it sets
    `exhausted` (GridSampler calls study.stop(), which only works inside study.optimize and
    raises RuntimeError elsewhere; the trial's state is stored either way)."""

    exhausted = False

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        try:
            super().after_trial(study, trial, state, values)
        except RuntimeError:
            self.exhausted = True


def make_pruner(search: SearchConfig) -> Any:
    """The warm-up is the objective's (`pruning_warmup`): it depends on the table's size."""
    pruners = optuna.pruners
    startup = search.n_startup_trials
    if search.pruner == "median":
        return pruners.MedianPruner(n_startup_trials=startup)
    if search.pruner == "percentile":
        return pruners.PercentilePruner(search.pruner_percentile, n_startup_trials=startup)
    if search.pruner == "successive_halving":
        return pruners.SuccessiveHalvingPruner()
    if search.pruner == "hyperband":
        return pruners.HyperbandPruner()
    return pruners.NopPruner()


def grid_space(model: ModelConfig, task: str) -> dict[str, list]:
    """Every point of the model's space, for `search.sampler=grid`; refuses a space that is
    not small and discrete."""
    if model.families:
        raise ConfigError(
            "search.sampler",
            f"grid cannot search model={model.name} (several families); "
            "pick one family (model=xgboost) or another sampler",
        )
    grid: dict[str, list] = {}
    for key, spec in model.search_space.items():
        if spec.task not in (None, task):
            continue
        if spec.type == "categorical":
            grid[key] = list(spec.choices or [])
        elif spec.type == "int":
            grid[key] = list(range(int(spec.low), int(spec.high) + 1, int(spec.step or 1)))
        elif spec.step:
            count = int(round((spec.high - spec.low) / spec.step)) + 1
            grid[key] = [spec.low + i * spec.step for i in range(count)]
        else:
            raise ConfigError(
                "search.sampler",
                f"grid needs a discrete space but model.search_space.{key} is a continuous "
                "float; give it a step or choices, or pick another sampler",
            )
    points = math.prod(len(values) for values in grid.values())
    if points > MAX_GRID_POINTS:
        raise ConfigError(
            "search.sampler",
            f"grid over model={model.name}'s space is {points:,} points (over "
            f"{MAX_GRID_POINTS:,}); narrow the space or pick another sampler",
        )
    return grid
