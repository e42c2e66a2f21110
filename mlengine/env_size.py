"""How much a serving environment installs: a model's requirements and all they require.

Read off this Python's installed distributions (their RECORD files), so it is the size of
the environment `mlflow models serve --env-manager virtualenv` would build from the
model's requirements.txt, on this platform.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def installed_bytes(requirements: Iterable[str]) -> int:
    """Bytes on disk of the named distributions and their dependency closure (extras and
    markers that do not apply here are skipped; a distribution not installed counts 0)."""
    seen: set[str] = set()
    pending = [Requirement(r) for r in requirements]
    total = 0
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        total += sum(f.size or 0 for f in dist.files or ())
        for line in dist.requires or ():
            dependency = Requirement(line)
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                pending.append(dependency)
    return total


def model_requirements(model_dir: Path) -> list[str]:
    """The requirements an MLflow model folder lists (its requirements.txt)."""
    path = Path(model_dir) / "requirements.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-"))]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
