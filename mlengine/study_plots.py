"""Optuna's own plots of a study, as PNGs for the parent run (optuna.visualization.matplotlib).

The parameter plots show the best trial's parameters: a model=auto study has ~25 over its
families, and a slice plot of all of them took 5 s to draw, for panels of parameters most
trials never had. A plot that does not apply (one completed trial) is skipped with Optuna's
reason rather than failing the run.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

PLOTS = ("optimization_history", "param_importances", "parallel_coordinate", "slice")


def write_plots(study: Any, folder: Path) -> tuple[list[Path], dict[str, str]]:
    """The PNGs written under `folder`, and the reason each skipped plot was skipped (the
    study has a completed trial)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    from mlengine.studies import quiet_optuna

    folder.mkdir(parents=True, exist_ok=True)
    written, skipped = [], {}
    from optuna.importance import FanovaImportanceEvaluator

    focus = list(study.best_trial.params)
    for name in PLOTS:
        options: dict[str, Any] = {} if name == "optimization_history" else {"params": focus}
        if name == "param_importances":  # 16 trees, not 64: 0.5 s, not 2 s; seeded
            options["evaluator"] = FanovaImportanceEvaluator(n_trees=16, seed=0)
        try:
            with quiet_optuna(), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # e.g. one-valued axes
                axes = getattr(optuna_plots, f"plot_{name}")(study, **options)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            skipped[name] = str(error).splitlines()[0] if str(error) else type(error).__name__
            plt.close("all")
            continue
        figure = _figure(axes)
        figure.set_size_inches(max(figure.get_size_inches()[0], 8), 5)
        path = folder / f"{name}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close("all")
        written.append(path)
    return written, skipped


def _figure(axes: Any) -> Any:
    """plot_* return an Axes, or an array of Axes (plot_slice over several parameters)."""
    import numpy as np

    first = np.asarray(axes, dtype=object).ravel()[0]
    return first.get_figure()
