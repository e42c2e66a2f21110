"""Loading: a file, a built-in dataset or a DataFrame in; typed features X, target y, task out.

Reading. CSV (delimiter and encoding detected unless `dataset.delimiter` / `dataset.encoding`
say; gzip/bz2/zstd by extension) goes through Arrow's streaming CSV reader, with pandas'
C parser as the fallback for files Arrow refuses; Parquet through pandas/Arrow.
`dataset.read_options` (pandas `read_csv` / `read_parquet` arguments) switch to pandas.

Typing policy: each column gets one kind (numeric, boolean, categorical, datetime, text, id),
decided on its values; `dataset.column_types.COLUMN=KIND` overrides it.
- Text cells are trimmed; "", "?", "NA", "n/a", "null" and the other markers in
  `mlengine.serving.coerce.MISSING_MARKERS` are missing values. The words in
  `coerce.WORD_MARKERS` ("none", "-", "missing", ...) are missing in a column whose other
  values read as numbers, dates or yes/no, and levels in a text column; the schema records
  per column which were read as missing and how many cells. `dataset.na_values` (a list,
  even []) replaces that guess: exactly its markers are missing, in every column.
- numeric: numbers, and text where at least 95% of the present values read as numbers
  ("1,234", "12%", "$5", "1e3"); the rest become missing. Stored as float64 (so a missing
  value fits anywhere, in training and in serving); inf becomes missing in the pipeline.
- boolean: bool columns, 0/1 numbers, and true/false, yes/no, y/n, t/f text (stored 1/0).
- categorical: other text, and whole numbers with at most 10 distinct values (codes).
- datetime: datetimes, and text where 95% parses as ISO 8601 or the day/month/year
  spellings in `mlengine.serving.coerce.DATE_FORMATS` (a column may mix formats).
- text: free text: 3+ words per value on average and many distinct values.
- id: unique per row and either whole numbers counting up (or with an id-like name), or
  short strings without spaces (hash-like). Never a feature.
Columns with a single value (or none) are reported as constant and not used as features.

Target: rows with a missing target are dropped (counted); the task is inferred (labels of
any type vs continuous numbers) unless `dataset.task` forces it; labels stay the user's own
(strings stay strings), so predictions come back in them.

Splits: a held-out test split fixed by the seed, stratified for classification, grouped
(`dataset.split_by`) or time-ordered (`dataset.time_column`: the test split holds the most
recent rows); `cv_folds` follows the same policy inside the training rows.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import difflib
import functools
import gzip
import hashlib
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlengine.config import DatasetConfig, MlengineError, first_line, no_frame_error
from mlengine.id_names import says_identifier
from mlengine.serving import coerce
from mlengine.serving.schema import TableSchema, build_schema

log = logging.getLogger("mlengine")

BUILTIN_DATASETS = {
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "digits": "load_digits",
    "iris": "load_iris",
    "diabetes": "load_diabetes",
}
MAX_INFERRED_CLASSES = 20  # whole-number targets with more distinct values are regression
LOW_CARDINALITY_CODES = 10  # whole-number features with at most this many values: categorical
MIN_ID_ROWS = 20  # fewer present values than this: never called an ID
ID_UNIQUE_SHARE = 0.95
_HASH_LIKE = re.compile(r"^[0-9a-fA-F]{8,}$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-|^[A-Za-z]*[-_]?\d+$")
_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open}
_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_NULLS = sorted({v for m in coerce.MISSING_MARKERS for v in (m, m.upper(), m.title())})


class DataError(MlengineError):
    """The data cannot be used as configured; the message names the file or column."""

    def __init__(self, message: str) -> None:
        # one line, as MlengineError promises, even when a column name holds a line break
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


@dataclass
class Dataset:
    name: str
    X: pd.DataFrame
    y: pd.Series
    task: str  # classification | regression
    column_types: dict[str, str] = field(default_factory=dict)
    n_missing_target: int = 0  # rows dropped because their target was missing
    drop_columns: dict[str, str] = field(default_factory=dict)  # column -> why not a feature
    date_formats: dict[str, list[str]] = field(default_factory=dict)  # text dates' formats
    groups: pd.Series | None = None  # dataset.split_by values (rows of one group stay together)
    time: pd.Series | None = None  # dataset.time_column values (the test split is the latest)
    n_missing_time: int = 0  # rows dropped because their time was missing
    source: str = ""  # the file, "the DataFrame" or "built-in dataset NAME", for messages
    schema: TableSchema | None = None  # every column's kind, dtype as read, parsing, role
    # column -> the cell values the served model reads as missing (dataset.na_values, and
    # the rare words a text column read as missing), as the loader read them
    missing_markers: dict[str, list[str]] = field(default_factory=dict)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Hash of X and y, computed once: logged and part of the study's name."""
        return fingerprint(self.X, self.y)


@dataclass
class _Typed:
    values: Any  # a Series or 1-D array with the column's converted values
    kind: str
    formats: list[str] = field(default_factory=list)
    note: str = ""
    markers: dict[str, int] = field(default_factory=dict)  # word marker -> cells read missing


# ---------------------------------------------------------------------------------------------
# load_dataset
# ---------------------------------------------------------------------------------------------
def load_dataset(cfg: DatasetConfig, frame: pd.DataFrame | None = None) -> Dataset:
    """The configured dataset, or `frame` (the Python API's in-memory table), typed."""
    if frame is None and cfg.source == "dataframe":
        raise no_frame_error()
    builtin = frame is None and cfg.source == "builtin"
    na_values = list(cfg.na_values or ())
    if builtin:
        table, source = _load_builtin(cfg.name), f"built-in dataset '{cfg.name}'"
        target = cfg.target or "target"
    else:
        if frame is not None:
            table, source = _own_frame(frame, na_values), "the DataFrame"
        else:
            table = read_table(
                Path(cfg.path),
                cfg.read_options,
                delimiter=cfg.delimiter,
                encoding=cfg.encoding,
                na_values=na_values,
            )
            source = str(cfg.path)
        target = str(cfg.target)
    for key, column in (
        ("dataset.target", target),
        ("dataset.split_by", cfg.split_by),
        ("dataset.time_column", cfg.time_column),
    ):
        if column is not None:
            _require_column(table, column, key, source)
    arrived = {str(c): str(dtype) for c, dtype in table.dtypes.items()}
    y, keep, n_missing = _clean_target(table.pop(target), source)
    task = cfg.task if cfg.task != "auto" else infer_task(y)
    y = _finish_target(y, task, source)
    overrides = dict(cfg.column_types)
    guess = cfg.na_values is None
    X, typed = _type_table(table, keep, overrides, source, numeric_only=builtin, guess=guess)
    ds = Dataset(
        cfg.name,
        X,
        y,
        task,
        {c: t.kind for c, t in typed.items()},
        n_missing,
        source=source,
        date_formats={c: t.formats for c, t in typed.items() if t.formats},
    )
    ds.drop_columns = _unusable_columns(X, ds.column_types, typed)
    ds.missing_markers = {
        c: [*na_values, *t.markers]
        for c, t in typed.items()
        if na_values or (t.markers and t.kind in ("categorical", "text"))
    }
    if cfg.split_by:
        ds.drop_columns[cfg.split_by] = "dataset.split_by group column"
        ds.groups = _groups(X[cfg.split_by])
    if cfg.time_column:
        _attach_time(ds, cfg.time_column)
    ds.schema = _schema(ds, cfg, target, arrived, typed)
    _log_summary(ds, typed)
    return ds


def _schema(
    ds: Dataset, cfg: DatasetConfig, target: str, arrived: dict[str, str], typed: dict
) -> TableSchema:
    """The loader's decisions about every column, in one description (mlengine.serving.schema)."""
    roles = {}
    for column, why in ds.drop_columns.items():
        role = (
            "group"
            if column == cfg.split_by
            else "time"
            if column == cfg.time_column
            else "id"
            if ds.column_types[column] == "id"
            else "dropped"
        )
        roles[column] = (role, why)
    if cfg.time_column and cfg.time_column not in roles:
        roles[cfg.time_column] = ("time", "dataset.time_column")
    return build_schema(
        ds.task,
        (target, arrived.get(target, str(ds.y.dtype))),
        [(c, ds.column_types[c], arrived.get(c, str(ds.X[c].dtype))) for c in ds.X.columns],
        roles=roles,
        parsing={c: t.note for c, t in typed.items() if t.note},
        date_formats=ds.date_formats,
        missing_markers=[*coerce.MISSING_MARKERS, *(cfg.na_values or ())],
        markers_read={c: t.markers for c, t in typed.items() if t.markers},
    )


def _own_frame(frame: pd.DataFrame, na_values: list[str] | tuple = ()) -> pd.DataFrame:
    """A shallow copy with text column names, so typing never touches the caller's frame.

    `na_values` (dataset.na_values) become missing in text columns, as the CSV reader does.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    table = frame.copy(deep=False)
    table.columns = [str(c) for c in table.columns]
    _check_shape(table, "the DataFrame")
    for column in table.columns if na_values else ():
        table[column] = coerce.mask_markers(table[column], list(na_values))
    return table.reset_index(drop=True)


def _load_builtin(name: str) -> pd.DataFrame:
    if name not in BUILTIN_DATASETS:
        raise DataError(
            f"Unknown built-in dataset '{name}'; choose one of "
            f"{', '.join(BUILTIN_DATASETS)}, or use dataset=csv dataset.path=FILE"
        )
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, BUILTIN_DATASETS[name])(as_frame=True)
    return bunch.data.assign(target=bunch.target)


def _require_column(table: pd.DataFrame, column: str, key: str, source: str) -> None:
    if column in table.columns:
        return
    columns = [str(c) for c in table.columns]
    closest = difflib.get_close_matches(str(column), columns, n=len(columns), cutoff=0.0)
    shown = ", ".join(closest[:20]) + (" ..." if len(columns) > 20 else "")
    raise DataError(f"{key}: column '{column}' is not in {source}; closest columns first: {shown}")


def _check_shape(table: pd.DataFrame, source: str) -> None:
    if len(table) == 0:
        raise DataError(f"Dataset {source} has no data rows")
    if table.shape[1] < 2:
        raise DataError(
            f"Dataset {source} has {table.shape[1]} column; it needs the target "
            "and at least one feature (check dataset.delimiter if the file has more)"
        )
    duplicated = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
    if duplicated:
        raise DataError(f"Dataset {source} has duplicate column names: {duplicated}")


def _log_summary(ds: Dataset, typed: dict[str, _Typed]) -> None:
    counts = Counter(ds.column_types.values())
    log.info(
        "Loaded %s: %d rows x %d columns (%s)",
        ds.source,
        len(ds.X),
        ds.X.shape[1],
        ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
    )
    for column, info in typed.items():
        if info.note:
            log.info("Column '%s' (%s): %s", column, info.kind, info.note)
    if ds.drop_columns:
        log.info(
            "Not used as features: %s",
            ", ".join(f"{c} ({why})" for c, why in ds.drop_columns.items()),
        )


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------
def read_table(
    path: Path,
    read_options: dict | None = None,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    na_values: list[str] | tuple = (),
) -> pd.DataFrame:
    """Read a CSV or Parquet file (raw, untyped); every failure names the file."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"Dataset path is a folder: {path} (set dataset.path to a file in it)")
    if not path.is_file():
        raise DataError(f"Dataset file not found: {path} (set dataset.path to an existing file)")
    if path.stat().st_size == 0:
        raise DataError(f"Dataset file is empty: {path}")
    head = _head_bytes(path)
    try:
        if head.startswith(b"PAR1") or path.suffix.lower() in _PARQUET_SUFFIXES:
            table = pd.read_parquet(path, **dict(read_options or {}))
        else:
            table = _read_csv(path, head, dict(read_options or {}), delimiter, encoding, na_values)
    except DataError:
        raise
    except (ValueError, OSError, UnicodeError, LookupError, pd.errors.ParserError) as error:
        raise DataError(f"Cannot read dataset file {path}: {first_line(error)}") from None
    table.columns = [str(c) for c in table.columns]
    _check_shape(table, str(path))
    return table


def _head_bytes(path: Path, size: int = 1 << 20) -> bytes:
    opener = _COMPRESSED.get(path.suffix.lower())
    try:
        with opener(path, "rb") if opener else path.open("rb") as handle:
            return handle.read(size)
    except OSError as error:
        raise DataError(f"Cannot read dataset file {path}: {first_line(error)}") from None


def _read_csv(
    path: Path,
    head: bytes,
    read_options: dict,
    delimiter: str | None,
    encoding: str | None,
    na_values: list[str] | tuple,
) -> pd.DataFrame:
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(
            f"Dataset file {path} is not a CSV or Parquet file (it holds binary "
            "data); give a .csv or .parquet file"
        )
    encoding = encoding or _detect_encoding(head)
    text = head.decode(encoding, errors="replace")
    if not text.strip():
        raise DataError(f"Dataset file is empty: {path}")
    delimiter = delimiter or _detect_delimiter(text, path)
    nulls = sorted({*_CSV_NULLS, *na_values})
    if read_options:
        options = {"sep": delimiter, "encoding": encoding, **read_options}
        return pd.read_csv(path, **options)
    try:
        return _read_csv_arrow(path, delimiter, encoding, nulls)
    except DataError:
        raise
    except Exception as error:  # noqa: BLE001 - Arrow refuses what pandas may still read
        log.info(
            "Arrow's CSV reader refused %s (%s); reading it with pandas", path, first_line(error)
        )
    return pd.read_csv(
        path,
        sep=delimiter,
        encoding=encoding,
        na_values=nulls,
        keep_default_na=True,
        low_memory=False,
        encoding_errors="strict",
    )


def _detect_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 by BOM; otherwise Windows-1252, then Latin-1."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 3:  # a character cut by the 1 MB window
            return "utf-8"
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _detect_delimiter(text: str, path: Path) -> str:
    """The candidate that splits the first lines into the same number (>1) of fields."""
    lines = text.splitlines()[:50]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line may be cut by the sampling window
    candidates = ["\t", ",", ";", "|"] if ".tsv" in path.suffixes else [",", ";", "\t", "|"]
    best, best_score = candidates[0], (0.0, 0)
    for candidate in candidates:
        counts = [len(row) for row in csv.reader(lines, delimiter=candidate) if row]
        if not counts:
            continue
        width, seen = Counter(counts).most_common(1)[0]
        score = (seen / len(counts), width)
        if width > 1 and score > best_score:
            best, best_score = candidate, score
    return best


def _read_csv_arrow(path: Path, delimiter: str, encoding: str, nulls: list[str]) -> pd.DataFrame:
    """Arrow's streaming reader: types inferred by Arrow, peak memory near the final frame.

    Its types come from the first block; a column that changes later (a "?" deep in a
    number column) is re-read as text, which the typing then parses.
    """
    import pyarrow as pa
    from pyarrow import csv as pacsv

    arrow_encoding = "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding
    read = pacsv.ReadOptions(encoding=arrow_encoding, block_size=4 << 20)
    parse = pacsv.ParseOptions(delimiter=delimiter)
    names = pacsv.open_csv(path, read_options=read, parse_options=parse).schema.names
    if len(set(names)) != len(names) or "" in names:
        names = _unique_names(names)
        # The header is skipped as a parsed row (skip_rows counts raw lines), so a quoted line
        # break inside a name does not turn the rest of the header into a data row.
        if any("\n" in n or "\r" in n for n in names):
            parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
        read = pacsv.ReadOptions(
            encoding=arrow_encoding,
            block_size=4 << 20,
            column_names=names,
            skip_rows_after_names=1,
        )
    as_text: dict[str, Any] = {}
    for attempt in range(4):
        convert = pacsv.ConvertOptions(
            null_values=nulls,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            column_types=as_text,
        )
        try:
            reader = pacsv.open_csv(
                path, read_options=read, parse_options=parse, convert_options=convert
            )
            return _stream_columns(reader, path)
        except pa.ArrowInvalid as error:
            changed = re.search(r"In CSV column #(\d+): CSV conversion error", str(error))
            if not changed or attempt == 3:
                raise
            as_text = (
                {n: pa.string() for n in names}
                if attempt == 2
                else {**as_text, names[int(changed[1])]: pa.string()}
            )
    raise AssertionError("unreachable")


def _stream_columns(reader: Any, path: Path) -> pd.DataFrame:
    """The table as pandas, one column at a time, handing Arrow's memory back as it goes.

    Converting all columns at once (`Table.to_pandas`) holds the Arrow table and the frame
    together: twice the data at peak. Here the peak is the table plus one column.
    """
    import pyarrow as pa

    table = pa.Table.from_batches(list(reader), schema=reader.schema)
    if table.num_rows == 0:
        raise DataError(f"Dataset {path} has no data rows (only a header)")
    pool = pa.default_memory_pool()
    columns = {}
    for name in list(table.column_names):
        column = table.column(name)
        table = table.drop_columns([name])
        columns[name] = _column_values(column)
        del column
        pool.release_unused()
    return pd.DataFrame(columns, copy=False)


def _column_values(column: Any) -> Any:
    """numpy for numbers (NaN for nulls), booleans (1/0/NaN) and dates; pandas for the rest."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_boolean(kind):
        column = column.cast(pa.float64())
    elif pa.types.is_date(kind):
        column = column.cast(pa.timestamp("ms"))
    elif pa.types.is_timestamp(kind) and kind.tz is not None:
        column = column.cast(pa.timestamp(kind.unit))  # the UTC instants, without the zone
    if (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_timestamp(column.type)
    ):
        values = column.to_numpy()
        return values.copy() if values.base is not None else values  # own it: Arrow's is freed
    return column.to_pandas(date_as_object=False)


def _unique_names(names: list[str]) -> list[str]:
    """Blank headers become "Unnamed: N", repeats get .1, .2 (as pandas names them)."""
    out: list[str] = []
    for i, name in enumerate(names):
        base = name or f"Unnamed: {i}"
        candidate, k = base, 0
        while candidate in out:
            k += 1
            candidate = f"{base}.{k}"
        out.append(candidate)
    return out


# ---------------------------------------------------------------------------------------------
# Target
# ---------------------------------------------------------------------------------------------
def _clean_target(raw: pd.Series, source: str) -> tuple[pd.Series, np.ndarray | None, int]:
    """Target values with missing ones (NaN, blanks, markers) dropped; the kept-rows mask."""
    y = raw
    if not (pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype)):
        kind = pd.api.types.infer_dtype(y, skipna=True) if y.dtype == object else "string"
        if kind in ("string", "mixed", "mixed-integer", "categorical"):
            y = coerce.clean_strings(coerce.arrow_strings(y)).to_pandas().rename(raw.name)
        elif kind in ("integer", "floating", "mixed-integer-float", "decimal"):
            y = pd.to_numeric(y.astype(object).where(y.notna(), np.nan)).rename(raw.name)
    missing = y.isna().to_numpy()
    if missing.all():
        raise DataError(
            f"Target column '{raw.name}' in {source} has no values (all {len(y)} are missing)"
        )
    n_missing = int(missing.sum())
    keep = ~missing if n_missing else None
    y = y[keep].reset_index(drop=True) if keep is not None else y.reset_index(drop=True)
    return y, keep, n_missing


def infer_task(y: pd.Series) -> str:
    """Labels (text, booleans, few distinct whole numbers) -> classification; else regression.

    Text that reads as numbers counts as numbers ("1,234" prices are a regression target).
    """
    if (
        pd.api.types.is_bool_dtype(y.dtype)
        or y.dtype == object
        and pd.api.types.infer_dtype(y, skipna=True) == "boolean"
    ):
        return "classification"
    if pd.api.types.is_numeric_dtype(y.dtype):
        values = y.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        strings = coerce.clean_strings(coerce.arrow_strings(y))
        sample = coerce.sample_present(strings)
        if coerce.parse_numbers(sample)[1] > (1 - coerce.PARSE_SHARE) * len(sample):
            return "classification"
        values, failed = coerce.parse_numbers(strings)
        if failed > (1 - coerce.PARSE_SHARE) * len(y):
            return "classification"
    values = values[~np.isnan(values)]
    whole = bool(np.all(np.mod(values, 1) == 0))
    if whole and pd.unique(values).size <= MAX_INFERRED_CLASSES:
        return "classification"
    return "regression"


def _finish_target(y: pd.Series, task: str, source: str) -> pd.Series:
    """Regression: float64. Classification: the user's labels, in one uniform type."""
    name = y.name
    if task == "regression":
        if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
            y = y.astype("float64")
        else:
            values, failed = coerce.parse_numbers(coerce.clean_strings(coerce.arrow_strings(y)))
            if failed or np.isnan(values).any():
                bad = y[np.isnan(values)].astype(str).unique()[:3].tolist()
                n_bad = int(np.isnan(values).sum())
                raise DataError(
                    f"Target '{name}' in {source} is not numeric ({n_bad} values such "
                    f"as {bad}); set dataset.task=classification to predict its labels"
                )
            y = pd.Series(values, name=name)
        n_inf = int(np.isinf(y.to_numpy()).sum())
        if n_inf:  # no model fits or scores an infinite target
            raise DataError(
                f"Target '{name}' in {source} has {n_inf} infinite values (inf or -inf); "
                "replace them or drop those rows"
            )
        return y
    if y.dtype == object:
        kind = pd.api.types.infer_dtype(y, skipna=True)
        y = y.astype(bool) if kind == "boolean" else y.astype(str) if kind != "string" else y
    elif pd.api.types.is_float_dtype(y.dtype) and np.all(np.mod(y.to_numpy(np.float64), 1) == 0):
        y = y.astype("int64")  # whole-number labels that were floats only because of NaN
    counts = y.value_counts()
    if len(counts) < 2:
        raise DataError(
            f"Target '{name}' in {source} has a single class ({counts.index.tolist()[0]!r}); "
            "a classifier needs at least two (or set dataset.task=regression)"
        )
    return y.rename(name)


# ---------------------------------------------------------------------------------------------
# Column typing
# ---------------------------------------------------------------------------------------------
def infer_column_types(X: pd.DataFrame, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Each column's kind: numeric, boolean, categorical, datetime, text or id."""
    overrides = dict(overrides or {})
    _check_overrides(X, overrides, "the table")
    return {c: _type_column(X[c], str(c), overrides.get(c)).kind for c in X.columns}


def type_columns(
    X: pd.DataFrame, overrides: dict[str, str] | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """X with every column converted as its kind says (see the module doc), and the kinds."""
    table = X.copy(deep=False)
    table.columns = [str(c) for c in table.columns]
    X_typed, typed = _type_table(
        table.reset_index(drop=True), None, dict(overrides or {}), "the table"
    )
    return X_typed, {c: t.kind for c, t in typed.items()}


def _check_overrides(X: pd.DataFrame, overrides: dict[str, str], source: str) -> None:
    unknown = sorted(set(overrides) - set(map(str, X.columns)))
    if unknown:
        raise DataError(
            f"dataset.column_types names columns that are not features of "
            f"{source}: {unknown}; columns are: "
            f"{', '.join(map(str, list(X.columns)[:20]))}"
        )


def _type_table(
    table: pd.DataFrame,
    keep: np.ndarray | None,
    overrides: dict[str, str],
    source: str,
    numeric_only: bool = False,
    guess: bool = True,
) -> tuple[pd.DataFrame, dict[str, _Typed]]:
    """Type and convert column by column, releasing each raw column as it goes.

    `table` is consumed (its columns are popped), so peak memory stays near one table.
    """
    _check_overrides(table, overrides, source)
    typed: dict[str, _Typed] = {}
    values: dict[str, Any] = {}
    for column in list(table.columns):
        raw = table.pop(column)
        if keep is not None:
            raw = raw[keep]
        info = _type_column(
            raw.reset_index(drop=True), column, overrides.get(column), numeric_only, guess
        )
        values[column] = info.values
        info.values = None
        typed[column] = info
    n_rows = int(keep.sum()) if keep is not None else len(table)
    return _frame(values, n_rows), typed


def _frame(columns: dict[str, Any], n_rows: int) -> pd.DataFrame:
    """A DataFrame over the converted columns, without copying them into 2-D blocks."""
    if not columns:
        return pd.DataFrame(index=pd.RangeIndex(n_rows))
    return pd.DataFrame(columns, copy=False)


def _type_column(
    s: pd.Series,
    name: str,
    override: str | None = None,
    numeric_only: bool = False,
    guess: bool = True,
) -> _Typed:
    if override:
        return _convert_as(s, override)
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _Typed(coerce.to_float(s), "boolean")
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _Typed(coerce.naive_datetimes(s), "datetime")
    if pd.api.types.is_timedelta64_dtype(dtype):
        return _Typed(
            s.dt.total_seconds().to_numpy(np.float64, na_value=np.nan),
            "numeric",
            note="durations in seconds",
        )
    if pd.api.types.is_numeric_dtype(dtype):
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if numeric_only:
            return _Typed(values, "numeric")
        return _type_numbers(values, name, pd.api.types.is_integer_dtype(dtype))
    if isinstance(dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if s.dtype == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
            return _type_numbers(coerce.to_float(s), name, kind == "integer")
        if kind == "boolean":
            return _Typed(coerce.to_booleans(s), "boolean")
        if kind in ("datetime", "datetime64", "date"):
            dates = pd.to_datetime(s, errors="coerce", utc=True)
            return _Typed(coerce.naive_datetimes(dates), "datetime")
    return _type_strings(s, name, guess)


def _type_numbers(values: np.ndarray, name: str, is_int: bool, note: str = "") -> _Typed:
    """Numbers -> boolean (0/1), id (unique counter), categorical (few codes) or numeric.

    Most columns are decided on a sample (a fraction is seen at once); only whole-number
    columns with few or all-distinct sample values get a full distinct count.
    """
    present = values[np.isfinite(values)]
    if present.size == 0:
        return _Typed(values, "numeric", note=note)
    probe = present[
        np.linspace(0, present.size - 1, min(present.size, coerce.SAMPLE_SIZE)).astype(np.int64)
    ]
    if not is_int and not (np.all(np.mod(probe, 1) == 0) and np.all(np.mod(present, 1) == 0)):
        return _Typed(values, "numeric", note=note)
    n_probe_distinct = np.unique(probe).size
    if LOW_CARDINALITY_CODES < n_probe_distinct < probe.size:
        return _Typed(values, "numeric", note=note)
    distinct = pd.unique(present)
    if distinct.size == 2 and set(distinct.tolist()) <= {0.0, 1.0}:
        return _Typed(values, "boolean", note=note)
    if distinct.size == present.size >= MIN_ID_ROWS and (
        _is_counter(present) or says_identifier(name)
    ):
        return _Typed(values, "id", note=note)
    if 2 < distinct.size <= LOW_CARDINALITY_CODES:
        return _Typed(values, "categorical", note=note or "few whole-number codes")
    return _Typed(values, "numeric", note=note)


def _is_counter(present: np.ndarray) -> bool:
    """Sorted (either way), or a shuffled run of consecutive numbers."""
    steps = np.diff(present)
    return bool(
        np.all(steps > 0) or np.all(steps < 0) or present.max() - present.min() + 1 == present.size
    )


def _type_strings(s: pd.Series, name: str, guess: bool = True) -> _Typed:
    """Text -> numeric, boolean, datetime, id, text or categorical (see the module doc).

    With `guess`, the word markers ("none", "-", ...) are left out while deciding whether
    the values read as numbers or dates; if they do (or nothing else is there), those words
    were missing values. If not, only the rare ones are (at most coerce.RARE_WORD_SHARE of
    the values), and the frequent ones are levels like any other word. `markers` counts the
    cells read missing.
    """
    strings = coerce.clean_strings(coerce.arrow_strings(s))
    if len(strings) == strings.null_count:
        return _Typed(strings.to_pandas(), "categorical")
    words = _word_counts(strings) if guess else {}
    if not words:
        return _parsed_values(strings, name) or _text_kind(strings)
    without = coerce.clean_strings(strings, list(words))
    if len(without) == without.null_count:  # nothing but markers: an empty column
        typed = _Typed(without.to_pandas(), "categorical")
    else:
        typed = _parsed_values(without, name, numbers_only=True)
    if typed is None:
        n_present = len(strings) - strings.null_count
        words = {w: n for w, n in words.items() if n <= coerce.RARE_WORD_SHARE * n_present}
        rest = coerce.clean_strings(strings, list(words)) if words else strings
        typed = _parsed_values(rest, name) or _text_kind(rest)
    if words:
        typed.markers = words
        read = ", ".join(f"{n} '{word}'" for word, n in words.items())
        typed.note = "; ".join(filter(None, [typed.note, f"read as missing: {read}"]))
    return typed


def _parsed_values(strings: Any, name: str, numbers_only: bool = False) -> _Typed | None:
    """The values as numbers, yes/no or dates when (nearly) all present ones read so
    (`numbers_only`: numbers or dates, not yes/no)."""
    n_present = len(strings) - strings.null_count
    if n_present == 0:
        return None
    sample = coerce.sample_present(strings)
    _, failed = coerce.parse_numbers(sample)
    if failed <= (1 - coerce.PARSE_SHARE) * len(sample):
        numbers, failed = coerce.parse_numbers(strings)
        if failed <= (1 - coerce.PARSE_SHARE) * n_present:
            note = f"{failed} non-numeric values read as missing" if failed else ""
            present = numbers[np.isfinite(numbers)]
            return _type_numbers(numbers, name, bool(np.all(np.mod(present, 1) == 0)), note)
    words = sample.to_pylist()
    if not numbers_only and len({w.lower() for w in words}) <= 2:
        booleans = coerce.parse_booleans(strings)
        if booleans is not None:
            return _Typed(booleans, "boolean")
    if coerce.looks_like_dates(words):
        formats = coerce.detect_date_formats(words)
        if formats:
            dates = coerce.parse_dates(strings.to_pandas(), formats)
            n_bad = n_present - int(dates.notna().sum())
            if n_bad <= (1 - coerce.PARSE_SHARE) * n_present:
                note = f"formats {formats}" + (
                    f"; {n_bad} unparsable dates read as missing" if n_bad else ""
                )
                return _Typed(dates, "datetime", formats=formats, note=note)
    return None


def _word_counts(strings: Any) -> dict[str, int]:
    """How many cells hold each word marker, as spelled in the column ("None", "unknown"),
    most frequent first."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lowered = pc.utf8_lower(strings)
    is_word = pc.is_in(lowered, value_set=pa.array(coerce.WORD_MARKERS, lowered.type))
    if not pc.any(is_word).as_py():
        return {}
    hits = pc.filter(strings, is_word)
    counts = {row["values"]: row["counts"] for row in pc.value_counts(hits).to_pylist()}
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _text_kind(strings: Any) -> _Typed:
    """Words: an id (a distinct short token per row), free text, or categorical."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n_present = len(strings) - strings.null_count
    words = coerce.sample_present(strings).to_pylist()
    n_unique = pc.count_distinct(strings).as_py()
    share = n_unique / n_present
    n_words = float(np.mean([len(w.split()) for w in words]))
    kind = "categorical"
    if (
        n_present >= MIN_ID_ROWS
        and share >= ID_UNIQUE_SHARE
        and n_words < 2
        and (n_present >= 50 or np.mean([bool(_HASH_LIKE.match(w)) for w in words]) >= 0.95)
    ):
        kind = "id"
    elif n_words >= 3 and (n_unique >= 50 or share >= 0.5):
        kind = "text"
    values = (
        strings.to_pandas()
        if strings.type == pa.large_string()
        else strings.cast(pa.large_string()).to_pandas()
    )
    return _Typed(values, kind)


def _convert_as(s: pd.Series, kind: str) -> _Typed:
    """A column converted as `dataset.column_types` says, whatever it looks like."""
    if kind == "numeric":
        return _Typed(coerce.to_float(s), kind, note="typed by dataset.column_types")
    if kind == "boolean":
        return _Typed(coerce.to_booleans(s), kind, note="typed by dataset.column_types")
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            return _Typed(coerce.naive_datetimes(s), kind)
        strings = coerce.clean_strings(coerce.arrow_strings(s))
        formats = coerce.detect_date_formats(coerce.sample_present(strings).to_pylist()) or [
            "ISO8601"
        ]
        dates = coerce.parse_dates(strings.to_pandas(), formats)
        return _Typed(dates, kind, formats=formats, note=f"formats {formats}")
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return _Typed(coerce.to_float(s), kind)
    return _Typed(coerce.clean_strings(coerce.arrow_strings(s)).to_pandas(), kind)


def _unusable_columns(
    X: pd.DataFrame, kinds: dict[str, str], typed: dict[str, _Typed]
) -> dict[str, str]:
    """ID-like, empty and single-valued columns: reported, never features.

    A column with one value and some missing ones is kept: whether it is missing is
    information.
    """
    reasons = {}
    for column in X.columns:
        values = X[column]
        n_missing = int(values.isna().sum())
        if kinds[column] == "id":
            reasons[column] = "ID-like"
        elif n_missing == len(values):
            markers = typed[column].markers
            read = f" ({', '.join(f'{n} {w!r}' for w, n in markers.items())} read as missing)"
            reasons[column] = "all values missing" + (read if markers else "")
        elif n_missing == 0 and bool((values == values.iloc[0]).all()):
            reasons[column] = "constant"
    return reasons


# ---------------------------------------------------------------------------------------------
# Groups and time
# ---------------------------------------------------------------------------------------------
def _groups(values: pd.Series) -> pd.Series:
    """Group codes; a row with no group value is a group of its own."""
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    missing = codes < 0
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return pd.Series(codes, index=values.index, name=values.name)


def _attach_time(ds: Dataset, column: str) -> None:
    """ds.time from the time column (dates or numbers); rows without a time are dropped."""
    values = ds.X[column]
    if not (
        pd.api.types.is_datetime64_any_dtype(values.dtype)
        or pd.api.types.is_numeric_dtype(values.dtype)
    ):
        strings = coerce.clean_strings(coerce.arrow_strings(values))
        formats = coerce.detect_date_formats(coerce.sample_present(strings).to_pylist())
        if not formats:
            raise DataError(
                f"dataset.time_column: column '{column}' in {ds.source} holds "
                "neither dates nor numbers, so rows cannot be ordered by it"
            )
        values = coerce.parse_dates(strings.to_pandas(), formats)
    missing = values.isna().to_numpy()
    if missing.all():
        raise DataError(f"dataset.time_column: column '{column}' in {ds.source} has no values")
    if missing.any():
        keep = ~missing
        ds.X = ds.X[keep].reset_index(drop=True)
        ds.y = ds.y[keep].reset_index(drop=True)
        ds.groups = None if ds.groups is None else ds.groups[keep].reset_index(drop=True)
        values = values[keep].reset_index(drop=True)
        ds.n_missing_time = int(missing.sum())
        log.warning("Dropped %d rows whose time '%s' is missing", ds.n_missing_time, column)
    ds.time = values.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------
def fingerprint(X: pd.DataFrame, y: pd.Series) -> str:
    """A stable hash of the table's columns, dtypes and values: same data, same hash."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in X.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(y, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def holdout_split(ds: Dataset, test_size: float, seed: int) -> tuple:
    """X_train, X_test, y_train, y_test, fixed by seed.

    Time-ordered (test = the most recent rows, train sorted by time) with a time column;
    grouped with `split_by`; otherwise random, stratified for classification.
    Rows keep their index in `ds.X`, which `cv_folds` uses to find their groups.
    """
    n = len(ds.y)
    n_test = math.ceil(test_size * n)
    if n - n_test < 2 or n_test < 1:
        raise DataError(
            f"{ds.source} has only {n} rows with a target; dataset.test_size="
            f"{test_size} leaves too few to train on and to test"
        )
    if ds.time is not None:
        train, test = _time_holdout(ds, n_test)
    elif ds.groups is not None:
        train, test = _group_holdout(ds, test_size, seed)
    else:
        train, test = _random_holdout(ds, test_size, seed)
    return ds.X.iloc[train], ds.X.iloc[test], ds.y.iloc[train], ds.y.iloc[test]


def _random_holdout(ds: Dataset, test_size: float, seed: int) -> tuple:
    from sklearn.model_selection import train_test_split

    stratify = ds.y if ds.task == "classification" else None
    counts = ds.y.value_counts() if stratify is not None else None
    if counts is not None and (
        counts.min() < 2
        or math.ceil(test_size * len(ds.y)) < len(counts)
        or len(ds.y) - math.ceil(test_size * len(ds.y)) < len(counts)
    ):
        stratify = None  # a class with one row, or fewer test rows than classes
    return train_test_split(
        np.arange(len(ds.y)), test_size=test_size, random_state=seed, stratify=stratify
    )


def _time_holdout(ds: Dataset, n_test: int) -> tuple:
    times = ds.time.to_numpy()
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    cut = int(np.searchsorted(ordered, ordered[len(order) - n_test], side="left"))
    if cut < 2:
        raise DataError(
            f"dataset.time_column: the most recent rows of {ds.source} share one "
            "time value with almost all others; lower dataset.test_size"
        )
    return order[:cut], order[cut:]


def _group_holdout(ds: Dataset, test_size: float, seed: int) -> tuple:
    from sklearn.model_selection import GroupShuffleSplit

    if ds.groups.nunique() < 2:
        raise DataError(
            f"dataset.split_by: column '{ds.groups.name}' has a single group; a "
            "grouped split needs at least two"
        )
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    return next(splitter.split(np.zeros(len(ds.y)), groups=ds.groups.to_numpy()))


def cv_splitter(
    task: str, n_folds: int, seed: int, *, grouped: bool = False, time_ordered: bool = False
) -> Any:
    """The CV splitter: time-series, grouped (stratified) or (stratified) K-fold."""
    from sklearn.model_selection import (
        GroupKFold,
        KFold,
        StratifiedGroupKFold,
        StratifiedKFold,
        TimeSeriesSplit,
    )

    if time_ordered:
        return TimeSeriesSplit(n_splits=n_folds)
    if grouped:
        if task == "classification":
            return StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    if task == "classification":
        return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return KFold(n_splits=n_folds, shuffle=True, random_state=seed)


def cv_folds(
    ds: Dataset, X_train: pd.DataFrame, y_train: pd.Series, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) positions in X_train, following the dataset's split policy."""
    import warnings

    grouped, timed = ds.groups is not None, ds.time is not None
    splitter = cv_splitter(
        ds.task, n_folds, seed, grouped=grouped and not timed, time_ordered=timed
    )
    groups = None
    if grouped and not timed:
        groups = ds.groups.loc[X_train.index].to_numpy()
        n_groups = len(np.unique(groups))
        if n_groups < n_folds:
            raise DataError(
                f"dataset.split_by: the training rows hold {n_groups} groups of "
                f"'{ds.groups.name}', fewer than search.cv_folds={n_folds}; lower "
                "search.cv_folds"
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # StratifiedGroupKFold's balance notes
        folds = list(splitter.split(X_train, y_train, groups))
    if ds.task == "classification":
        _check_fold_classes(folds, y_train, grouped, timed)
    return folds


def _check_fold_classes(folds: list, y: pd.Series, grouped: bool, timed: bool) -> None:
    labels = y.to_numpy()
    for number, (train, _) in enumerate(folds, start=1):
        if len(np.unique(labels[train])) < 2:
            policy = "time-ordered" if timed else "grouped" if grouped else "CV"
            raise DataError(
                f"{policy} fold {number} trains on a single class of '{y.name}'; "
                "lower search.cv_folds or check the split column"
            )


def check_enough_rows(y: pd.Series, task: str, n_folds: int) -> None:
    """Fail before fitting when CV cannot split the training rows."""
    if len(y) < 2 * n_folds:
        raise DataError(
            f"Only {len(y)} training rows for search.cv_folds={n_folds}; "
            "lower search.cv_folds or provide more data"
        )
    if task == "classification":
        smallest = y.value_counts()
        if smallest.min() < n_folds:
            raise DataError(
                f"Class {smallest.idxmin()!r} of target '{y.name}' has "
                f"{smallest.min()} training rows, fewer than search.cv_folds="
                f"{n_folds}; lower search.cv_folds"
            )
