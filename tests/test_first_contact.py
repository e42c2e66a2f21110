"""What a newcomer meets first: the README's commands are the ones CI runs, and they work."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, run_cli

TEST_COMMAND = re.compile(r"^(pytest\b[^#\n]*?)\s*(#.*)?$", re.MULTILINE)


def _readme_setup_block() -> str:
    text = (REPO / "README.md").read_text()
    setup = text.split("## Set-up", 1)[1]
    return setup.split("```bash", 1)[1].split("```", 1)[0]


def test_ci_runs_the_readme_test_command_literally() -> None:
    readme_commands = [m.group(1).strip() for m in TEST_COMMAND.finditer(_readme_setup_block())]
    assert readme_commands, "the README's set-up block must show the test command"
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    ci = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    ci_commands = [m.group(1).strip() for m in TEST_COMMAND.finditer(ci)]
    assert ci_commands == [readme_commands[0]]
    assert not re.search(r"-m\s+pytest", ci), "CI must use the console script, as the README"


@pytest.mark.slow
def test_console_script_collects_every_test_module(tmp_path: Path) -> None:
    """`pytest --collect-only` from a copy of the tracked files, as a fresh clone has them."""
    pytest_script = Path(sys.executable).parent / "pytest"
    if not pytest_script.exists():
        pytest.skip(f"no pytest console script beside {sys.executable}")
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout: no tracked-file list to clone from")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    clone = tmp_path / "clone"
    for name in tracked:
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    result = subprocess.run(
        [
            str(pytest_script),
            "--collect-only",
            "-q",
            "-m",
            "slow or not slow",
            "-p",
            "no:cacheprovider",
        ],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "error" not in result.stdout.lower().splitlines()[-1]
    collected = {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}
    modules = {f"tests/{p.name}" for p in (clone / "tests").glob("test_*.py")}
    assert collected == modules


def test_dataframe_source_on_the_command_line_is_one_clear_line(workdir: Path) -> None:
    result = run_cli(["dataset=csv", "dataset.source=dataframe", "dataset.target=x"], workdir)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and "Invalid config 'dataset.source'" in lines[0]
    assert "dataset.path=FILE" in lines[0] and "Traceback" not in result.stderr
    assert not (workdir / "outputs").exists()


def test_missing_database_driver_names_the_extra_to_install(workdir: Path) -> None:
    """A stand-in psycopg that fails to import, as on a machine without the extra."""
    fake = workdir / "fake_site" / "psycopg"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n"
    )
    result = run_cli(
        ["search.storage=postgresql://me:s3cret@127.0.0.1:1/db"],
        workdir,
        env={"PYTHONPATH": str(workdir / "fake_site")},
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "search.storage" in lines[0] and 'pip install "mlengine[postgres]"' in lines[0]
    assert "s3cret" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert not (workdir / "outputs").exists()


def test_api_frame_without_target_is_refused_before_anything_is_written(workdir: Path) -> None:
    import pandas as pd

    from mlengine import run_experiment
    from mlengine.config import MlengineError

    frame = pd.DataFrame({"x": range(20), "y": [0, 1] * 10})
    with pytest.raises(MlengineError, match=r"needs target='COLUMN'.*got None"):
        run_experiment(frame=frame, target=None)
    assert not (workdir / "outputs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["price, in $", 'it\'s "it"', "${oops}", "a=b"])
def test_api_target_names_are_taken_literally(workdir: Path, name: str) -> None:
    import numpy as np
    import pandas as pd

    from mlengine import run_experiment

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=80), "z": rng.normal(size=80)})
    frame[name] = 3 * frame["x"] + rng.normal(scale=0.1, size=80)
    result = run_experiment(
        ["model=logistic_regression", "search.n_trials=1", "search.cv_folds=2", "eda=off"],
        frame=frame,
        target=name,
        output_dir=workdir / "run",
    )
    assert result.holdout["r2"] > 0.9
    saved = yaml.safe_load((workdir / "run" / "config.yaml").read_text())
    assert saved["dataset"]["target"] == name


def test_skops_is_imported_without_torch() -> None:
    """`import_skops` keeps torch out of a job that never uses it, and undoes its shim."""
    code = (
        "import sys\n"
        "from mlengine.export import import_skops\n"
        "io = import_skops()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "from sklearn.tree import DecisionTreeClassifier\n"  # deterministic, unlike a forest
        "data = io.dumps(DecisionTreeClassifier().fit([[0], [1]], [0, 1]))\n"
        "model = io.loads(data, trusted=io.get_untrusted_types(data=data))\n"
        "assert model.predict([[1]])[0] == 1\n"
        "import sklearn.externals.array_api_compat.torch as shim\n"
        "assert hasattr(shim, 'asarray') and 'torch' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
