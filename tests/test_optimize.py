"""`mlengine +task=optimize`: a foreign sklearn pipeline -> the lean ONNX MLflow model."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    SplineTransformer,
    StandardScaler,
)

from mlengine.config import ConfigError, MlengineError, OptimizeConfig
from mlengine.optimize import optimize
from mlengine.validation import check_optimize
from tests.helpers import run_cli

NUMERIC, CATEGORICAL = ["age", "income", "visits"], ["city", "plan"]


def table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Numeric and categorical columns with missing values, label yes/no."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n).round(1),
            "income": rng.lognormal(10, 1, n).round(2),
            "visits": rng.integers(0, 30, n).astype(float),
            "city": rng.choice(["Paris", "Lyon", "Nice", "Lille", "Brest"], n).astype(object),
            "plan": rng.choice(["free", "pro", "team"], n).astype(object),
        }
    )
    score = (frame.age - 40) / 10 + 1.5 * (frame.plan == "pro") - (frame.city == "Nice")
    frame["churn"] = np.where(score + rng.normal(0, 1, n) > 0, "yes", "no").astype(object)
    for column, share in (("age", 0.08), ("income", 0.05), ("city", 0.07), ("plan", 0.04)):
        frame.loc[rng.random(n) < share, column] = np.nan
    return frame


def heavy_pipeline(frame: pd.DataFrame) -> Pipeline:
    """300 trees behind imputers and a one-hot encoder: tens of MB, ~10 ms a row."""
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    prep = ColumnTransformer(
        [("num", SimpleImputer(strategy="median"), NUMERIC), ("cat", categorical, CATEGORICAL)]
    )
    forest = RandomForestClassifier(n_estimators=300, random_state=0, n_jobs=1)
    return Pipeline([("prep", prep), ("forest", forest)]).fit(
        frame.drop(columns="churn"), frame.churn
    )


def small_pipeline(frame: pd.DataFrame, step: object) -> Pipeline:
    prep = ColumnTransformer([("num", make_pipeline(SimpleImputer(), step), NUMERIC)])
    return make_pipeline(prep, LogisticRegression()).fit(frame.drop(columns="churn"), frame.churn)


class Doubler(TransformerMixin, BaseEstimator):
    """A class of the user's own: skops would have to import and build it."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) * 2


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample CSV and the heavy pipeline as .skops and .pkl."""
    from mlengine.export import import_skops

    folder = tmp_path_factory.mktemp("optimize")
    frame = table()
    pipeline = heavy_pipeline(frame)
    paths = {"csv": folder / "sample.csv", "skops": folder / "model.skops"}
    frame.to_csv(paths["csv"], index=False)
    import_skops().dump(pipeline, paths["skops"])
    paths["pkl"] = folder / "model.pkl"
    paths["pkl"].write_bytes(pickle.dumps(pipeline))
    return paths


def read_report(folder: Path) -> dict:
    return json.loads((folder / "optimize_report.json").read_text())


def assert_leaner(report: dict) -> None:
    before, after = report["before"], report["after"]
    assert report["converted"] and report["reason"] is None
    assert after["parity"]["label_agreement"] >= 0.99
    assert after["parity"]["rows"] == 3000
    assert after["size_bytes"] < before["size_bytes"]
    assert after["latency_1row_ms"] < before["latency_1row_ms"]
    assert after["serving_env_bytes"] < before["serving_env_bytes"]


@pytest.mark.slow
def test_heavy_skops_pipeline_through_the_cli(workdir: Path, files: dict[str, Path]) -> None:
    args = ["+task=optimize", f"optimize.model={files['skops']}", f"optimize.data={files['csv']}"]
    result = run_cli([*args, "optimize.target=churn"], workdir, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (workdir / "outputs" / "runs").iterdir()  # the default out: the run folder
    report = read_report(run_dir)
    assert_leaner(report)
    assert report["format"] == "skops" and report["task"] == "classification"
    assert report["before"]["size_bytes"] == files["skops"].stat().st_size
    assert "mlflow==" in " ".join(report["before"]["requirements"])
    assert "scikit-learn" not in " ".join(report["after"]["requirements"])
    onnx_dir = run_dir / "model_onnx"
    assert (onnx_dir / "MLmodel").is_file() and (onnx_dir / "schema.json").is_file()
    serve = f"mlflow models serve -m {onnx_dir} --env-manager local"
    assert serve in result.stdout and report["serve"] == serve
    markdown = (run_dir / "optimize_report.md").read_text()
    assert "| 1 row        |" in markdown and "Parity on 3000 sample rows" in markdown


def test_pickle_is_refused_without_the_opt_in(workdir: Path) -> None:
    table(50).to_csv(workdir / "sample.csv", index=False)
    marker = workdir / "pickle-ran"

    class RunsCode:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    bad = workdir / "model.pkl"
    bad.write_bytes(pickle.dumps(RunsCode()))
    args = ["+task=optimize", f"optimize.model={bad}", "optimize.data=sample.csv"]
    result = run_cli(args, workdir, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "optimize.allow_pickle=true" in lines[0], result.stderr
    assert "runs the file's code" in lines[0]
    assert not marker.exists() and not (workdir / "outputs").exists()


@pytest.mark.slow
def test_pickle_is_loaded_with_the_opt_in(workdir: Path, files: dict[str, Path]) -> None:
    conf = OptimizeConfig(
        model=str(files["pkl"]), data=str(files["csv"]), target="churn", allow_pickle=True
    )
    report = optimize(conf, workdir / "out")
    assert report == read_report(workdir / "out")
    assert report["format"] == "pickle"
    assert_leaner(report)


@pytest.mark.slow
def test_unconvertible_step_names_it_and_writes_no_model(workdir: Path) -> None:
    from mlengine.export import import_skops

    frame = table(600)
    frame.to_csv(workdir / "sample.csv", index=False)
    import_skops().dump(small_pipeline(frame, SplineTransformer()), workdir / "spline.skops")
    args = ["+task=optimize", "optimize.model=spline.skops", "optimize.data=sample.csv"]
    result = run_cli([*args, "optimize.out=out"], workdir, timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "SplineTransformer on columns 'age', 'income', 'visits' has no ONNX converter" in last
    report = read_report(workdir / "out")
    assert not report["converted"] and "SplineTransformer" in report["reason"]
    assert report["after"] is None and report["before"]["latency_1row_ms"] > 0
    assert "SplineTransformer" in (workdir / "out" / "optimize_report.md").read_text()
    assert not (workdir / "out" / "model_onnx").exists()


def test_python_function_step_is_named(workdir: Path) -> None:
    from mlengine.export import import_skops

    frame = table(300)
    frame.to_csv(workdir / "sample.csv", index=False)
    pipeline = small_pipeline(frame, FunctionTransformer(np.log1p))
    import_skops().dump(pipeline, workdir / "log.skops")
    conf = OptimizeConfig(model="log.skops", data="sample.csv", target="churn")
    with pytest.raises(MlengineError, match=r"FunctionTransformer on columns .*func=log1p"):
        optimize(conf, workdir / "out")
    assert read_report(workdir / "out")["reason"].startswith("FunctionTransformer")


def test_skops_types_outside_sklearn_are_refused(workdir: Path) -> None:
    from mlengine.export import import_skops

    frame = table(300)
    frame.to_csv(workdir / "sample.csv", index=False)
    import_skops().dump(small_pipeline(frame, Doubler()), workdir / "own.skops")
    conf = OptimizeConfig(model="own.skops", data="sample.csv")
    with pytest.raises(MlengineError, match=r"tests\.test_optimize\.Doubler"):
        optimize(conf, workdir / "out")
    assert not (workdir / "out" / "optimize_report.json").exists()


def test_one_hot_on_unimputed_categories_converts() -> None:
    """An encoder fitted on raw columns learns a NaN category; the feed sends it as ""."""
    from mlengine.onnx import PROBA_ATOL, convert_pipeline

    frame = table(600)
    X = frame.drop(columns="churn")
    encode = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    pipeline = make_pipeline(encode, LogisticRegression()).fit(X, frame.churn)
    assert any(pd.isna(c).any() for c in pipeline[0].named_transformers_["cat"].categories_)
    sample = X.copy()
    sample.loc[:9, "city"] = "Tokyo"  # unseen: no column, as sklearn ignores it
    result = convert_pipeline(pipeline, sample, "classification")
    assert result.reason is None and result.label_agreement == 1.0
    assert result.max_abs_diff < PROBA_ATOL


@pytest.mark.slow
def test_a_served_form_that_disagrees_is_removed(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlengine.onnx_pyfunc as pyfunc
    from mlengine.export import import_skops

    frame = table(300)
    frame.to_csv(workdir / "sample.csv", index=False)
    import_skops().dump(small_pipeline(frame, FunctionTransformer()), workdir / "m.skops")
    served = pyfunc.served_outputs
    monkeypatch.setattr(
        pyfunc, "served_outputs", lambda *args: [out[::-1] for out in served(*args)]
    )
    conf = OptimizeConfig(model="m.skops", data="sample.csv", target="churn")
    with pytest.raises(MlengineError, match="parity on 300 sample rows failed"):
        optimize(conf, workdir / "out")
    assert read_report(workdir / "out")["reason"].startswith("parity on 300 sample rows")
    assert not (workdir / "out" / "model_onnx").exists()


@pytest.mark.slow
def test_mlflow_model_folder(workdir: Path, files: dict[str, Path]) -> None:
    import mlflow.sklearn

    from mlengine.export import import_skops, pip_requirements

    skops_io = import_skops()
    pipeline = skops_io.load(
        files["skops"], trusted=skops_io.get_untrusted_types(file=files["skops"])
    )
    mlflow.sklearn.save_model(
        pipeline,
        str(workdir / "native"),
        serialization_format="skops",
        skops_trusted_types=skops_io.get_untrusted_types(data=skops_io.dumps(pipeline)),
        pip_requirements=pip_requirements(set()),
    )
    conf = OptimizeConfig(model="native", data=str(files["csv"]), target="churn", out="out")
    report = optimize(conf, workdir / "unused")
    assert report["format"] == "mlflow"
    assert_leaner(report)
    assert any(r.startswith("mlflow==") for r in report["before"]["requirements"])
    assert (workdir / "out" / "model_onnx" / "MLmodel").is_file()
    with pytest.raises(MlengineError, match="already exists"):  # never overwrites a model
        optimize(conf, workdir / "unused")


def test_mlflow_folder_with_a_pickled_model_needs_the_opt_in(workdir: Path) -> None:
    (workdir / "sample.csv").write_text("a,b\n1,2\n")
    folder = workdir / "pickled"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        "flavors:\n  sklearn:\n    pickled_model: model.pkl\n"
        "    serialization_format: cloudpickle\n"
    )
    with pytest.raises(ConfigError, match="optimize.allow_pickle=true"):
        check_optimize(OptimizeConfig(model=str(folder), data="sample.csv"))
    (folder / "MLmodel").write_text("flavors:\n  python_function: {}\n")
    with pytest.raises(ConfigError, match="not sklearn"):
        check_optimize(OptimizeConfig(model=str(folder), data="sample.csv"))


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        ("", "sample.csv", "'optimize.model': names the pipeline"),
        ("nowhere.skops", "sample.csv", "'optimize.model': 'nowhere.skops' does not exist"),
        ("model.skops", "nowhere.csv", "'optimize.data': 'nowhere.csv' is not a file"),
        ("sample.csv", "sample.csv", "'sample.csv' is not a format optimize reads"),
        (".", "sample.csv", "is a folder without an MLmodel file"),
    ],
)
def test_bad_inputs_are_one_line_errors(
    workdir: Path, model: str, data: str, expected: str
) -> None:
    (workdir / "sample.csv").write_text("a,b\n1,2\n")
    (workdir / "model.skops").write_bytes(b"")
    with pytest.raises(ConfigError) as raised:
        check_optimize(OptimizeConfig(model=model, data=data))
    assert expected in str(raised.value) and "\n" not in str(raised.value)
