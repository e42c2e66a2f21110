"""Loading: a config (or a DataFrame) in, features X, target y and the task out."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mlengine.config import DatasetConfig, MlengineError

BUILTIN_DATASETS = {
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "digits": "load_digits",
    "iris": "load_iris",
    "diabetes": "load_diabetes",
}


class DataError(MlengineError):
    """The data cannot be used as configured; the message names the file or column."""


@dataclass
class Dataset:
    name: str
    X: pd.DataFrame
    y: pd.Series
    task: str  # classification | regression
    column_types: dict[str, str] = field(default_factory=dict)
    n_missing_target: int = 0  # rows dropped because their target was missing


def load_dataset(cfg: DatasetConfig, frame: pd.DataFrame | None = None) -> Dataset:
    """The configured dataset, or `frame` (the Python API's in-memory table)."""
    if frame is None and cfg.source == "builtin":
        X, y = _load_builtin(cfg.name)
    else:
        table = frame if frame is not None else read_table(Path(cfg.path), cfg.read_options)
        X, y = _split_target(table, cfg.target, source=cfg.path or "the DataFrame")
    y, n_missing = _drop_missing_target(X, y)
    X = X.loc[y.index]
    task = cfg.task if cfg.task != "auto" else infer_task(y)
    if task == "classification" and y.nunique() < 2:
        raise DataError(f"Target '{y.name}' has a single class ({y.iloc[0]!r}); "
                        "a classifier needs at least two.")
    if task == "regression":
        y = pd.to_numeric(y, errors="coerce").astype("float64")
        if y.isna().any():
            raise DataError(f"Target '{y.name}' is not numeric; set dataset.task=classification "
                            "to predict its labels.")
    column_types = infer_column_types(X, cfg.column_types)
    return Dataset(cfg.name, X.reset_index(drop=True), y.reset_index(drop=True), task,
                   column_types, n_missing)


def _load_builtin(name: str) -> tuple[pd.DataFrame, pd.Series]:
    if name not in BUILTIN_DATASETS:
        raise DataError(f"Unknown built-in dataset '{name}'; choose one of "
                        f"{', '.join(BUILTIN_DATASETS)}, or use dataset=csv dataset.path=FILE")
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, BUILTIN_DATASETS[name])(as_frame=True)
    return bunch.data, bunch.target.rename("target")


def read_table(path: Path, read_options: dict | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file; every failure names the file."""
    options = dict(read_options or {})
    if not path.is_file():
        raise DataError(f"Dataset file not found: {path} (set dataset.path to an existing file)")
    if path.stat().st_size == 0:
        raise DataError(f"Dataset file is empty: {path}")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pd.read_parquet(path, **options)
        else:
            table = pd.read_csv(path, **options)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"Cannot read dataset file {path}: {reason}") from None
    if table.empty or table.shape[1] < 2:
        raise DataError(f"Dataset file {path} has no rows or fewer than two columns")
    return table


def _split_target(table: pd.DataFrame, target: str | None, source: str) -> tuple:
    if target not in table.columns:
        columns = [str(c) for c in table.columns]
        closest = difflib.get_close_matches(str(target), columns, n=len(columns), cutoff=0.0)
        raise DataError(f"Target column '{target}' is not in {source}; columns are: "
                        f"{', '.join(closest[:20])}{' ...' if len(columns) > 20 else ''}")
    return table.drop(columns=[target]), table[target]


def _drop_missing_target(X: pd.DataFrame, y: pd.Series) -> tuple[pd.Series, int]:
    missing = y.isna()
    if missing.all():
        raise DataError(f"Target column '{y.name}' has no values (all {len(y)} are missing)")
    return y[~missing], int(missing.sum())


def infer_task(y: pd.Series) -> str:
    """Labels (strings, booleans, few distinct integers) -> classification; else regression."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.to_numpy()
    is_integral = np.all(np.mod(values, 1) == 0)
    if is_integral and y.nunique() <= max(20, int(0.01 * len(y)) if len(y) < 2000 else 20):
        return "classification"
    return "regression"


def infer_column_types(X: pd.DataFrame, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Each column's kind: numeric, boolean, categorical, datetime, text or id."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(X.columns)
    if unknown:
        raise DataError(f"dataset.column_types names columns that do not exist: {sorted(unknown)}")
    kinds = {}
    for column in X.columns:
        kinds[column] = overrides.get(column) or _infer_kind(X[column])
    return kinds


def _infer_kind(column: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    values = column.dropna().astype(str)
    n_unique = values.nunique()
    if len(values) and n_unique == len(values) and len(values) > 50:
        return "text" if values.str.contains(" ").mean() > 0.5 else "id"
    if len(values) and values.str.count(" ").mean() >= 3:
        return "text"
    return "categorical"


def fingerprint(X: pd.DataFrame, y: pd.Series) -> str:
    """A stable hash of the table's columns, dtypes and values: same data, same hash."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in X.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(y, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def holdout_split(ds: Dataset, test_size: float, seed: int) -> tuple:
    """X_train, X_test, y_train, y_test: stratified for classification, fixed by seed."""
    from sklearn.model_selection import train_test_split

    stratify = ds.y if ds.task == "classification" else None
    if stratify is not None and ds.y.value_counts().min() < 2:
        stratify = None  # a class with one row cannot be stratified
    return train_test_split(ds.X, ds.y, test_size=test_size, random_state=seed,
                            stratify=stratify)


def cv_splitter(task: str, n_folds: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "classification":
        return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return KFold(n_splits=n_folds, shuffle=True, random_state=seed)


def check_enough_rows(y: pd.Series, task: str, n_folds: int) -> None:
    """Fail before fitting when CV cannot split the training rows."""
    if len(y) < 2 * n_folds:
        raise DataError(f"Only {len(y)} training rows for search.cv_folds={n_folds}; "
                        "lower search.cv_folds or provide more data")
    if task == "classification":
        smallest = y.value_counts()
        if smallest.min() < n_folds:
            raise DataError(f"Class {smallest.idxmin()!r} has {smallest.min()} training rows, "
                            f"fewer than search.cv_folds={n_folds}; lower search.cv_folds")
