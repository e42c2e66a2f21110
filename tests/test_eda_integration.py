"""The EDA step inside a run: artifacts on the parent run, fail_on, eda.only, select=eda."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import run_cli


def _leaky_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(scale=0.8, size=n) > 0).astype(int)
    return pd.DataFrame(
        {
            "signal": signal,
            "noise_a": rng.normal(size=n),
            "noise_b": rng.normal(size=n),
            "refund_issued": y + rng.normal(scale=0.01, size=n),  # known only after the outcome
            "churned": y,
        }
    )


def _runs(workdir: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    return client, client.search_runs(ids, max_results=100)


def test_fail_on_leakage_stops_before_any_trial(workdir: Path) -> None:
    _leaky_table().to_csv(workdir / "leaky.csv", index=False)
    result = run_cli(
        [
            "dataset=csv",
            "dataset.path=leaky.csv",
            "dataset.target=churned",
            "eda.fail_on=[leakage]",
        ],
        workdir,
        timeout=300,
    )
    assert result.returncode != 0
    assert "EDA check failed" in result.stderr and "refund_issued" in result.stderr
    assert "Traceback" not in result.stderr
    _, runs = _runs(workdir)
    assert [r.info.status for r in runs] == ["FAILED"], "one parent run, no trial runs"
    assert not (workdir / "outputs" / "optuna" / "journal.log").exists(), "no study was opened"


def test_unknown_fail_on_check_is_a_config_error(workdir: Path) -> None:
    result = run_cli(["eda.fail_on=[leaks]"], workdir, timeout=60)
    assert result.returncode != 0
    assert "Invalid config 'eda.fail_on'" in result.stderr and "leakage" in result.stderr


def test_eda_only_prints_the_report_and_logs_it(workdir: Path) -> None:
    result = run_cli(["eda.only=true"], workdir, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "# EDA report" in result.stdout and "mean radius" in result.stdout
    assert "Best CV" not in result.stdout
    client, runs = _runs(workdir)
    (parent,) = runs
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "eda")}
    assert {"eda/eda.json", "eda/eda.md"} <= logged
    assert sum(p.endswith(".png") for p in logged) >= 3
    assert not (workdir / "outputs" / "optuna").exists()


@pytest.mark.slow
def test_select_eda_drops_what_the_report_rejects(workdir: Path) -> None:
    import json

    from mlengine import run_experiment

    frame = _leaky_table()
    frame["row_id"] = np.arange(len(frame))
    frame["constant"] = 7
    result = run_experiment(
        [
            "model=logistic_regression",
            "search.n_trials=2",
            "search.cv_folds=3",
            "features.select=eda",
        ],
        frame=frame,
        target="churned",
    )
    assert {"refund_issued", "constant", "row_id"} <= set(result.dropped_columns)
    assert "signal" not in result.dropped_columns
    preprocess = result.pipeline.named_steps["preprocess"]
    used = {c for _, _, cols in preprocess.transformers_ for c in cols}
    assert "refund_issued" not in used and "signal" in used
    report = json.loads((result.output_dir / "eda" / "eda.json").read_text())
    assert report["schema_version"] == 2
    assert "refund_issued" in [s["column"] for s in report["leakage"]]
