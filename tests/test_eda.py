"""EDA checks on tables with planted structure: each column must get the right verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlengine.eda import CHECKS, EdaReport, EdaSettings, run_eda

FAST = EdaSettings(run_baselines=False, plots=False)
NOISE = [f"noise_{i}" for i in range(10)] + ["noise_cat"]
SIGNALS = ["strong", "weak", "dup_a", "cat_signal"]


def planted(task: str, n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Known structure: a leak, noise, an ID, a constant, duplicated columns, true signals."""
    rng = np.random.default_rng(seed)
    strong, weak, medium = rng.normal(size=(3, n))
    z = 2.0 * strong + 0.5 * weak + 1.0 * medium + rng.normal(size=n)
    y = (z > 0).astype(int) if task == "classification" else z
    X = pd.DataFrame(
        {
            "strong": strong,
            "weak": weak,
            "dup_a": medium,
            "dup_b": medium.copy(),
            "leak": y + rng.normal(scale=0.1, size=n),  # the target plus noise
            "row_id": rng.permutation(n),
            "const": 7.0,
        }
    )
    for i in range(10):
        X[f"noise_{i}"] = rng.normal(size=n)
    X["noise_cat"] = rng.choice(["a", "b", "c", "d"], size=n)
    shifted = z + 2.0 * rng.normal(size=n) > 0
    X["cat_signal"] = np.where(
        shifted, rng.choice(["x", "y"], n, p=[0.8, 0.2]), rng.choice(["x", "y"], n, p=[0.2, 0.8])
    )
    return X, pd.Series(y, name="target")


def finding(report: EdaReport, check: str) -> list:
    return [f for f in report.findings if f.check == check]


def flagged(report: EdaReport, check: str) -> set[str]:
    return {c for f in finding(report, check) for c in f.columns}


@pytest.fixture(scope="module", params=["classification", "regression"])
def planted_report(request: pytest.FixtureRequest) -> EdaReport:
    X, y = planted(request.param)  # baselines on: the conditional rescue must not save noise
    return run_eda(X, y, request.param, EdaSettings(plots=False), seed=0)


# -- planted structure --------------------------------------------------------------------------
def test_planted_columns_are_classified(planted_report: EdaReport) -> None:
    r = planted_report
    assert r.leaking_columns() == ["leak"]
    assert flagged(r, "id_like") == {"row_id"}
    assert flagged(r, "constant") == {"const"}
    assert finding(r, "duplicate_columns")[0].evidence["groups"] == [["dup_a", "dup_b"]]
    verdict = {f.column: f.verdict for f in r.relevance}
    assert all(verdict[c] == "irrelevant" for c in NOISE), verdict
    assert verdict["strong"] == "useful"
    assert verdict["cat_signal"] == "useful"
    assert verdict["weak"] in ("useful", "weak")
    assert "const" not in verdict  # constant columns are not scored


def test_ranking_puts_every_signal_above_every_noise_column(planted_report: EdaReport) -> None:
    score = {f.column: f.score for f in planted_report.relevance}
    rank = {f.column: f.rank for f in planted_report.relevance}
    assert min(score[c] for c in SIGNALS) > max(score[c] for c in NOISE)
    assert max(rank[c] for c in SIGNALS) < min(rank[c] for c in NOISE)
    # probes are the noise floor: every true signal clears it, by a margin
    assert min(score[c] for c in SIGNALS) > 5 * max(planted_report.probe_scores)


def test_drop_list_removes_exactly_the_bad_columns(planted_report: EdaReport) -> None:
    drop = planted_report.columns_to_drop()
    assert set(drop) == {"leak", "row_id", "const", "dup_b", *NOISE}
    assert planted_report.drop_reasons["leak"] == ["leakage"]
    assert planted_report.drop_reasons["dup_b"] == ["duplicate"]
    assert "constant" in planted_report.drop_reasons["const"]


def test_failures_select_by_check_or_severity(planted_report: EdaReport) -> None:
    assert [f.columns for f in planted_report.failures(["leakage"])] == [["leak"]]
    assert {f.check for f in planted_report.failures(["error"])} == {"leakage"}
    assert planted_report.failures(["infinite_values"]) == []
    assert {f.check for f in planted_report.findings} <= set(CHECKS)


def test_leak_evidence_is_reported(planted_report: EdaReport) -> None:
    leak = planted_report.leakage[0]
    assert leak.score >= 0.98
    assert leak.exact_relation is not None
    f = planted_report.failures(["leakage"])[0]
    assert f.severity == "error" and "leak" in f.message and f.evidence["score"] == leak.score


# -- public datasets: no false leakage ------------------------------------------------------------
def test_breast_cancer_full_report_flags_no_leakage(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    r = run_eda(X, y, "classification", EdaSettings())
    assert r.leakage == [] and r.failures(["leakage"]) == []
    verdict = {f.column: f.verdict for f in r.relevance}
    assert verdict["worst perimeter"] == verdict["worst concave points"] == "useful"
    assert {b.name for b in r.model_advice.baselines} == {"dummy", "linear", "tree"}
    best = max(b.mean for b in r.model_advice.baselines)
    assert best > 0.95  # AUC: the baselines actually learn
    paths = r.write(tmp_path)
    assert {p.name for p in paths} == {
        "eda.json",
        "eda.md",
        "target.png",
        "missingness.png",
        "relevance.png",
        "correlation.png",
    }


def test_diabetes_flags_no_leakage_and_keeps_conditionally_relevant_sex() -> None:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    univariate = run_eda(X, y, "regression", FAST)
    assert univariate.leakage == []
    assert {f.column for f in univariate.relevance[:2]} == {"bmi", "s5"}
    # sex carries no marginal information but matters given the other features
    assert {f.column: f.verdict for f in univariate.relevance}["sex"] == "irrelevant"
    full = run_eda(X, y, "regression", EdaSettings(plots=False))
    assert full.leakage == []
    sex = {f.column: f for f in full.relevance}["sex"]
    assert sex.verdict == "weak" and sex.conditional
    assert "sex" not in full.columns_to_drop() and "age" in full.columns_to_drop()


# -- exact relations: not linear, still leakage ---------------------------------------------------
def test_threshold_relation_is_leakage_though_correlation_is_moderate() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_t(df=2, size=3000) + 0.3  # heavy tails: Pearson with the label ~0.4
    X = pd.DataFrame({"x": x, "other": rng.normal(size=3000)})
    y = pd.Series(np.where(x > 0, "yes", "no"))
    assert abs(np.corrcoef(x, x > 0)[0, 1]) < 0.7  # far below any correlation threshold
    r = run_eda(X, y, "classification", FAST)
    assert r.leaking_columns() == ["x"]
    assert "x >" in r.leakage[0].exact_relation
    assert abs(r.leakage[0].evidence["pearson"]) < 0.95


def test_classes_coinciding_with_missing_values_are_leakage() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    y = rng.integers(0, 2, size=n)
    X = pd.DataFrame(
        {
            "lab_result": np.where(y == 1, np.nan, rng.normal(size=n)),
            "age": rng.integers(20, 80, size=n),
        }
    )
    r = run_eda(X, pd.Series(y), "classification", FAST)
    assert r.leaking_columns() == ["lab_result"]
    assert "missing exactly when" in r.leakage[0].exact_relation


def test_non_monotone_function_is_leakage_for_regression() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=3000)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=3000)})
    y = pd.Series(x**2 + rng.normal(scale=0.01, size=3000))
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.2  # invisible to correlation
    r = run_eda(X, y, "regression", FAST)
    assert r.leaking_columns() == ["x"]
    assert "function of x" in r.leakage[0].exact_relation


def test_monotone_heavy_tailed_relation_is_leakage() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=3000)
    r = run_eda(pd.DataFrame({"x": x}), pd.Series(np.exp(3 * x)), "regression", FAST)
    assert r.leaking_columns() == ["x"] and "increasing" in r.leakage[0].exact_relation


def test_strong_but_imperfect_features_are_not_leakage() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=3000)
    X = pd.DataFrame({"x": x})
    r = run_eda(X, pd.Series(x + rng.normal(scale=0.45, size=3000)), "regression", FAST)
    assert r.leakage == []
    r = run_eda(
        X, pd.Series((x + rng.normal(scale=0.3, size=3000) > 0).astype(int)), "classification", FAST
    )
    assert r.leakage == []


def test_multiclass_lookup_table_is_leakage() -> None:
    rng = np.random.default_rng(6)
    labels = rng.choice(["setosa", "versicolor", "virginica"], size=2000)
    code = pd.Series(labels).map({"setosa": "S1", "versicolor": "V2", "virginica": "V3"})
    X = pd.DataFrame({"code": code, "x": rng.normal(size=2000)})
    r = run_eda(X, pd.Series(labels), "classification", FAST)
    assert r.leaking_columns() == ["code"]
    assert "determines the class" in r.leakage[0].exact_relation


# -- other checks ---------------------------------------------------------------------------------
def test_repeated_entity_id_suggests_group_split() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    X = pd.DataFrame(
        {
            "patient_id": rng.integers(0, 300, size=n),
            "age": rng.integers(18, 90, size=n),  # repeated integers, but a quantity
            "city": rng.choice(
                [f"city {chr(65 + i % 26)}{chr(97 + i // 26)}" for i in range(120)], size=n
            ),
            "x": rng.normal(size=n),
        }
    )
    r = run_eda(X, pd.Series(rng.normal(size=n)), "regression", FAST)
    [f] = finding(r, "repeated_entity")
    assert f.columns == ["patient_id"] and f.severity == "warn"
    assert f.overrides == ["dataset.split_by=patient_id"]
    assert "dataset.split_by=patient_id" in f.message
    assert flagged(r, "high_cardinality") == {"city"}
    assert "patient_id" in r.columns_to_drop()


def test_data_quality_checks() -> None:
    rng = np.random.default_rng(8)
    n = 2000
    X = pd.DataFrame(
        {
            "mixed": pd.Series([1, "a", 2.5, "b"] * (n // 4), dtype=object),
            "ratio": np.where(rng.random(n) < 0.01, np.inf, rng.normal(size=n)),
            "mostly_missing": np.where(rng.random(n) < 0.7, np.nan, 1.0 + rng.random(n)),
            "rare": np.where(rng.random(n) < 0.995, 0, 1),
            "x": rng.normal(size=n),
        }
    )
    X = pd.concat([X, X.iloc[:50]], ignore_index=True)  # 50 duplicate rows
    y = pd.Series(np.exp(rng.normal(size=len(X)) * 1.5))  # log-normal target
    r = run_eda(X, y, "regression", FAST, n_missing_target=40)
    sev = {f.check: f.severity for f in r.findings if f.severity != "info"}
    assert sev["infinite_values"] == "error" and flagged(r, "infinite_values") == {"ratio"}
    assert flagged(r, "mixed_types") == {"mixed"}
    assert flagged(r, "quasi_constant") == {"rare"}
    assert sev["missing_values"] == "warn" and "mostly_missing" in flagged(r, "missing_values")
    dup = finding(r, "duplicate_rows")[0]
    assert dup.evidence["n_duplicates"] == 50 and dup.evidence["rows_with_conflicting_target"]
    miss = finding(r, "missing_target")[0]
    assert miss.evidence["n_missing_target"] == 40
    skew = [f for f in finding(r, "target_distribution") if f.severity == "warn"][0]
    assert skew.evidence["suggestion"] == "log1p target"
    profile = {c.name: c for c in r.columns}
    assert profile["ratio"].n_infinite == int(np.isinf(X["ratio"]).sum())
    assert profile["mostly_missing"].missing_share == pytest.approx(
        X["mostly_missing"].isna().mean(), abs=1e-6
    )


def test_imbalanced_classification_warns_and_sample_is_stratified() -> None:
    rng = np.random.default_rng(9)
    n = 20_000
    y = pd.Series(np.where(rng.random(n) < 0.03, "fraud", "ok"))
    X = pd.DataFrame(
        {
            "x": rng.normal(size=n) + (y == "fraud") * 1.0,
            "when": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
        }
    )
    r = run_eda(
        X, y, "classification", EdaSettings(sample_rows=2_000, run_baselines=False, plots=False)
    )
    assert r.sampled and 1_900 <= r.n_rows_used <= 2_100
    assert finding(r, "sampling")[0].evidence["n_rows_used"] == r.n_rows_used
    warn = [f for f in finding(r, "target_distribution") if f.severity == "warn"]
    assert warn and "fraud" in warn[0].message
    assert r.target["minority_share"] == pytest.approx((y == "fraud").mean(), abs=1e-6)
    assert {f.column: f.verdict for f in r.relevance}["x"] == "useful"


def test_column_types_from_the_loader_are_used() -> None:
    rng = np.random.default_rng(10)
    n = 1000
    X = pd.DataFrame({"code": rng.integers(0, 10**9, size=n), "x": rng.normal(size=n)})
    r = run_eda(
        X,
        pd.Series(rng.integers(0, 2, n)),
        "classification",
        FAST,
        column_types={"code": "id", "x": "numeric"},
    )
    assert {c.name: c.kind for c in r.columns} == {"code": "id", "x": "numeric"}
    assert flagged(r, "id_like") == {"code"}
    with pytest.raises(ValueError, match="column_types"):
        run_eda(
            X,
            pd.Series(rng.integers(0, 2, n)),
            "classification",
            FAST,
            column_types={"code": "identifier"},
        )


def test_never_drops_every_column_and_does_not_mutate_input() -> None:
    rng = np.random.default_rng(11)
    X = pd.DataFrame({"const": 1.0, "n1": rng.normal(size=500), "n2": rng.normal(size=500)})
    before = X.copy()
    r = run_eda(X, pd.Series(rng.integers(0, 2, 500)), "classification", FAST)
    drop = r.columns_to_drop()
    assert "const" in drop and len(drop) == 2  # n1 or n2 survives
    pd.testing.assert_frame_equal(X, before)


# -- model advice ---------------------------------------------------------------------------------
def test_model_advice_follows_the_nonlinearity_gap() -> None:
    rng = np.random.default_rng(12)
    n = 3000
    a, b, c = rng.normal(size=(3, n))
    X = pd.DataFrame({"a": a, "b": b, "c": c})
    settings = EdaSettings(plots=False)
    xor = run_eda(X, pd.Series(((a * b) > 0).astype(int)), "classification", settings)
    gap = xor.model_advice.problem["nonlinearity_gap"]
    assert gap > 0.2
    assert xor.model_advice.ranking[0].family in ("hist_gradient_boosting", "xgboost")
    assert any("non-linear" in why for why in xor.model_advice.ranking[0].reasons)
    linear = run_eda(
        X, pd.Series(a + 0.5 * b + rng.normal(scale=0.5, size=n)), "regression", settings
    )
    top_two = {f.family for f in linear.model_advice.ranking[:2]}
    assert top_two == {"logistic_regression", "elastic_net"}  # both linear (ridge, elastic net)
    families = [f.family for f in linear.model_advice.ranking]
    assert len(families) == len(set(families))


def test_a_family_file_of_the_user_s_own_is_ranked_by_its_profile(tmp_path: Path) -> None:
    import shutil

    from mlengine.config import config_dir
    from mlengine.families import advice_families

    shutil.copytree(config_dir() / "model", tmp_path / "model")
    (tmp_path / "model" / "my_boosting.yaml").write_text(
        "name: my_boosting\n"
        "advice: {profile: boosting, prior: 3.5}\n"
        "classifier: {_target_: sklearn.ensemble.GradientBoostingClassifier}\n"
    )
    (tmp_path / "model" / "no_advice.yaml").write_text(
        "name: no_advice\nclassifier: {_target_: sklearn.tree.DecisionTreeClassifier}\n"
    )
    families = advice_families(tmp_path, "classification")
    assert "no_advice" not in {f.name for f in families}
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(2, 2000))
    X = pd.DataFrame({"a": a, "b": b})
    report = run_eda(
        X,
        pd.Series((a * b > 0).astype(int)),
        "classification",
        EdaSettings(plots=False),
        families=families,
    )
    top = report.model_advice.ranking[0]
    assert top.family == "my_boosting" and any("non-linear" in why for why in top.reasons)
    assert "my_boosting" in report.to_markdown()


# -- outputs --------------------------------------------------------------------------------------
def test_outputs_json_markdown_plots_and_summary(tmp_path: Path) -> None:
    X, y = planted("classification", n=1500)
    r = run_eda(X, y, "classification", EdaSettings(run_baselines=False))
    paths = r.write(tmp_path / "eda")
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "eda" / "eda.json").read_text())
    assert data["schema_version"] == 2
    assert data["leaking_columns"] == ["leak"]
    assert set(data["columns_to_drop"]) == set(r.columns_to_drop())
    assert {
        "findings",
        "columns",
        "relevance",
        "leakage",
        "redundant_pairs",
        "model_advice",
        "target",
        "sampled",
        "n_rows_used",
    } <= set(data)
    assert data == json.loads(json.dumps(r.to_dict()))  # to_dict is plain JSON
    md = (tmp_path / "eda" / "eda.md").read_text()
    assert "## Verdict" in md and "`leak`" in md and "relevance.png" in md
    assert len(md.splitlines()) < 120
    summary = r.console_summary()
    assert 3 <= len(summary.splitlines()) <= 8 and "leakage(leak)" in summary
    assert r.drop_reasons
    assert "opt in: features.select=eda" in summary and "eda drops" not in summary
    assert f"features.select=eda drops {len(r.drop_reasons)}" in r.console_summary(True)


def test_settings_from_config_ignores_runner_keys() -> None:
    s = EdaSettings.from_config(
        {"sample_rows": 1234, "fail_on": ["leakage"], "only": True, "enabled": True, "plots": False}
    )
    assert s.sample_rows == 1234 and s.plots is False and s.n_probes == 5
