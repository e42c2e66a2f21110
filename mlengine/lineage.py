"""Dataset lineage: the training and holdout splits as MLflow dataset inputs.

Each split is logged with `mlflow.log_input` (context `training` / `holdout`): its name,
source, schema, row count and a digest, so the UI's Dataset column shows what a run trained
on and `mlflow.search_runs(filter_string="dataset.digest = '...'")` finds the runs that
used the same rows. The digest is `mlengine.data.fingerprint` of the split (every value, not
MLflow's default hash of the first rows), the hash the model card shows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlengine.data import fingerprint


def source_of(ds_name: str, source: str) -> str:
    """Where the rows came from, as MLflow records it: the file's absolute path, the
    scikit-learn loader of a built-in dataset, or the in-memory DataFrame."""
    if source.startswith("built-in dataset"):
        return f"sklearn.datasets.load_{ds_name}"
    if source == "the DataFrame":
        return "in-memory DataFrame (mlengine.run_experiment)"
    return str(Path(source).resolve())


def log_splits(
    name: str, source: str, splits: dict[str, tuple[pd.DataFrame, pd.Series]]
) -> dict[str, str]:
    """Log each split (context -> (X, y)) to the active run; context -> digest."""
    import warnings

    import mlflow

    digests = {}
    for context, (X, y) in splits.items():
        digest = fingerprint(X, y)
        frame = X.assign(**{str(y.name): y.to_numpy()})
        with warnings.catch_warnings():
            # MLflow's hints on resolving a plain source string and on integer columns in
            # an inferred schema concern model signatures, not a dataset's record; the
            # schema is inferred when the dataset is logged.
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_pandas(
                frame, source=source, targets=str(y.name), name=f"{name}-{context}", digest=digest
            )
            mlflow.log_input(dataset, context=context)
        digests[context] = digest
    return digests
