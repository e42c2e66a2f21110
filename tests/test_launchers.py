"""Hydra launchers: the cluster configs that ship with mlengine, and real 2-job multiruns
through submitit's local executor and joblib (pip install 'mlengine[launchers]')."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from mlengine.cli import config_dir
from tests.helpers import all_runs, run_cli

needs_plugins = pytest.mark.skipif(
    not (
        importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher")
        and importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher")
    ),
    reason="the launcher plugins are not installed: pip install 'mlengine[launchers]'",
)
JOB = ["search.n_trials=2", "search.cv_folds=3", "eda=off", "export.onnx=false"]


def _launcher(overrides: list[str]):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    return cfg.hydra.launcher


@needs_plugins
def test_the_slurm_launcher_reads_the_cluster_keys_in_one_place() -> None:
    launcher = _launcher(
        ["hydra/launcher=slurm", "cluster.partition=gpu", "cluster.gpus=1", "cluster.mem_gb=32"]
        + ["cluster.time_min=240", "cluster.cpus=8", "cluster.max_parallel=10"]
        + ["cluster.account=lab"]
    )
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.mem_gb) == ("gpu", 1, 32)
    assert launcher.account == "lab"
    assert (launcher.timeout_min, launcher.cpus_per_task, launcher.array_parallelism) == (
        240,
        8,
        10,
    )
    local = _launcher(["hydra/launcher=local", "cluster.cpus=3"])
    assert local._target_.endswith("LocalLauncher") and local.cpus_per_task == 3
    parallel = _launcher(["hydra/launcher=parallel", "cluster.max_parallel=3"])
    assert parallel._target_.endswith("JoblibLauncher") and parallel.n_jobs == 3


@needs_plugins
@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["submitit_local", "joblib"])
def test_a_two_job_multirun_through_the_launcher(launcher: str, tmp_path: Path) -> None:
    result = run_cli(
        ["-m", f"hydra/launcher={launcher}", "model=logistic_regression,random_forest", *JOB],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "multirun").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]  # one folder per job
    models = {json.loads((p / "result.json").read_text())["family"] for p in jobs}
    assert models == {"logistic_regression", "random_forest"}
    parents = [r for r in all_runs(tmp_path) if r.data.tags.get("mlengine.run_kind") == "study"]
    assert sorted(r.data.tags["mlengine.model"] for r in parents) == [
        "logistic_regression",
        "random_forest",
    ]
    assert {r.info.status for r in parents} == {"FINISHED"}
    assert "Sweep: 2 jobs, 0 failed" in result.stdout + result.stderr


def test_ci_stops_when_a_service_the_tests_use_is_missing(monkeypatch) -> None:
    """`.ci/run` runs `python -m tests.services`: a missing service is named, not skipped."""
    from tests import postgres, services

    monkeypatch.delenv(postgres.URL_VARIABLE, raising=False)
    monkeypatch.setattr(postgres, "server_binaries", lambda: None)
    assert postgres.NOT_INSTALLED in services.missing_services()
    assert "-m tests.services" in (Path(__file__).parents[1] / ".ci" / "run").read_text()
