"""What every anchor runner shares: its command line, reading the split, writing its answer.

A runner is called as `python run_X.py --train T --test T --target COL --task TASK
--budget SECONDS --seed N --out answer.json` (any venv: this file needs only pandas) and
writes {"predictions": [...], "n_trials": ..., "versions": {...}}; the benchmark times the
whole process itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from importlib import metadata
from typing import Any

import pandas as pd


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--task", choices=["classification", "regression"], required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--out", required=True)
    return parser.parse_args()


def load(
    args: argparse.Namespace, categorical: bool = False
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """X_train, y_train, X_test; `categorical`: text columns as pandas categories (XGBoost)."""
    train, test = pd.read_csv(args.train), pd.read_csv(args.test)
    X_train, y_train = train.drop(columns=args.target), train[args.target]
    X_test = test.drop(columns=args.target)
    if categorical:
        for column in X_train.select_dtypes(exclude=["number", "bool"]).columns:
            X_train[column] = X_train[column].astype("category")
            X_test[column] = pd.Categorical(X_test[column], X_train[column].cat.categories)
    return X_train, y_train, X_test


def versions(packages: list[str]) -> dict[str, str]:
    """Installed versions of those of `packages` that are installed."""
    found = {}
    for name in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def write(
    args: argparse.Namespace, predictions: Any, n_trials: int | None, packages: list[str]
) -> None:
    """The runner's answer: test predictions as plain values, trial count and versions."""
    answer = {
        "predictions": pd.Series(list(predictions)).tolist(),
        "n_trials": n_trials,
        "versions": versions(packages),
    }
    with open(args.out, "w") as file:
        json.dump(answer, file)
