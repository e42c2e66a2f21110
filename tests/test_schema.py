"""The table schema: decided once by the loader, read by everything after it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest

from mlengine.data import load_dataset
from mlengine.onnx_pyfunc import graph_path
from mlengine.serving.schema import SCHEMA_FILE, TableSchema
from tests.helpers import frame_cfg, messy_frame


def _grades(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """`grade`: 30 whole numbers, numeric unless the user says it is a category."""
    rng = np.random.default_rng(seed)
    grade = rng.integers(1, 31, n)
    x = rng.normal(size=n)
    label = np.where((grade % 3 == 0) ^ (x > 0.8), "yes", "no")
    return pd.DataFrame({"grade": grade, "x": x, "ok": label})


def test_the_loader_describes_every_column_once() -> None:
    frame = messy_frame(400)
    ds = load_dataset(frame_cfg(split_by="color"), frame)
    schema = ds.schema
    target = schema.column("churn")
    assert target.role == "target" and target.kind == "categorical"
    assert schema.kinds() == ds.column_types  # the one answer to "what is this column"
    assert schema.column("customer_id").role == "id"
    assert schema.column("color").role == "group" and "split_by" in schema.column("color").reason
    assert schema.column("country").role == "dropped" and schema.column("country").reason
    assert schema.column("amount").kind == "numeric"
    assert schema.column("amount").arrived_as in ("object", "str")  # "12,345": text
    assert schema.column("score").arrived_as == "float64"
    assert schema.column("last_seen").date_formats  # the text dates' formats
    assert "?" in schema.missing_markers
    assert set(schema.features()) <= {c for c, k in ds.column_types.items() if k != "id"}


def test_the_schema_round_trips_through_json(tmp_path: Path) -> None:
    ds = load_dataset(frame_cfg(), messy_frame(300))
    path = ds.schema.write(tmp_path)
    assert path.name == SCHEMA_FILE
    assert TableSchema.read(path) == ds.schema
    with_drops = ds.schema.dropping({"score": "features.drop"})
    assert with_drops.column("score").role == "dropped"
    assert "score" not in with_drops.features() and "score" in ds.schema.features()


@pytest.mark.slow
@pytest.mark.parametrize("forced", [False, True])
def test_a_forced_kind_reaches_eda_features_the_model_and_onnx(workdir: Path, forced: bool) -> None:
    """One column followed through all four: typed categorical by dataset.column_types,
    it is categorical in the EDA, in the preprocessing, in the saved schema and in the
    ONNX inputs; numeric everywhere without the override."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from mlengine import run_experiment

    frame = _grades()
    kind = "categorical" if forced else "numeric"
    overrides = ["model=logistic_regression", "search.n_trials=1", "eda.plots=false"]
    if forced:
        overrides.append("+dataset.column_types.grade=categorical")
    result = run_experiment(overrides, frame=frame, target="ok")

    eda = json.loads((result.output_dir / "eda" / "eda.json").read_text())
    assert {c["name"]: c["kind"] for c in eda["columns"]}["grade"] == kind
    preprocess = result.pipeline[0]
    (group,) = [name for name, _, cols in preprocess.transformers_ if "grade" in cols]
    assert group == kind
    saved = TableSchema.read(result.model_path / SCHEMA_FILE)
    assert saved.column("grade").kind == kind and saved.column("grade").role == "feature"
    logged = mlflow.models.get_model_info(result.model_uri).metadata["mlengine_schema"]
    assert {c["name"]: c["kind"] for c in logged["columns"]}["grade"] == kind
    run_schema = MlflowClient().download_artifacts(result.run_id, SCHEMA_FILE, str(workdir))
    assert TableSchema.read(Path(run_schema)) == saved
    (onnx_input,) = [
        i for i in onnx.load(graph_path(result.onnx_path)).graph.input if i.name == "grade"
    ]
    elem = onnx_input.type.tensor_type.elem_type
    assert (elem == onnx.TensorProto.STRING) == forced
