"""Loading and typing of messy tables, target handling, splits and user-error messages."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlengine.config import ConfigError, DatasetConfig
from mlengine.data import (
    DataError,
    check_enough_rows,
    cv_folds,
    holdout_split,
    infer_column_types,
    infer_task,
    load_dataset,
    read_table,
    type_columns,
)
from mlengine.serving import coerce
from tests.helpers import (
    EXPECTED_DROPS,
    EXPECTED_KINDS,
    N_MISSING_TARGET,
    assert_nothing_left,
    frame_cfg,
    messy_frame,
    run_cli,
)


def _file_cfg(path: Path, **kwargs) -> DatasetConfig:
    return frame_cfg(source="file", path=str(path), **kwargs)


# ---------------------------------------------------------------------------------------------
# Typing
# ---------------------------------------------------------------------------------------------
def test_messy_frame_is_typed_cleaned_and_its_unusable_columns_reported() -> None:
    frame = messy_frame()
    ds = load_dataset(frame_cfg(), frame)
    assert ds.column_types == EXPECTED_KINDS
    assert ds.drop_columns == EXPECTED_DROPS
    assert ds.n_missing_target == N_MISSING_TARGET
    assert len(ds.X) == len(ds.y) == len(frame) - N_MISSING_TARGET
    assert ds.task == "classification" and set(ds.y) == {"leave", "stay"}
    X = ds.X
    kept = frame[~frame["churn"].isin([None, "?"]) & frame["churn"].notna()].reset_index()
    # numeric text: thousands separators and percentages read, markers missing
    assert X["amount"].dtype == np.float64 and X["discount"].dtype == np.float64
    row = kept.index[kept["amount"].str.contains(",", na=False)][0]
    assert X["amount"][row] == float(kept["amount"][row].replace(",", ""))
    assert X["amount"].isna().sum() == kept["amount"].isin(["?", "NA"]).sum()
    assert (
        X["discount"].max() < 1.0
        and X["discount"].isna().sum() == (kept["discount"] == "n/a").sum()
    )
    assert np.isinf(X["score"]).sum() == np.isinf(kept["score"].astype(float)).sum()
    assert X["mixed"].isna().sum() == (kept["mixed"] == "?").sum()
    # text trimmed, markers missing; booleans 1/0 with blanks missing
    assert set(X["color"].dropna()) == {"red", "green", "blue"}
    assert X["color"].isna().sum() == (kept["color"] == "NA").sum()
    assert set(X["is_member"].dropna()) == {0.0, 1.0}
    assert X["is_member"].isna().sum() == (kept["is_member"] == "").sum()
    # dates in two formats, and mixed within one column
    assert ds.date_formats["last_seen"] == ["%d/%m/%Y %H:%M"]
    assert sorted(ds.date_formats["mixed_dates"]) == sorted(["ISO8601", "%d/%m/%Y"])
    assert (X["mixed_dates"] == X["signup"]).all()
    assert (X["last_seen"].dt.normalize() == X["signup"]).all()
    assert X["last_seen"].dt.hour.nunique() > 1
    assert frame["amount"].iloc[0] == "?", "the caller's frame is not modified"


def test_csv_of_the_messy_table_types_the_same(tmp_path: Path) -> None:
    frame = messy_frame()
    path = tmp_path / "messy.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(_file_cfg(path))
    assert ds.column_types == EXPECTED_KINDS
    assert ds.drop_columns == EXPECTED_DROPS
    assert ds.n_missing_target == N_MISSING_TARGET
    from_frame = load_dataset(frame_cfg(), frame)
    for column in ("amount", "discount", "is_member", "rating", "signup", "mixed_dates"):
        pd.testing.assert_series_equal(ds.X[column], from_frame.X[column], check_dtype=False)


def test_parquet_and_gzip_csv_load(tmp_path: Path) -> None:
    frame = messy_frame(300)
    frame.astype({"mixed": "str"}).to_parquet(tmp_path / "m.parquet")  # one type per column
    with gzip.open(tmp_path / "m.csv.gz", "wt") as handle:
        frame.to_csv(handle, index=False)
    for name in ("m.parquet", "m.csv.gz"):
        ds = load_dataset(_file_cfg(tmp_path / name))
        assert ds.column_types["amount"] == "numeric", name
        assert ds.column_types["mixed_dates"] == "datetime", name


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    frame = pd.DataFrame(
        {"price": ["1,5", "2,5", "3,0"] * 20, "city": ["a b", "c", "d"] * 20, "y": [0, 1, 1] * 20}
    )
    path = tmp_path / "semi.csv"
    frame.to_csv(path, sep=delimiter, index=False)
    table = read_table(path)
    assert list(table.columns) == ["price", "city", "y"]
    assert table["city"].iloc[0] == "a b"


def test_encoding_is_detected(tmp_path: Path) -> None:
    text = "name;city;y\n" + "".join(f"n{i};Zürich café;{i % 2}\n" for i in range(50))
    for encoding in ("cp1252", "utf-8-sig", "utf-16"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        table = read_table(path)
        assert list(table.columns) == ["name", "city", "y"], encoding
        assert table["city"].iloc[0] == "Zürich café", encoding


def test_configured_delimiter_encoding_and_missing_markers(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    rows = "".join(f"{i}:{'unknown' if i % 5 == 0 else i * 1.5}:{i % 2}\n" for i in range(60))
    path.write_bytes(("a:b:y\n" + rows).encode("latin-1"))
    ds = load_dataset(
        _file_cfg(path, target="y", delimiter=":", encoding="latin-1", na_values=["unknown"])
    )
    assert ds.column_types["b"] == "numeric" and ds.X["b"].isna().sum() == 12


def test_a_late_oddity_beyond_the_first_block_is_still_read(tmp_path: Path) -> None:
    # Arrow infers types from the first 4 MB; "?" and "n.a." far below must not break it.
    n = 400_000
    values = np.arange(n).astype(str).astype(object)
    values[-1], values[-2] = "?", "n.a."
    pd.DataFrame({"x": values, "z": np.arange(n) % 7, "y": np.arange(n) % 2}).to_csv(
        tmp_path / "late.csv", index=False
    )
    ds = load_dataset(_file_cfg(tmp_path / "late.csv", target="y"))
    assert ds.column_types["x"] != "categorical"
    assert ds.X["x"].isna().sum() == 2 and ds.X["x"].iloc[0] == 0


def test_quoted_newlines_duplicate_and_blank_headers(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    body = "".join(f'{i},"line one\nline two {i}",{i},{i % 2}\n' for i in range(30))
    path.write_text("a,,a,y\n" + body)
    table = read_table(path)
    assert list(table.columns) == ["a", "Unnamed: 1", "a.1", "y"]
    assert table.iloc[0, 1] == "line one\nline two 0"
    plain = tmp_path / "plain.csv"
    plain.write_text("a,,a,y\n" + "".join(f"{i},{i},{i},{i % 2}\n" for i in range(30)))
    assert list(read_table(plain).columns) == ["a", "Unnamed: 1", "a.1", "y"]


def test_id_like_and_code_columns() -> None:
    n = 200
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "counter": np.arange(n),
            "shuffled_counter": rng.permutation(n) + 7,
            "user_id": rng.choice(10**9, n, replace=False),
            "uuid": [f"{rng.integers(2**31):08x}-1234-4abc-8def-{i:012x}" for i in range(n)],
            "price": rng.normal(100, 10, n).round(6),
            "codes": rng.integers(1, 9, n),
            "zero_one": rng.integers(0, 2, n),
            "counts": rng.integers(0, 60, n),
            "city": rng.choice([f"city{i}" for i in range(30)], n),
        }
    )
    assert infer_column_types(X) == {
        "counter": "id",
        "shuffled_counter": "id",
        "user_id": "id",
        "uuid": "id",
        "price": "numeric",
        "codes": "categorical",
        "zero_one": "boolean",
        "counts": "numeric",
        "city": "categorical",
    }


def test_column_types_override_converts_the_values() -> None:
    X = pd.DataFrame(
        {
            "zip": ["01234", "99999", "01234"] * 10,
            "code": [1, 2, 3] * 10,
            "day": ["20210304", "20210305", None] * 10,
        }
    )
    typed, kinds = type_columns(X, {"zip": "categorical", "code": "numeric", "day": "datetime"})
    assert kinds == {"zip": "categorical", "code": "numeric", "day": "datetime"}
    assert typed["zip"].iloc[0] == "01234" and typed["code"].dtype == np.float64
    assert typed["day"].iloc[0] == pd.Timestamp("2021-03-04") and typed["day"].isna().sum() == 10


def test_unknown_column_in_overrides_names_it() -> None:
    with pytest.raises(DataError, match="'colr'|colr"):
        load_dataset(frame_cfg(column_types={"colr": "categorical"}), messy_frame(100))


# ---------------------------------------------------------------------------------------------
# Target and task
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "c"] * 10, "classification"),
        ([True, False] * 15, "classification"),
        ([0, 1, 2] * 10, "classification"),
        ([0.0, 1.0] * 15, "classification"),
        (list(np.linspace(0, 1, 30)), "regression"),
        (list(range(30)), "regression"),
        ([f"{v:,}" for v in range(1000, 31000, 1000)], "regression"),
        (["1", "2"] * 15, "classification"),
    ],
)
def test_task_inference(values: list, task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_labels_stay_the_users_own() -> None:
    base = {"x": np.arange(40) % 7}
    strings = load_dataset(frame_cfg(target="y"), pd.DataFrame({**base, "y": ["no", "yes"] * 20}))
    assert strings.y.iloc[0] == "no" and isinstance(strings.y.iloc[0], str)
    floats = pd.DataFrame({**base, "y": [0.0, 1.0, np.nan, 1.0] * 10})
    ints = load_dataset(frame_cfg(target="y"), floats)
    assert ints.y.dtype == np.int64 and ints.n_missing_target == 10  # floats only for the NaN
    forced = load_dataset(frame_cfg(target="y", task="regression"), floats)
    assert forced.task == "regression" and forced.y.dtype == np.float64


def test_regression_target_as_numeric_text() -> None:
    frame = pd.DataFrame(
        {"x": np.arange(60) % 9, "price": [f"${v:,}.50" for v in range(10_000, 70_000, 1000)]}
    )
    ds = load_dataset(frame_cfg(target="price"), frame)
    assert ds.task == "regression" and ds.y.iloc[0] == 10_000.5


# ---------------------------------------------------------------------------------------------
# User errors: one message naming the file or column
# ---------------------------------------------------------------------------------------------
def test_missing_and_empty_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"not found: .*nope\.csv"):
        load_dataset(_file_cfg(tmp_path / "nope.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty: .*empty\.csv"):
        load_dataset(_file_cfg(tmp_path / "empty.csv"))
    (tmp_path / "blank.csv").write_text("\n\n  \n")
    with pytest.raises(DataError, match=r"blank\.csv"):
        load_dataset(_file_cfg(tmp_path / "blank.csv"))
    (tmp_path / "header.csv").write_text("a,b,churn\n")
    with pytest.raises(DataError, match=r"header\.csv has no data rows"):
        load_dataset(_file_cfg(tmp_path / "header.csv"))
    (tmp_path / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    with pytest.raises(DataError, match=r"image\.csv is not a CSV or Parquet file"):
        load_dataset(_file_cfg(tmp_path / "image.csv"))


def test_absent_target_lists_the_closest_columns_first() -> None:
    with pytest.raises(DataError) as error:
        load_dataset(frame_cfg(target="chrn"), messy_frame(100))
    message = str(error.value)
    assert "'chrn'" in message and message.index("churn") < message.index("amount")
    assert "\n" not in message


def test_all_missing_and_single_class_targets(tmp_path: Path) -> None:
    frame = messy_frame(100)
    frame["churn"] = ["?", None, "NA", ""] * 25
    with pytest.raises(DataError, match=r"'churn' in the DataFrame has no values"):
        load_dataset(frame_cfg(), frame)
    frame["churn"] = "stay"
    frame.to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(DataError, match=r"'churn' in .*one\.csv has a single class \('stay'\)"):
        load_dataset(_file_cfg(tmp_path / "one.csv"))


def test_fewer_rows_than_folds() -> None:
    ds = load_dataset(frame_cfg(), messy_frame(30).iloc[:14])
    X_train, _, y_train, _ = holdout_split(ds, 0.2, 0)
    with pytest.raises(DataError, match=r"Only \d+ training rows for search.cv_folds=10"):
        check_enough_rows(y_train, ds.task, 10)
    with pytest.raises(DataError, match="has only 2 rows"):
        holdout_split(load_dataset(frame_cfg(), messy_frame(60).iloc[:2]), 0.5, 0)


def test_config_refuses_bad_dataset_settings() -> None:
    with pytest.raises(ConfigError, match="dataset.delimiter"):
        frame_cfg(delimiter=";;")
    with pytest.raises(ConfigError, match="dataset.encoding"):
        frame_cfg(encoding="klingon-8")
    with pytest.raises(ConfigError, match="dataset.split_by"):
        frame_cfg(split_by="churn")


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------
def test_holdout_is_stratified_and_fixed_by_seed() -> None:
    ds = load_dataset(frame_cfg(), messy_frame())
    first, again = holdout_split(ds, 0.25, 3), holdout_split(ds, 0.25, 3)
    assert list(first[1].index) == list(again[1].index)
    share = (ds.y == "leave").mean()
    assert abs((first[3] == "leave").mean() - share) < 0.02


def test_time_split_tests_on_the_most_recent_rows() -> None:
    frame = messy_frame()
    ds = load_dataset(frame_cfg(time_column="signup"), frame)
    X_train, X_test, y_train, _ = holdout_split(ds, 0.2, 0)
    assert X_train["signup"].max() < X_test["signup"].min()
    assert X_train["signup"].is_monotonic_increasing
    assert len(X_test) >= 0.2 * len(ds.X)
    folds = cv_folds(ds, X_train, y_train, 4, 0)
    times = X_train["signup"].to_numpy()
    assert len(folds) == 4
    for train, valid in folds:
        assert times[train].max() <= times[valid].min()
    assert ds.column_types["signup"] == "datetime" and "signup" not in ds.drop_columns


def test_time_column_with_missing_times_drops_those_rows() -> None:
    frame = messy_frame(200)
    frame.loc[[60, 61], "signup"] = "?"
    ds = load_dataset(frame_cfg(time_column="signup"), frame)
    assert ds.n_missing_time == 2 and len(ds.X) == len(ds.y) == len(ds.time)


def test_grouped_split_keeps_each_group_on_one_side() -> None:
    frame = messy_frame()
    frame["store"] = np.arange(len(frame)) % 37
    ds = load_dataset(frame_cfg(split_by="store"), frame)
    assert ds.drop_columns["store"] == "dataset.split_by group column"
    X_train, X_test, y_train, _ = holdout_split(ds, 0.2, 0)
    assert not set(X_train["store"]) & set(X_test["store"])
    folds = cv_folds(ds, X_train, y_train, 5, 0)
    stores = X_train["store"].to_numpy()
    for train, valid in folds:
        assert not set(stores[train]) & set(stores[valid])


def test_grouped_split_needs_enough_groups() -> None:
    frame = messy_frame(300)
    frame["store"] = np.arange(len(frame)) % 4
    ds = load_dataset(frame_cfg(split_by="store"), frame)
    X_train, _, y_train, _ = holdout_split(ds, 0.25, 0)
    with pytest.raises(
        DataError,
        match=r"dataset.split_by: .* groups of 'store', fewer than "
        r"search.cv_folds=5",
    ):
        cv_folds(ds, X_train, y_train, 5, 0)


def test_split_and_time_columns_must_exist() -> None:
    with pytest.raises(DataError, match=r"dataset.split_by: column 'shop' .*closest"):
        load_dataset(frame_cfg(split_by="shop"), messy_frame(50))
    with pytest.raises(DataError, match=r"dataset.time_column: column 'when'"):
        load_dataset(frame_cfg(time_column="when"), messy_frame(50))


# ---------------------------------------------------------------------------------------------
# Value parsing
# ---------------------------------------------------------------------------------------------
def test_number_parsing_policy() -> None:
    raw = ["1,234", " 12% ", "?", "NA", "", "$5", "-3.5e2", "1,5", "-$1,200.50", "n/a", "inf"]
    values, failed = coerce.parse_numbers(coerce.clean_strings(coerce.arrow_strings(raw)))
    expected = [1234, 0.12, np.nan, np.nan, np.nan, 5, -350, np.nan, -1200.5, np.nan, np.inf]
    np.testing.assert_array_equal(values, expected)
    assert failed == 1  # "1,5": a decimal comma is not guessed
    assert np.isnan(coerce.to_float(pd.Series(["inf", "-inf", 3]))[:2]).all()


# ---------------------------------------------------------------------------------------------
# The real CLI on messy files
# ---------------------------------------------------------------------------------------------
BUDGET = ["eda=off", "search.n_trials=2", "search.cv_folds=3"]


def _cli_result(workdir: Path, args: list[str]) -> dict:
    result = run_cli(["dataset=csv", *BUDGET, *args], workdir, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Holdout: " in result.stdout
    (saved,) = (workdir / "outputs" / "runs").glob("*/result.json")
    return json.loads(saved.read_text())


@pytest.mark.slow
def test_cli_on_a_messy_csv_with_a_10000_category_text_column(workdir: Path) -> None:
    frame = messy_frame(12_000, n_texts=10_000)
    assert frame["review"].nunique() == 10_000
    frame.to_csv(workdir / "messy.csv", index=False)
    saved = _cli_result(
        workdir, ["dataset.path=messy.csv", "dataset.target=churn", "model=logistic_regression"]
    )
    assert set(saved["dropped_columns"]) == set(EXPECTED_DROPS)
    assert saved["holdout"]["accuracy"] > 0.75


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "args"),
    [
        ("csv", ["model=random_forest", "dataset.time_column=signup"]),
        ("parquet", ["model=xgboost", "dataset.split_by=store"]),
        ("csv", ["model=logistic_regression", "dataset.target=amount", "features.drop=[discount]"]),
    ],
    ids=["time-split", "grouped-parquet", "regression-on-numeric-text"],
)
def test_cli_on_messy_tables(workdir: Path, fmt: str, args: list[str]) -> None:
    frame = messy_frame(1500)
    frame["store"] = np.arange(len(frame)) % 50
    path = workdir / f"messy.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.astype({"mixed": "str"}).to_parquet(path)
    target = "dataset.target=churn" if not any("target" in a for a in args) else None
    saved = _cli_result(
        workdir, [f"dataset.path={path.name}", *([target] if target else []), *args]
    )
    assert set(EXPECTED_DROPS) <= set(saved["dropped_columns"])
    if "dataset.split_by=store" in args:
        assert "store" in saved["dropped_columns"]
    if "dataset.target=amount" in args:
        assert "r2" in saved["holdout"] and "churn" not in saved["dropped_columns"]


def _write_case(workdir: Path, case: str) -> tuple[list[str], str]:
    frame = messy_frame(200)
    path = workdir / "data.csv"
    if case == "empty":
        path.write_text("")
        return ["dataset.path=data.csv", "dataset.target=churn"], "data.csv"
    if case == "corrupt_gzip":  # item 4: an unreadable file
        path = workdir / "data.csv.gz"
        path.write_bytes(b"this is not gzip data" * 10)
        return ["dataset.path=data.csv.gz", "dataset.target=churn"], "data.csv.gz"
    if case == "all_missing_target":
        frame["churn"] = ""
    elif case == "single_class":
        frame["churn"] = "stay"
    elif case == "few_rows":
        frame = frame.iloc[:12]
    frame.to_csv(path, index=False)
    target = "chrun" if case == "absent_target" else "churn"
    expected = {
        "absent_target": "'chrun'",
        "all_missing_target": "'churn'",
        "single_class": "'churn'",
        "few_rows": "search.cv_folds=5",
    }[case]
    return ["dataset.path=data.csv", f"dataset.target={target}"], expected


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    ["empty", "corrupt_gzip", "absent_target", "all_missing_target", "single_class", "few_rows"],
)
def test_cli_user_errors_are_one_clear_line(workdir: Path, case: str) -> None:
    """Items 4-7, the four promises: the line names the problem, a non-zero exit, no
    traceback, no exported model and no MLflow run left RUNNING."""
    args, expected = _write_case(workdir, case)
    result = run_cli(
        ["dataset=csv", "eda=off", "search.cv_folds=5", *args],
        workdir,
        timeout=300,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if expected in line]
    assert lines, result.stderr[-2000:]
    if case == "absent_target":
        assert "churn" in lines[0] and lines[0].index("churn") < lines[0].index("amount")
    assert_nothing_left(workdir)


@pytest.mark.slow
def test_load_benchmark_runs_and_stays_within_memory(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_load.py"
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "--rows",
            "100000",
            "--cases",
            "mlengine",
            "--path",
            str(tmp_path / "bench.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    row = next(line for line in out.splitlines() if line.startswith("mlengine"))
    seconds, frame_mb, peak_mb, ratio, extra = map(float, row.split()[-5:])
    assert frame_mb > 30 and extra < 3.0, out
