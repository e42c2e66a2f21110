"""The model families the EDA can recommend: every file under conf/model/ that declares
what kind of learner it is (`advice: {profile, prior}`), so a family added as one YAML file
is ranked like the built-in ones of its kind.

Profiles: boosting (gradient-boosted trees), bagging (random forests), linear, kernel
(kernel SVMs), neighbours (kNN), neural (neural nets). `prior` is the family's score before
the table's facts move it (the family ranking in mlengine/eda/advice.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlengine.config import config_dir


@dataclass(frozen=True)
class FamilyProfile:
    name: str
    profile: str
    prior: float = 1.0
    max_categories: int | None = None  # levels its native categorical support handles
    fitted: str = ""  # the estimator it fits for the task (Ridge for logistic_regression)


def advice_families(conf_dir: Path, task: str) -> list[FamilyProfile]:
    """The families under conf_dir/model/ with an estimator for `task` and an `advice`
    block, in file-name order."""
    from omegaconf import OmegaConf

    role = "classifier" if task == "classification" else "regressor"
    out = []
    for path in sorted((Path(conf_dir) / "model").glob("*.yaml")):
        family = OmegaConf.load(path)
        advice = family.get("advice")
        if advice is None or family.get(role) is None:
            continue
        out.append(
            FamilyProfile(
                str(family.get("name", path.stem)),
                advice.profile,
                float(advice.get("prior", 1.0)),
                advice.get("max_categories"),
                str(family[role].get("_target_", "")).rsplit(".", 1)[-1],
            )
        )
    return out


def builtin_families(task: str) -> list[FamilyProfile]:
    """The families shipped in mlengine's own conf/ (for the EDA run outside a job)."""
    return advice_families(config_dir(), task)
