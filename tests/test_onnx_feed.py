"""The serving-time feed (`mlengine.serving.feed`): needs numpy and pandas only, reads the model
from an ONNX Runtime session as from the ONNX proto, agrees with the table schema (or says
which column does not), and its one private pandas call is pinned against the public path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import mlengine
from mlengine.config import FeaturesConfig, ModelConfig
from mlengine.features import build_preprocessor
from mlengine.onnx import OnnxFeed, convert_pipeline, make_session, onnx_feed, to_onnx
from mlengine.serving.feed import column_values
from mlengine.serving.schema import ColumnSchema, TableSchema
from tests.helpers import blocking_env

TYPES = {"age": "numeric", "member": "boolean", "city": "categorical", "joined": "datetime"}


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "member": rng.random(n) > 0.5,
            "city": pd.Series(rng.choice(["paris", "rome", "oslo"], n), dtype="str"),
            "joined": [
                f"{d:02d}/{m:02d}/2021"
                for d, m in zip(rng.integers(1, 29, n), rng.integers(1, 13, n), strict=True)
            ],
            "code": rng.integers(1, 5, n),  # not a feature: the pipeline drops it
        }
    )
    X.loc[::7, "age"] = np.nan
    return X


def _schema(**kinds: str) -> TableSchema:
    """The schema of `_frame`'s table, with `kinds` overriding some columns' kind."""
    stated = {**TYPES, "code": "categorical", "y": "categorical", **kinds}
    roles = {"code": "dropped", "y": "target"}
    columns = tuple(
        ColumnSchema(
            name,
            kind,
            "object",
            roles.get(name, "feature"),
            date_formats=("%d/%m/%Y",) if kind == "datetime" else (),
        )
        for name, kind in stated.items()
    )
    return TableSchema("classification", columns)


BLOCKED = {"skl2onnx", "onnx", "onnxmltools", "onnxscript", "sklearn", "xgboost", "torch"}


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    X = _frame(300)
    y = pd.Series(np.where((X["age"].fillna(40) > 40) ^ (X["city"] == "rome"), "yes", "no"))
    model_cfg = ModelConfig(
        name="lr",
        classifier={"_target_": "sklearn.linear_model.LogisticRegression"},
        scale=True,
        encoding="onehot",
    )
    preprocess = build_preprocessor(
        TYPES, model_cfg, FeaturesConfig(), date_formats={"joined": ["%d/%m/%Y"]}
    )
    pipeline = Pipeline([("preprocess", preprocess), ("model", LogisticRegression())]).fit(X, y)
    exported = convert_pipeline(pipeline, X.head(100), "classification", _schema())
    assert exported.model is not None, exported.reason
    return {"X": X, "pipeline": pipeline, "model": exported.model}


def test_the_feed_needs_neither_onnx_nor_the_training_stack(
    fitted: dict[str, Any], tmp_path: Path
) -> None:
    """A server with numpy, pandas and ONNX Runtime only: skl2onnx, onnx, onnxmltools,
    sklearn, xgboost and torch cannot be imported, and the feed still serves raw rows."""
    rows = fitted["X"].head(8).astype({"age": object, "member": object})
    rows.loc[0, "city"] = "  rome "  # cleaned as the pipeline cleans it
    rows.loc[1, "age"] = "41.5"  # numeric text
    rows.loc[2, "member"] = "yes"
    (tmp_path / "model.onnx").write_bytes(fitted["model"].SerializeToString())
    rows.to_pickle(tmp_path / "rows.pkl")
    np.save(tmp_path / "expected.npy", fitted["pipeline"].predict_proba(rows))
    np.save(tmp_path / "labels.npy", fitted["pipeline"].predict(rows).astype(str))
    code = textwrap.dedent(
        f"""
        import sys

        BLOCKED = {BLOCKED!r}
        import numpy as np
        import onnxruntime as ort
        import pandas as pd

        from mlengine.serving.feed import OnnxFeed

        folder = {str(tmp_path)!r}
        session = ort.InferenceSession(folder + "/model.onnx", providers=["CPUExecutionProvider"])
        feed = OnnxFeed.of(session, folder + "/schema.json")
        labels, probabilities = session.run(None, feed(pd.read_pickle(folder + "/rows.pkl")))
        np.testing.assert_allclose(probabilities, np.load(folder + "/expected.npy"), atol=1e-4)
        assert list(labels) == list(np.load(folder + "/labels.npy"))
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("served", len(labels), "rows")
        """
    )
    _schema().write(tmp_path)
    root = str(Path(mlengine.__file__).resolve().parents[1])
    env = blocking_env(tuple(BLOCKED))  # sitecustomize makes them unimportable
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], root])
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "served 8 rows" in result.stdout


def test_a_session_and_its_model_give_the_same_feed(fitted: dict[str, Any]) -> None:
    model, X = fitted["model"], fitted["X"]
    from_session = OnnxFeed.of(make_session(model))
    from_model = OnnxFeed.of(model)
    assert from_session.inputs == from_model.inputs
    assert from_model.columns == ["age", "member", "city", "joined", "code"]
    for name, values in from_model(X).items():
        np.testing.assert_array_equal(values, from_session(X)[name])


@pytest.mark.parametrize("cell", [{"value": 41}, [41.0, 42.0], (1, 2), {"rome"}])
@pytest.mark.parametrize("column", ["age", "member", "city", "joined"])
def test_a_container_in_a_cell_is_refused_naming_its_column(
    fitted: dict[str, Any], column: str, cell: object
) -> None:
    rows = fitted["X"].head(3).astype({column: object})
    rows.at[rows.index[1], column] = cell
    with pytest.raises(ValueError, match=f"column '{column}' holds a .* in row 1"):
        onnx_feed(fitted["model"], rows)


def test_the_request_shapes_mlflow_passes_become_rows_or_are_refused() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.utils.proto_json_utils import parse_tf_serving_input

    from mlengine.serving.request import as_frame, refused

    row = {"age": 41.0, "city": "rome"}
    for payload in (
        {"inputs": {"age": [41.0, 41.0], "city": ["rome", "rome"]}},
        {"instances": [row, row]},
    ):
        frame = as_frame(parse_tf_serving_input(payload))
        assert frame.to_dict("list") == {"age": [41.0, 41.0], "city": ["rome", "rome"]}
    assert as_frame(parse_tf_serving_input({"inputs": row})).to_dict("list") == {
        "age": [41.0],
        "city": ["rome"],
    }
    assert list(as_frame([row])["city"]) == ["rome"]
    nested = as_frame(parse_tf_serving_input({"instances": [{**row, "city": {"a": 1}}]}))
    assert nested["city"].iloc[0] == {"a": 1}  # a dict cell, which the feed then refuses
    refusals = {
        "[[41.0, 'rome']]": ([[41.0, "rome"]], "without column names"),
        "a 2-D column": ({"age": np.array([[41.0, 42.0]])}, "column 'age' holds a list"),
        "ragged columns": ({"age": [1.0, 2.0], "city": ["rome"]}, "as many values"),
        "an empty list": ([], "an empty list"),
        "a string": ("age,city", "a str"),
    }
    for what, (model_input, message) in refusals.items():
        with pytest.raises(ValueError, match=message) as raised:
            as_frame(model_input)
        error = refused(raised.value)
        assert isinstance(error, MlflowException) and "\n" not in error.message, what
        assert error.get_http_status_code() == 400
    assert refused(KeyError("column 'city' is missing")).message == "column 'city' is missing"


def test_the_schema_checks_every_input(fitted: dict[str, Any], tmp_path: Path) -> None:
    model, X = fitted["model"], fitted["X"]
    plain = onnx_feed(model, X)
    path = _schema().write(tmp_path)
    for schema in (_schema(), path, tmp_path):  # the schema, its file, the model folder
        checked = onnx_feed(model, X, schema)
        assert checked.keys() == plain.keys()
        for name in plain:
            np.testing.assert_array_equal(checked[name], plain[name])
    with pytest.raises(ValueError, match="reads column 'city' as category .* says it is numeric"):
        OnnxFeed.of(model, _schema(city="numeric"))
    with pytest.raises(ValueError, match="reads column 'joined' as datetime .* says it is text"):
        OnnxFeed.of(model, _schema(joined="text"))
    partial = TableSchema("classification", _schema().columns[1:])
    with pytest.raises(ValueError, match="column 'age', which the table schema does not"):
        OnnxFeed.of(model, partial)


def test_an_input_without_a_recipe_is_read_as_the_schema_says(fitted: dict[str, Any]) -> None:
    """A model whose metadata says nothing about its inputs: with the schema, numeric text
    parses as the loader parsed it and text dates with the loader's formats; without it,
    the feed can only take the values as typed."""
    bare = type(fitted["model"])()
    bare.CopyFrom(fitted["model"])
    del bare.metadata_props[:]
    rows = pd.DataFrame(
        {
            "age": ["1,234", "12"],
            "member": ["yes", "no"],
            "city": ["  rome ", "NA"],
            "joined": ["04/03/2021", "31/12/2020"],
            "code": [1, 2],
        }
    )
    guessed = onnx_feed(bare, rows)
    np.testing.assert_array_equal(guessed["age"].ravel(), [np.nan, 12.0])
    assert np.isnan(guessed["member"]).all()
    read = onnx_feed(bare, rows, _schema())
    np.testing.assert_array_equal(read["age"].ravel(), [1234.0, 12.0])
    np.testing.assert_array_equal(read["member"].ravel(), [1.0, 0.0])
    assert list(read["city"].ravel()) == ["rome", ""]
    expected = (pd.to_datetime(["2021-03-04", "2020-12-31"]) - pd.Timestamp(0)).total_seconds()
    np.testing.assert_array_equal(read["joined"].ravel(), expected)
    with_recipes = onnx_feed(fitted["model"], rows)  # the same readings, from the metadata
    for name in with_recipes:
        np.testing.assert_array_equal(read[name], with_recipes[name])


def test_the_schema_types_the_columns_the_pipeline_drops(fitted: dict[str, Any]) -> None:
    """`code` (integers, not a feature): a string input when the schema says categorical,
    a float input by its dtype without a schema."""
    pipeline, X = fitted["pipeline"], fitted["X"]
    assert dict(_elem_types(to_onnx(pipeline, X, "classification")))["code"] == "tensor(float)"
    typed = to_onnx(pipeline, X, "classification", _schema())
    assert dict(_elem_types(typed))["code"] == "tensor(string)"
    disagreeing = convert_pipeline(pipeline, X.head(50), "classification", _schema(age="text"))
    assert disagreeing.model is None
    assert disagreeing.reason.startswith("ONNX inputs disagree with the table schema:")
    assert "'age'" in disagreeing.reason


def _elem_types(model: Any) -> list[tuple[str, str]]:
    return [(i.name, i.type) for i in make_session(model).get_inputs()]


def _dtype_frame() -> pd.DataFrame:
    """One column per dtype a served frame may hold."""
    return pd.DataFrame(
        {
            "float": [1.5, np.nan, 3.0],
            "int": [1, 2, 3],
            "bool": [True, False, True],
            "str": pd.Series(["a", None, "c"], dtype="str"),
            "object": pd.Series(["a", 1, None], dtype=object),
            "category": pd.Categorical(["x", "y", None]),
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "boolean": pd.array([True, None, False], dtype="boolean"),
            "datetime": pd.to_datetime(["2021-01-01", None, "2021-03-01"]),
            "tz": pd.to_datetime(["2021-01-01", None, "2021-03-01"]).tz_localize("Europe/Paris"),
        }
    )


def test_column_values_match_the_public_accessor() -> None:
    """Pins `DataFrame._get_column_array` (see `column_values`): the column's own array, as
    `X.iloc[:, i].array` holds it, plain numpy columns unwrapped (the feed's fast path
    needs an ndarray; the public `.array` wraps it in a NumpyExtensionArray)."""
    X = pd.concat([_dtype_frame()] * 2, ignore_index=True)
    for position, name in enumerate(X.columns):
        values, public = column_values(X, position), X.iloc[:, position]
        if isinstance(public.array, pd.arrays.NumpyExtensionArray):
            assert isinstance(values, np.ndarray), name  # the private path was taken
            assert values.dtype == public.dtype, name
            np.testing.assert_array_equal(values, public.to_numpy(), err_msg=name)
        else:
            assert type(values) is type(public.array), name
            pd.testing.assert_extension_array_equal(values, public.array)
    sliced = X.iloc[1:4, ::-1]  # a view of another frame: positions are the view's
    for position in range(sliced.shape[1]):
        pd.testing.assert_series_equal(
            pd.Series(column_values(sliced, position)),
            sliced.iloc[:, position].reset_index(drop=True),
            check_names=False,
        )


def test_without_the_private_accessor_the_feed_is_the_same(
    fitted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, X = fitted["model"], fitted["X"]
    fast = onnx_feed(model, X)
    monkeypatch.delattr(pd.DataFrame, "_get_column_array")
    for position in range(X.shape[1]):  # the public path gives the same arrays
        pd.testing.assert_series_equal(
            pd.Series(column_values(X, position)), X.iloc[:, position], check_names=False
        )
    public = onnx_feed(model, X)
    for name in fast:
        np.testing.assert_array_equal(public[name], fast[name])
