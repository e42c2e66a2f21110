"""The rules real tables broke (RELIABILITY items 25-26), each on a small table made to
look like the real one: a level spelled `none`, a marker in a numeric column, panels and
crash tables whose ids repeat, an informative grade, a near-leak, a check that raises,
and the Palmer penguins file whose grouping-like column has missing values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlengine.config import DatasetConfig
from mlengine.data import load_dataset
from mlengine.eda import EdaSettings, run_eda
from tests.helpers import run_cli

SETTINGS = EdaSettings(plots=False)


def _load(path: Path, target: str, **kwargs) -> object:
    cfg = DatasetConfig(name=path.stem, source="file", path=str(path), target=target, **kwargs)
    return load_dataset(cfg)


def _findings(report, check: str) -> list:
    return [f for f in report.findings if f.check == check]


# ---- missing markers that respect the column (item 25) --------------------------------------
@pytest.fixture
def crashes_csv(tmp_path: Path) -> Path:
    """`belt` in {belted, none} (40% none: no belt, a strong predictor); `speed` numbers with
    `none` in 1% of its cells; `seat` text with a rare `Unknown`; `weight` all `-`."""
    rng = np.random.default_rng(0)
    n = 2000
    belted = rng.random(n) >= 0.4
    speed = rng.normal(60, 15, n).round(1).astype(str)
    speed[rng.choice(n, 20, replace=False)] = "none"
    seat = rng.choice(["front", "back", "middle"], n).astype(object)
    seat[rng.choice(n, 6, replace=False)] = "Unknown"
    injured = (~belted & (rng.random(n) < 0.7)) | (rng.random(n) < 0.1)
    frame = pd.DataFrame(
        {
            "belt": np.where(belted, "belted", "none"),
            "speed": speed,
            "seat": seat,
            "weight": "-",
            "injured": np.where(injured, "yes", "no"),
        }
    )
    path = tmp_path / "crashes.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_frequent_word_in_a_text_column_is_a_level(crashes_csv: Path) -> None:
    ds = _load(crashes_csv, "injured")
    assert ds.column_types["belt"] == "categorical"
    assert ds.X["belt"].isna().sum() == 0
    assert ds.X["belt"].value_counts()["none"] > 700
    assert "belt" not in ds.drop_columns and ds.schema.column("belt").markers_read == {}
    report = run_eda(ds.X, ds.y, ds.task, SETTINGS, column_types=ds.column_types)
    assert "belt" not in report.drop_reasons
    assert "belt" in {r.column for r in report.relevance if r.verdict == "useful"}


def test_a_word_in_a_numeric_column_is_missing_and_the_schema_says_so(crashes_csv: Path) -> None:
    ds = _load(crashes_csv, "injured")
    assert ds.column_types["speed"] == "numeric"
    assert int(ds.X["speed"].isna().sum()) == 20
    speed = ds.schema.column("speed")
    assert speed.markers_read == {"none": 20} and "20 'none'" in speed.parsing
    # a column left empty by its markers says which, in its reason
    assert ds.drop_columns["weight"] == "all values missing (2000 '-' read as missing)"


def test_a_rare_word_in_a_text_column_is_missing_in_training_and_serving(
    crashes_csv: Path,
) -> None:
    from mlengine.config import FeaturesConfig, ModelConfig
    from mlengine.features import build_preprocessor

    ds = _load(crashes_csv, "injured")
    assert int(ds.X["seat"].isna().sum()) == 6
    assert ds.schema.column("seat").markers_read == {"Unknown": 6}
    assert ds.missing_markers["seat"] == ["Unknown"] and "belt" not in ds.missing_markers
    # the served pipeline reads the raw cell the way the loader did
    model = ModelConfig(
        name="m", classifier={"_target_": "sklearn.linear_model.LogisticRegression"}
    )
    pre = build_preprocessor(
        {"seat": "categorical", "belt": "categorical"},
        model,
        FeaturesConfig(),
        na_values=ds.missing_markers,
    )
    raw = pd.DataFrame({"seat": ["Unknown", "front", None], "belt": ["Unknown", "none", None]})
    out = pre.fit(raw).named_transformers_["categorical"][0].transform(raw)
    assert pd.isna(out[0, 0]) and out[1, 0] == "front" and pd.isna(out[2, 0])
    assert out[0, 1] == "Unknown" and out[1, 1] == "none"  # another column's level stays


def test_dataset_na_values_overrides_the_guess_both_ways(crashes_csv: Path) -> None:
    given = _load(crashes_csv, "injured", na_values=["none"])
    assert int(given.X["belt"].isna().sum()) > 700  # the user's word wins, even as a level
    assert "belt" not in given.drop_columns  # one value and missing cells: not constant
    off = _load(crashes_csv, "injured", na_values=[])
    assert off.schema.column("speed").markers_read == {}  # no guessing
    assert "20 non-numeric values read as missing" in off.schema.column("speed").parsing
    assert int(off.X["seat"].isna().sum()) == 0  # `Unknown` stays a level
    assert off.column_types["weight"] == "categorical"


def test_with_guessing_off_a_frequent_word_keeps_a_number_column_text(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=500).round(2).astype(str)
    values[:60] = "none"  # 12%: more than the 5% of unparsable values a number column allows
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": values, "y": rng.integers(0, 2, 500)}).to_csv(path, index=False)
    assert _load(path, "y").column_types["x"] == "numeric"
    assert _load(path, "y", na_values=[]).column_types["x"] == "categorical"


# ---- repeated entities by what an entity is -------------------------------------------------
def _panel(n_persons: int, seed: int, id_column: str) -> tuple[pd.DataFrame, pd.Series]:
    """Persons observed 3-12 years, sorted by person id; a wage with a person effect."""
    rng = np.random.default_rng(seed)
    years = rng.integers(3, 13, n_persons)
    person = np.repeat(np.arange(n_persons) + 10_001, years)
    n = len(person)
    effect = rng.normal(size=n_persons)[person - 10_001]
    X = pd.DataFrame(
        {
            id_column: person,
            "exper": np.concatenate([np.arange(k) for k in years]) + rng.integers(0, 10, n),
            "union": rng.integers(0, 2, n),
            "hours": rng.normal(2000, 300, n).round(),
        }
    )
    y = 0.04 * X["exper"] + 0.1 * X["union"] + effect + rng.normal(scale=0.4, size=n)
    return X, pd.Series(y, name="lwage")


@pytest.mark.parametrize("id_column", ["idcode", "nr", "v1"])
def test_a_panel_sorted_by_an_integer_person_id_is_found(id_column: str) -> None:
    X, y = _panel(600, 0, id_column)
    report = run_eda(X, y, "regression", SETTINGS, seed=0)
    (found,) = _findings(report, "repeated_entity")
    assert found.columns == [id_column]
    assert found.overrides == [f"dataset.split_by={id_column}"]
    assert found.evidence["residual_icc"] >= 0.3


def test_a_crash_table_with_one_to_four_occupants_per_case_is_found() -> None:
    rng = np.random.default_rng(3)
    n_cases = 2500
    occupants = rng.integers(1, 5, n_cases)
    case = np.repeat(np.arange(n_cases), occupants)
    n = len(case)
    severity = rng.normal(size=n_cases)[case]  # the crash's own violence, not recorded
    X = pd.DataFrame(
        {
            "caseid": [f"{c // 100}:{c % 100}:{c % 7}" for c in case],
            "seatbelt": rng.choice(["belted", "none"], n),
            "ageOFocc": rng.integers(16, 90, n),
            "airbag": rng.choice(["airbag", "none"], n),
        }
    )
    risk = severity + 0.8 * (X["seatbelt"] == "none") + 0.02 * (X["ageOFocc"] - 40)
    y = pd.Series(np.where(risk + rng.normal(scale=0.5, size=n) > 1.2, "dead", "alive"))
    order = rng.permutation(n)  # crash files are not sorted by case
    report = run_eda(X.iloc[order], y.iloc[order], "classification", SETTINGS, seed=0)
    (found,) = _findings(report, "repeated_entity")
    assert found.columns == ["caseid"] and "high_cardinality" not in {
        f.check for f in report.findings if "caseid" in f.columns
    }


def test_an_informative_thirty_level_grade_is_no_entity() -> None:
    rng = np.random.default_rng(4)
    n = 10_000
    grade = rng.integers(0, 30, n)
    X = pd.DataFrame(
        {
            "sub_grade": [f"{'ABCDEFG'[g // 5]}{g % 5 + 1}" for g in grade],  # A1 ... F5
            "income": rng.lognormal(11, 0.5, n).round(),
            "term": rng.choice([36, 60], n),
        }
    )
    y = pd.Series(5 + 0.8 * grade + rng.normal(scale=8, size=n), name="interest_rate")
    report = run_eda(X, y, "regression", SETTINGS, seed=0)
    assert not _findings(report, "repeated_entity")
    assert "sub_grade" not in report.drop_reasons
    assert "dataset.split_by" not in " ".join(report.suggested_overrides())


# ---- near-leaks -----------------------------------------------------------------------------
def _flights(r: float, n: int = 3000) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(5)
    dep = rng.normal(size=n)
    arr = r * dep + np.sqrt(1 - r**2) * rng.normal(size=n)
    X = pd.DataFrame({"dep_delay": dep * 30, "distance": rng.integers(100, 3000, n)})
    return X, pd.Series(arr * 30, name="arr_delay")


def test_a_feature_that_explains_most_of_the_target_is_a_near_leak() -> None:
    X, y = _flights(0.91)
    report = run_eda(X, y, "regression", SETTINGS, seed=0)
    (found,) = _findings(report, "near_leak")
    assert found.columns == ["dep_delay"] and found.severity == "warn"
    assert "known when you predict" in found.message
    assert found.overrides == ["features.drop=[dep_delay]"]
    assert not report.leaking_columns()  # a question, not a verdict: the run keeps it
    assert "dep_delay" not in report.drop_reasons


def test_a_moderately_correlated_feature_is_no_near_leak() -> None:
    X, y = _flights(0.5)
    report = run_eda(X, y, "regression", SETTINGS, seed=0)
    assert not _findings(report, "near_leak")


# ---- family advice in the words of the task ------------------------------------------------
def test_regression_advice_names_the_regressors_it_fits() -> None:
    X, y = _flights(0.5)
    report = run_eda(X, y, "regression", SETTINGS, seed=0)
    (advice,) = _findings(report, "model_advice")
    text = "\n".join([advice.message, report.to_markdown(), report.console_summary(False)])
    assert "(Ridge)" in text and "LogisticRegression" not in text
    assert "logistic_regression (Ridge)" in report.console_summary(False)


# ---- the penguins file: a grouping-like column with missing values, end to end -------------
def _penguins_like(path: Path) -> None:
    """Palmer penguins' shape: species, island, measurements, `sex` and a repeated
    `individual` code (some missing), with the NA cells R writes."""
    rng = np.random.default_rng(6)
    n = 344
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], n)
    base = {"Adelie": 38.8, "Gentoo": 47.5, "Chinstrap": 48.8}
    frame = pd.DataFrame(
        {
            "species": species,
            "island": rng.choice(["Torgersen", "Biscoe", "Dream"], n),
            "bill_length_mm": [round(base[s] + rng.normal(scale=2.5), 1) for s in species],
            "body_mass_g": rng.normal(4200, 800, n).round(),
            "sex": rng.choice(["male", "female", "NA"], n, p=[0.48, 0.48, 0.04]),
            "individual": [f"N{k}A{k % 2 + 1}" for k in rng.integers(1, 90, n)],
            "year": rng.choice([2007, 2008, 2009], n),
        }
    )
    frame.loc[rng.choice(n, 30, replace=False), "individual"] = "NA"
    frame.loc[rng.choice(n, 2, replace=False), ["bill_length_mm", "body_mass_g"]] = np.nan
    frame.to_csv(path, index=False)


@pytest.mark.slow
def test_a_penguins_like_file_runs_to_an_exported_model(workdir: Path) -> None:
    _penguins_like(workdir / "penguins.csv")
    result = run_cli(
        ["dataset=csv", "dataset.path=penguins.csv", "dataset.target=species"]
        + ["search.n_trials=2", "search.cv_folds=3"],
        workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "unexpected error" not in result.stdout + result.stderr
    assert "check failed" not in result.stdout
    assert list((workdir / "outputs").rglob("MLmodel"))
    (families,) = [line for line in result.stdout.splitlines() if "model families:" in line]
    assert "(LogisticRegression)" in families or "(HistGradientBoostingClassifier)" in families


@pytest.mark.slow
def test_a_check_that_raises_does_not_end_the_run(workdir: Path) -> None:
    from mlengine import run_experiment
    from mlengine.eda import REGISTRY, check

    _penguins_like(workdir / "penguins.csv")
    frame = pd.read_csv(workdir / "penguins.csv")
    with REGISTRY.scoped():

        @check("fragile", stage="baselines")
        def check_fragile(ctx) -> list:
            raise ValueError("Input groups contains NaN.")

        result = run_experiment(
            ["model=logistic_regression", "search.n_trials=1", "search.cv_folds=3"],
            frame=frame,
            target="species",
        )
    assert result is not None and result.model_path is not None
    assert (result.model_path / "MLmodel").is_file()
    eda = (result.output_dir / "eda" / "eda.md").read_text()
    assert "`fragile` failed" in eda


@pytest.mark.slow
def test_a_run_sees_a_panel_in_its_file_order(workdir: Path) -> None:
    # the run's EDA reads the training split, which a random split shuffles: a panel stored
    # person by person is only a panel in the file's order
    X, y = _panel(400, 7, "v1")
    X.assign(lwage=y).to_csv(workdir / "panel.csv", index=False)
    result = run_cli(
        ["dataset=csv", "dataset.path=panel.csv", "dataset.target=lwage", "eda.only=true"],
        workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "dataset.split_by=v1" in result.stdout
