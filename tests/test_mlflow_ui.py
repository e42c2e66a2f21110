"""The MLflow UI as a person uses it to compare runs, in a real (headless) browser.

A 2-model multirun through the CLI makes the store; `mlflow server` serves it; Chromium,
driven by playwright-core (tests/ui/mlflow_ui.mjs, the selectors are listed there), opens
the experiment's runs table (each parent's training data named in its Dataset column),
expands a parent run to its trial runs, opens the parent and finds its EDA and Optuna
artifacts. Screenshots of each step land in the test's tmp_path.

Needs Debian's `chromium` and `npm ci --prefix tests/ui` (as .ci/run does); skipped without.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO, free_port, run_cli, served_process

UI_DIR = REPO / "tests" / "ui"
SCRIPT = UI_DIR / "mlflow_ui.mjs"
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
NODE = shutil.which("node")
PLAYWRIGHT = UI_DIR / "node_modules" / "playwright-core"

MODELS = ("logistic_regression", "random_forest")
SHOTS = (
    "00-experiment.png",
    "01-runs.png",
    "02-expanded.png",
    "03-run-page.png",
    "04-artifacts.png",
    "05-eda.png",
    "06-optuna.png",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed: apt-get install chromium (as .ci/run does)",
    ),
    pytest.mark.skipif(NODE is None, reason="node is not installed: apt-get install nodejs npm"),
    pytest.mark.skipif(
        not PLAYWRIGHT.is_dir(),
        reason="playwright-core is not installed: npm ci --prefix tests/ui (as .ci/run does)",
    ),
]


@contextlib.contextmanager
def mlflow_ui(store_uri: str, artifacts: Path, cwd: Path) -> Iterator[str]:
    """`mlflow server` on a free loopback port; yields its URL, stops its process group."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store_uri]
    # The CLI's runs hold local file:// artifact URIs (outputs/artifacts): the server reads
    # those itself; no mlflow-artifacts proxy is involved.
    command += ["--no-serve-artifacts", "--default-artifact-root", artifacts.as_uri()]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # No job runner (its huey consumers serve GenAI jobs, not this UI): fewer processes.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    url = f"http://127.0.0.1:{port}"
    with served_process(command, f"{url}/health", cwd / "mlflow-server.log", env):
        yield url


def _listed(url: str, run_id: str, folder: str) -> set[str]:
    """The artifact paths the server's REST API (what the UI calls) lists under folder."""
    query = f"run_uuid={run_id}&path={folder}"
    with urllib.request.urlopen(f"{url}/ajax-api/2.0/mlflow/artifacts/list?{query}") as response:
        return {f["path"] for f in json.load(response).get("files", [])}


def test_mlflow_ui_shows_parents_trials_and_their_eda_and_optuna_artifacts(
    tmp_path: Path,
) -> None:
    overrides = [
        "-m",
        f"model={','.join(MODELS)}",
        "search.n_trials=2",
        "search.cv_folds=3",
        "export.onnx=false",
        "search.plots=true",  # Optuna's plots under optuna/ on the parent (EDA is on by default)
    ]
    result = run_cli(overrides, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    from mlflow.tracking import MlflowClient

    store_uri = f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    client = MlflowClient(store_uri)
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    studies = [r for r in runs if r.data.tags.get("mlengine.run_kind") == "study"]
    by_model = {r.data.tags["mlengine.model"]: r for r in studies}
    assert sorted(by_model) == sorted(MODELS), [r.info.run_name for r in runs]

    parents = []
    for model in MODELS:  # the first one is the parent the browser expands
        parent = by_model[model]
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(children) == 2, [c.info.run_name for c in children]
        eda = {a.path for a in client.list_artifacts(parent.info.run_id, "eda")}
        optuna = {a.path for a in client.list_artifacts(parent.info.run_id, "optuna")}
        assert "eda/eda.md" in eda and "optuna/optimization_history.png" in optuna
        (training,) = [
            i.dataset
            for i in client.get_run(parent.info.run_id).inputs.dataset_inputs
            if {t.key: t.value for t in i.tags}.get("mlflow.data.context") == "training"
        ]
        parents.append(
            {
                "run_id": parent.info.run_id,
                "name": parent.info.run_name,
                "training": f"{training.name} ({training.digest})",  # its Dataset cell
                "children": [{"run_id": c.info.run_id, "name": c.info.run_name} for c in children],
            }
        )
    assert parents[0]["name"] == f"{MODELS[0]}-breast_cancer"

    (printed,) = {
        line.split(", then open ", 1)[1].strip()
        for line in result.stdout.splitlines()
        if line.startswith("Compare runs: mlflow ui")
    }
    assert printed.endswith(
        f"#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
    )

    shots = tmp_path / "screenshots"
    with mlflow_ui(store_uri, tmp_path / "outputs" / "artifacts", tmp_path) as url:
        # The API the artifacts tab calls must list them before the browser looks.
        assert "eda/eda.md" in _listed(url, parents[0]["run_id"], "eda")
        spec = tmp_path / "ui-spec.json"
        spec.write_text(
            json.dumps(
                {
                    "url": url,
                    "experiment_id": experiment.experiment_id,
                    "printed_link": printed.replace("http://127.0.0.1:5000", url),
                    "screenshots": str(shots),
                    "chromium": CHROMIUM,
                    "parents": parents,
                    "eda_file": "eda.md",
                    "optuna_file": "optimization_history.png",
                }
            )
        )
        browser = subprocess.run(
            [NODE, str(SCRIPT), str(spec)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=420,
        )
    assert browser.returncode == 0, (
        f"{browser.stderr[-6000:]}\n{browser.stdout[-2000:]}\nscreenshots: {shots}"
    )
    found = json.loads(browser.stdout)
    assert [s["step"] for s in found["steps"]][-1] == "optuna/optimization_history.png opens"
    # the Dataset column names what each parent trained on (issue 13's lineage, in the UI)
    assert found["steps"][0]["step"] == "the link mlengine prints opens on the training runs"
    assert found["steps"][1]["datasets"] == [p["training"] for p in parents]
    for name in SHOTS:
        png = shots / name
        assert png.is_file(), f"{name} missing; {sorted(p.name for p in shots.iterdir())}"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 10_000, f"{name}: {png.stat().st_size} bytes"
