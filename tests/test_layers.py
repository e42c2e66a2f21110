"""The layers import-linter keeps (pyproject.toml's contracts, `lint-imports` in .ci/run):
the contracts name every module, a forbidden import breaks them, and the two promises a
user can feel: `mlengine.config` imports nothing of mlengine, and importing mlengine
registers nothing with Hydra."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"
]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _top_level_modules() -> set[str]:
    package = REPO / "mlengine"
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    return {f"mlengine.{n}" for n in names}


def _contract(name_start: str) -> dict:
    (contract,) = [c for c in CONTRACTS if c["name"].startswith(name_start)]
    return contract


@pytest.mark.parametrize(
    ("contract", "key", "besides"),
    [
        ("config is a leaf", "forbidden_modules", {"mlengine.config"}),
        ("nothing below", "source_modules", {"mlengine.cli", "mlengine.api", "mlengine.__main__"}),
        ("serving", "forbidden_modules", {"mlengine.serving"}),
    ],
)
def test_the_contracts_name_every_module(contract: str, key: str, besides: set) -> None:
    named = {m for m in _contract(contract)[key] if m.startswith("mlengine")}
    assert named == _top_level_modules() - besides, "add the new module to pyproject.toml"


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is a dev dependency")
def test_the_layers_hold_and_a_forbidden_import_breaks_them(tmp_path: Path) -> None:
    kept = _lint(REPO)
    assert kept.returncode == 0, kept.stdout[-3000:]
    shutil.copytree(REPO / "mlengine", tmp_path / "mlengine")
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    checks = tmp_path / "mlengine" / "eda" / "checks.py"
    checks.write_text(checks.read_text() + "\n\ndef _log() -> None:\n    import mlflow  # noqa\n")
    broken = _lint(tmp_path)
    assert broken.returncode == 1, broken.stdout[-3000:]
    assert "data, eda, features and models know no MLflow BROKEN" in broken.stdout
    assert "mlengine.eda.checks -> mlflow" in broken.stdout


def _imported_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_the_config_module_imports_nothing_else_of_mlengine() -> None:
    ours = [m for m in _imported_after("import mlengine.config") if m.startswith("mlengine")]
    assert ours == ["mlengine", "mlengine.config"]


def test_importing_mlengine_registers_nothing_with_hydra() -> None:
    code = (
        "import mlengine\n"
        "from hydra.core.config_store import ConfigStore\n"
        "from omegaconf import OmegaConf\n"
        "print(sorted(ConfigStore.instance().repo), OmegaConf.has_resolver('mlengine_uid'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "base_config" not in out.stdout and "False" in out.stdout
    assert "mlengine.cli" not in _imported_after("import mlengine")
