"""mlengine's per-trial overhead: its sweep against a bare Optuna loop doing the same work.

Both sweep breast_cancer's training split with 5-fold CV logistic regression, 50 trials, the
same folds and preprocessing (mlengine's own), no pruning, the same sampler (TPE, seeded,
multivariate) and the same fits: the bare loop asks TPE for C as a hand-written loop does,
then fits the C value mlengine's study tried at that trial (a fit's cost depends on C, so
two samplers' different choices would time different work).

mlengine runs as a user runs it: the `mlengine` CLI in a subprocess, its study in a journal
file, a nested MLflow run per trial in SQLite, progress, worker stamps. The bare loop is
`study.optimize` with no tracking, once in memory and once on a journal file like mlengine's
(which separates mlengine's own bookkeeping from the price of a resumable study). Seconds
per trial come from each study's own trial timestamps (first start to last end, over the
trials), so start-up, EDA, refit and export are not counted. The three are interleaved,
`--repeats` times; the table shows medians.

    python benchmarks/bench_overhead.py [--repeats 3] [--trials 50]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import optuna

ARGS = [
    "dataset=breast_cancer",
    "model=logistic_regression",
    "search.cv_folds=5",
    "search.pruner=none",
    "eda=off",
    "export.enabled=false",
    "search.plots=false",
]


def per_trial(trials: list) -> float:
    start = min(t.datetime_start for t in trials)
    end = max(t.datetime_complete for t in trials)
    return (end - start).total_seconds() / len(trials)


def mlengine_sweep(n_trials: int) -> tuple[float, list[dict]]:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "mlengine", *ARGS, f"search.n_trials={n_trials}"],
            cwd=folder,
            check=True,
            capture_output=True,
        )
        storage = JournalStorage(JournalFileBackend(f"{folder}/outputs/optuna/journal.log"))
        (name,) = optuna.get_all_study_names(storage)
        trials = optuna.load_study(study_name=name, storage=storage).trials
        return per_trial(trials), [t.params for t in trials]


def bare_sweep(replay: list[dict], journal: str | None = None, blas: int | None = None) -> float:
    """The hand-written loop: the same folds, preprocessing, model and C values, nothing
    logged."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline

    from mlengine import data, features
    from mlengine.config import DatasetConfig, FeaturesConfig, ModelConfig

    ds = data.load_dataset(DatasetConfig(name="breast_cancer"))
    X, _, y, _ = data.holdout_split(ds, 0.2, 42)
    folds = data.cv_folds(ds, X, y, 5, 42)
    model = ModelConfig(name="lr", classifier={"_target_": "x"}, scale=True)
    columns = {c: ds.column_types[c] for c in X.columns}

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("C", 1e-3, 100.0, log=True)  # the sampler's work, as in any loop
        c = replay[trial.number]["C"]
        scores = []
        for train, valid in folds:
            pipeline = Pipeline(
                [
                    ("preprocess", features.build_preprocessor(columns, model, FeaturesConfig())),
                    ("model", LogisticRegression(C=c, max_iter=2000)),
                ]
            )
            pipeline.fit(X.iloc[train], y.iloc[train])
            proba = pipeline.predict_proba(X.iloc[valid])[:, 1]
            scores.append(roc_auc_score(y.iloc[valid], proba))
        return float(np.mean(scores))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=42, n_startup_trials=5, multivariate=True, group=True)
    storage = None
    if journal:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(journal))
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits={"blas": blas} if blas else None):
        study.optimize(objective, n_trials=len(replay))
    return per_trial(study.trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=50)
    options = parser.parse_args()
    bare, single, journaled, ours = [], [], [], []
    started = time.monotonic()
    for repeat in range(options.repeats):
        seconds, tried = mlengine_sweep(options.trials)
        ours.append(seconds)
        bare.append(bare_sweep(tried))
        single.append(bare_sweep(tried, blas=1))
        with tempfile.TemporaryDirectory() as folder:
            journaled.append(bare_sweep(tried, f"{folder}/journal.log"))
        print(
            f"repeat {repeat + 1}: bare {bare[-1] * 1000:.1f}, 1 BLAS thread "
            f"{single[-1] * 1000:.1f}, bare+journal "
            f"{journaled[-1] * 1000:.1f}, mlengine {ours[-1] * 1000:.1f} ms/trial",
            file=sys.stderr,
        )
    b, o, j, m = (statistics.median(x) for x in (bare, single, journaled, ours))
    print(f"\nPer-trial wall time, {options.trials} trials, median of {options.repeats}")
    print(f"{'system':<34}{'ms/trial':>10}{'ratio':>8}")
    print(f"{'bare Optuna loop (in memory)':<34}{b * 1000:>10.1f}{1.0:>8.2f}")
    print(f"{'bare loop, BLAS on 1 thread':<34}{o * 1000:>10.1f}{o / b:>8.2f}")
    print(f"{'bare Optuna loop (journal file)':<34}{j * 1000:>10.1f}{j / b:>8.2f}")
    print(f"{'mlengine (journal + MLflow)':<34}{m * 1000:>10.1f}{m / b:>8.2f}")
    print(
        f"mlengine over the journal loop: {m / j:.2f}x; over the fastest bare loop: "
        f"{m / min(b, o):.2f}x"
    )
    print(f"({time.monotonic() - started:.0f} s; target: mlengine / bare <= 1.15)")


if __name__ == "__main__":
    main()
