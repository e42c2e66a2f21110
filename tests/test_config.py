"""Every YAML composes and instantiates; bad values are refused with their full key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from mlengine.cli import config_dir  # importing the CLI registers the schema and experiments
from mlengine.config import ConfigError, ModelConfig, ParamSpec
from mlengine.search import make_estimator
from mlengine.validation import validate
from tests.helpers import REPO

CONF = config_dir()
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())
# task=optimize is an added mode with files to check, not a training group: test_optimize.py
OPTIONS = [(g, p.stem) for g in GROUPS if g != "task" for p in sorted((CONF / g).glob("*.yaml"))]
EXPERIMENTS = sorted(p.stem for p in (REPO / "experiments").glob("*.yaml"))


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=overrides)


def _required(group: str, option: str) -> list[str]:
    """Options with mandatory keys get a value, as a user would give one."""
    if (group, option) == ("dataset", "csv"):
        return ["dataset.path=data.csv", "dataset.target=y"]
    return []


def test_every_group_has_options() -> None:
    assert {"dataset", "features", "model", "search", "eda", "export"} <= set(GROUPS)
    assert len(OPTIONS) >= 12


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_validates_and_instantiates(group: str, option: str) -> None:
    cfg = _compose([f"{group}={option}", *_required(group, option)])
    conf = validate(cfg)
    assert getattr(conf, group) is not None
    model = conf.model
    for task, spec in (("classification", model.classifier), ("regression", model.regressor)):
        if spec is not None:
            estimator = make_estimator(model, task, {}, seed=0)
            assert hasattr(estimator, "fit")
            params = estimator.get_params()
            for key, param in model.search_space.items():
                if param.task in (None, task):  # search keys are constructor arguments
                    assert key in params, f"{option}: '{key}' is not a {task} estimator param"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes(experiment: str) -> None:
    conf = validate(_compose([f"+experiment={experiment}"]))
    assert conf.experiment_name


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("search.n_trials=-1", "search.n_trials"),
        ("search.n_trials=0", "search.n_trials"),
        ("search.cv_folds=1", "search.cv_folds"),
        ("dataset.test_size=1.5", "dataset.test_size"),
        ("dataset.task=clustering", "dataset.task"),
        ("search.metric=auc", "search.metric"),
        ("model=xgboost model.search_space.max_depth.low=20", "model.search_space.max_depth"),
        ("export.name=../escape", "export.name"),
        ("model.class_weight=heavy", "model.class_weight"),
    ],
)
def test_bad_values_are_refused_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate(_compose(override.split()))
    assert error.value.key == key
    assert key in str(error.value)


def test_conditional_reference_must_exist() -> None:
    with pytest.raises(ConfigError, match="solver"):
        ModelConfig(
            name="m",
            classifier={"_target_": "x"},
            search_space={
                "penalty": ParamSpec(type="categorical", choices=["l1"], when={"solver": "saga"})
            },
        )


def test_experiments_compose_with_their_overrides() -> None:
    conf = validate(_compose(["+experiment=wine_random_forest"]))
    assert (conf.dataset.name, conf.model.name, conf.search.n_trials) == (
        "wine",
        "random_forest",
        30,
    )


@pytest.mark.slow
def test_wheel_install_finds_its_configs(tmp_path: Path) -> None:
    """A regular (non-editable) install carries conf/ as mlengine/conf and uses it."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        check=True,
    )
    wheel = next((tmp_path / "dist").glob("mlengine-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(CONF).as_posix() for p in CONF.rglob("*.yaml")}
    assert {f"mlengine/conf/{name}" for name in shipped} <= names
    assert "mlengine/eda/runner.py" in names  # subpackages are listed in pyproject.toml
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    probe = (
        "from mlengine.cli import config_dir; from hydra import compose, "
        "initialize_config_dir\nwith initialize_config_dir(config_dir=str(config_dir()), "
        "version_base='1.3'):\n    cfg = compose('config', overrides=['model=random_forest'])"
        "\nprint(config_dir()); print(cfg.model.name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        check=True,
        text=True,
        capture_output=True,
        env={"PYTHONPATH": str(target), "PATH": ""},
    )
    where, model = out.stdout.split()
    assert Path(where) == target / "mlengine" / "conf"
    assert model == "random_forest"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ("features.select=eda eda=off", "features.select"),
        ("eda.only=true eda=off", "eda.only"),
        ("eda.fail_on=[leakage] eda=off", "eda.fail_on"),
        ("export.only=true eda.only=true", "export.only"),
        ("export.only=true export.enabled=false", "export.only"),
        ("export.registered_model=churn export.enabled=false", "export.registered_model"),
    ],
)
def test_combinations_that_cannot_work_are_refused_naming_the_key(overrides: str, key: str) -> None:
    """Each value is valid alone; together they would silently do nothing (RELIABILITY 3)."""
    with pytest.raises(ConfigError) as caught:
        validate(_compose(overrides.split()))
    assert caught.value.key == key
