"""Vectorised parsing of messy cell values, shared by the loader and the exported pipeline.

The loader types each column once with these functions; the pipeline's cleaners
(`mlengine.transformers`) call the same ones at predict time, so a raw cell such as
"1,234", "12%", " n/a ", "yes" or "04/03/2021" reads the same in training and serving.

Everything works on whole columns (Arrow compute kernels, pandas' C parsers); nothing loops
over rows in Python. Expensive detection (date formats) runs on a sample, then the chosen
rule is applied to the whole column.

Policy, stated once:
- Missing: empty or whitespace-only strings and the markers in `MISSING_MARKERS` (any case,
  surrounding spaces ignored) are missing values in every column. The words in
  `WORD_MARKERS` ("none", "-", "unknown", ...) are missing only where they are evidence of
  missingness: in a column whose other values read as numbers or dates (there they parse as
  nothing anyway), or where they are rare (at most `RARE_WORD_SHARE` of a column's values;
  the loader records them per column and the served model masks them the same way); a
  frequent one in a text or yes/no column is a level ("none": no such device).
- Numbers: plain decimals and exponents, thousands separators ("1,234,567"), percentages
  ("12%" -> 0.12), a leading currency sign ("$5"). The pipeline's `to_float` turns inf and
  -inf into missing values (the loader keeps them, so EDA can report them).
- Booleans: true/false, yes/no, y/n, t/f, 1/0 (any case).
- Dates: ISO 8601 (with or without time and offset; offsets are converted to UTC), the
  day/month/year spellings in `DATE_FORMATS`, months ("Jan-2018", "January 2018") and
  quarters ("1980 Q3", "1980Q3", "1980-Q3"), read as their first day; a column may mix up
  to three of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MISSING_MARKERS = ("", "?", "na", "n/a", "nan", "null", "#n/a", "<na>", "nat")
WORD_MARKERS = ("none", "nil", "missing", "unknown", "-", "--")
RARE_WORD_SHARE = 0.01
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")

_DATE_PARTS = (
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%Y.%m.%d",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%m/%d/%y",
    "%d/%m/%y",
    "%d.%m.%y",
    "%d %b %Y",
    "%d-%b-%Y",
    "%d %B %Y",
    "%b %d %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%B %d, %Y",
)
_MONTH_PARTS = ("%b-%Y", "%b %Y", "%B %Y", "%b-%y")  # a month: its first day
_TIME_PARTS = (" %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
QUARTER = "YYYY Qq"  # not a strptime format: _to_datetime reads it itself
DATE_FORMATS = (
    "ISO8601",
    *_DATE_PARTS,
    *(d + t for d in _DATE_PARTS for t in _TIME_PARTS),
    *_MONTH_PARTS,
    QUARTER,
)
_DATE_LIKE = re.compile(
    r"^(\d{4}-\d{1,2}-\d{1,2}|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2}[ -][A-Za-z]{3,9}[ -,]"
    r"|[A-Za-z]{3,9}\.? \d{1,2}|[A-Za-z]{3,9}-\d{2,4}$|\d{4} ?-?[Qq][1-4]$)"
)
_QUARTER = r"^(\d{4}) ?-?[Qq]([1-4])$"

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_NUMBER_TEXT = re.compile(_NUMBER)
_THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"
_CURRENCY = r"^([+-]?)\s*[$€£¥]\s*"
_NULL_STRING = pa.scalar(None, pa.large_string())

SAMPLE_SIZE = 2000  # values looked at to decide what a column holds
PARSE_SHARE = 0.95  # share of present values that must parse for a column to take that type


def arrow_strings(values: pd.Series | np.ndarray | Sequence) -> pa.ChunkedArray:
    """The values as Arrow strings: zero-copy for pandas' Arrow-backed `str` columns.

    Other values are written as text first (numbers as "12", "2.5"); missing values stay null.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    if not (isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow"):
        s = s.astype("str")
    arrow = s.array.__arrow_array__()
    arrow = arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])
    return arrow.cast(pa.large_string()) if arrow.type != pa.large_string() else arrow


def clean_strings(strings: pa.ChunkedArray, extra_markers: Iterable[str] = ()) -> pa.ChunkedArray:
    """Surrounding whitespace removed; missing markers (any case) become null."""
    trimmed = pc.utf8_trim_whitespace(strings)
    markers = pa.array(
        sorted({*MISSING_MARKERS, *(m.strip().lower() for m in extra_markers)}), pa.large_string()
    )
    is_marker = pc.is_in(pc.utf8_lower(trimmed), value_set=markers)
    if pc.any(is_marker).as_py():
        trimmed = pc.if_else(is_marker, _NULL_STRING, trimmed)
    return trimmed


def sample_present(strings: pa.ChunkedArray, size: int = SAMPLE_SIZE) -> pa.Array:
    """Up to `size` non-null values spread evenly over the column (deterministic)."""
    n_present = len(strings) - strings.null_count
    if n_present == 0:
        return pa.array([], strings.type)
    if n_present <= 4 * size or strings.null_count > len(strings) // 2:
        present = pc.drop_null(strings)
        idx = np.linspace(0, len(present) - 1, min(size, len(present))).astype(np.int64)
        return pc.take(present, pa.array(idx)).combine_chunks()
    n_take = min(len(strings), int(size * len(strings) / n_present * 1.2))
    idx = np.linspace(0, len(strings) - 1, n_take).astype(np.int64)
    return pc.drop_null(pc.take(strings, pa.array(idx))).combine_chunks()[:size]


def parse_numbers(strings: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, int]:
    """float64 values (NaN where missing or unparsable; "inf" stays infinite) and how many
    present values failed.

    Expects cleaned strings (see `clean_strings`): markers already null. Tries the cheap
    way first (a plain cast, then a cast after removing thousands separators, "%" and
    currency signs); only a column that still fails is matched value by value.
    """
    values = _cast(strings)
    if values is not None:  # the common case: every value is a plain number
        return _floats(values), 0
    text = _without_thousands(strings)
    percent = pc.ends_with(text, "%")
    if pc.any(percent).as_py():
        text = pc.if_else(
            percent, pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(text, 0, -1)), text
        )
    else:
        percent = None
    values = _cast(text)
    failed = 0
    if values is None:
        if pc.any(pc.match_substring_regex(text, r"[$€£¥]")).as_py():
            text = _without_thousands(pc.replace_substring_regex(text, _CURRENCY, r"\1"))
        lowered = pc.utf8_lower(text)
        number = pc.or_(
            pc.match_substring_regex(text, _NUMBER),
            pc.is_in(
                lowered,
                value_set=pa.array(["inf", "+inf", "-inf", "infinity", "-infinity"], text.type),
            ),
        )
        values = pc.cast(pc.if_else(number, text, pa.scalar(None, text.type)), pa.float64())
        present = len(strings) - strings.null_count
        failed = present - int(pc.sum(pc.cast(number, pa.int64())).as_py() or 0)
    if percent is not None:
        values = pc.if_else(percent, pc.divide(values, 100.0), values)
    return _floats(values), failed


def _without_thousands(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """ "1,234,567" -> "1234567"; a comma in any other place ("1,5") stays and fails."""
    if not pc.any(pc.match_substring(text, ",")).as_py():
        return text
    thousands = pc.match_substring_regex(text, _THOUSANDS)
    return pc.if_else(thousands, pc.replace_substring(text, ",", ""), text)


def _cast(strings: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array | None:
    try:
        return pc.cast(strings, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _floats(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    out = (
        values.to_numpy(zero_copy_only=False) if isinstance(values, pa.Array) else values.to_numpy()
    )
    out = np.asarray(out, dtype=np.float64)
    return out if out.flags.writeable else out.copy()


def parse_booleans(strings: pa.ChunkedArray | pa.Array, strict: bool = True) -> np.ndarray | None:
    """1.0 / 0.0 / NaN from boolean words; None when `strict` and another word is present."""
    lowered = pc.utf8_lower(strings)
    distinct = set(pc.unique(lowered).to_pylist()) - {None}
    if strict and (not distinct or not distinct <= {*TRUE_WORDS, *FALSE_WORDS}):
        return None
    is_true = pc.is_in(lowered, value_set=pa.array(TRUE_WORDS, lowered.type))
    is_false = pc.is_in(lowered, value_set=pa.array(FALSE_WORDS, lowered.type))
    out = np.full(len(strings), np.nan)
    out[np.asarray(is_true)] = 1.0
    out[np.asarray(is_false)] = 0.0
    return out


def looks_like_dates(sample: Sequence[str]) -> bool:
    """Cheap filter before trying date formats: most values start like a date."""
    sample = [v for v in sample if v]
    return bool(sample) and sum(bool(_DATE_LIKE.match(v)) for v in sample) >= 0.9 * len(sample)


def detect_date_formats(sample: Sequence[str], max_formats: int = 3) -> list[str]:
    """The formats (greedy: most values first) that together parse the sample, else [].

    Ties go to the earlier format in `DATE_FORMATS` (month-first before day-first), so an
    ambiguous sample with no day above 12 reads as month/day.
    """
    remaining = pd.Series([v for v in sample if v][:500], dtype=object)
    total = len(remaining)
    has_time = remaining.str.contains(":", regex=False).any() if total else False
    candidates = [f for f in DATE_FORMATS if has_time or "%H" not in f]
    formats: list[str] = []
    while len(remaining) and len(formats) < max_formats:
        best, best_ok = None, None
        for fmt in candidates:
            ok = _to_datetime(remaining, fmt).notna().to_numpy()
            if ok.any() and (best_ok is None or ok.sum() > best_ok.sum()):
                best, best_ok = fmt, ok
        if best is None:
            break
        formats.append(best)
        remaining = remaining[~best_ok]
    parsed = total - len(remaining)
    return formats if total and parsed >= PARSE_SHARE * total else []


def parse_dates(values: pd.Series, formats: Sequence[str]) -> pd.Series:
    """Naive datetimes (UTC where the text had an offset); NaT where no format fits."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return naive_datetimes(values)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    if len(uniques) <= len(values) // 2:  # dates repeat: parse each distinct text once
        parsed = parse_dates(pd.Series(np.asarray(uniques, dtype=object)), formats).to_numpy()
        out = np.where(codes >= 0, parsed[np.maximum(codes, 0)], np.datetime64("NaT"))
        return pd.Series(out.astype(parsed.dtype), index=values.index)
    out = None
    for fmt in formats or ("ISO8601",):
        todo = values if out is None else values[out.isna()]
        parsed = naive_datetimes(_to_datetime(todo, fmt)).astype("datetime64[us]")
        out = parsed if out is None else out.fillna(parsed)
    return out


def naive_datetimes(values: pd.Series) -> pd.Series:
    if getattr(values.dtype, "tz", None) is not None:
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


def _to_datetime(values: pd.Series, fmt: str) -> pd.Series:
    """One format, errors -> NaT; ISO text with offsets is read as UTC."""
    import warnings

    if fmt == QUARTER:
        parts = values.astype("str").str.strip().str.extract(_QUARTER)
        year = pd.to_numeric(parts[0], errors="coerce")
        month = 3 * pd.to_numeric(parts[1], errors="coerce") - 2
        return pd.to_datetime(
            pd.DataFrame({"year": year, "month": month, "day": 1}, index=values.index),
            errors="coerce",
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.to_datetime(values, format=fmt, errors="coerce", utc=fmt == "ISO8601")
        except (ValueError, OverflowError, TypeError):
            return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")


def mask_markers(values: pd.Series, markers: Sequence[str] | None) -> pd.Series:
    """Cells that are one of the user's missing markers (`dataset.na_values`) -> missing.

    Text is compared trimmed; a marker that reads as a number ("-999") also matches that
    number in a numeric column, as pandas' `read_csv(na_values=...)` does.
    """
    if not markers or len(values) == 0:
        return values
    numbers = [float(m) for m in markers if _NUMBER_TEXT.match(m.strip())]
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.mask(values.isin(numbers)) if numbers else values
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        return values
    text = pd.Series(values, copy=False).astype("str").str.strip()
    hit = text.isin([m.strip() for m in markers]).to_numpy(copy=True)
    if numbers:
        hit |= pd.to_numeric(values, errors="coerce").isin(numbers).to_numpy()
    return values.mask(hit) if hit.any() else values


def refuse_non_scalars(values: pd.Series | np.ndarray | Sequence, column: object) -> None:
    """ValueError naming `column` when a cell holds a container (a dict, list, tuple, set,
    array): a cell is one value, and no cleaner may read a container as missing.

    Cheap on ordinary columns: numeric and text columns are never scanned; an object
    column is looked at value by value only when pandas finds it mixed.
    """
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.ArrowDtype):
        if pa.types.is_nested(dtype.pyarrow_dtype):
            raise ValueError(
                f"column '{column}' holds {dtype.pyarrow_dtype} values; a cell must be a "
                "single value (a number, text, boolean or date) or missing"
            )
        return
    if dtype is not None and not (isinstance(dtype, np.dtype) and dtype.kind == "O"):
        return
    if pd.api.types.infer_dtype(values, skipna=True) not in ("mixed", "mixed-integer"):
        return
    for row, value in enumerate(values):
        if isinstance(value, dict) or pd.api.types.is_list_like(value):
            raise non_scalar_error(column, type(value).__name__, row)


def non_scalar_error(column: object, what: str, row: int) -> ValueError:
    """The one message for a cell that holds `what` (dict, list, ...) instead of a value."""
    return ValueError(
        f"column '{column}' holds a {what} in row {row}; a cell must be a single value "
        "(a number, text, boolean or date) or missing"
    )


def to_float(values: pd.Series) -> np.ndarray:
    """Any column -> float64 with NaN for missing, unparsable and infinite values."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        out[np.isinf(out)] = np.nan
        return out
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return (
            (naive_datetimes(values) - pd.Timestamp(0))
            .dt.total_seconds()
            .to_numpy(dtype=np.float64, na_value=np.nan)
        )
    if values.dtype == object:
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind in ("integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"):
            return to_float(
                pd.to_numeric(values.astype(object).where(values.notna(), np.nan), errors="coerce")
            )
    out = parse_numbers(clean_strings(arrow_strings(values)))[0]
    out[np.isinf(out)] = np.nan
    return out


def to_booleans(values: pd.Series) -> np.ndarray:
    """Any column -> 1.0 / 0.0 / NaN; numbers pass through (0 stays 0, 1 stays 1)."""
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return to_float(values)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "boolean",
        "integer",
        "floating",
        "mixed-integer-float",
        "empty",
    ):
        return to_float(values)
    return parse_booleans(clean_strings(arrow_strings(values)), strict=False)


def to_categories(values: pd.Series) -> np.ndarray:
    """Any column -> an object array of category names (str), NaN for missing.

    Whole numbers print without a decimal point, so 3, 3.0 and "3" are the same category
    whether a column arrives as ints, as floats (because of a missing value) or as text.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.where(values.isna(), np.nan, values.astype(str)).astype(object)
    if pd.api.types.is_numeric_dtype(values.dtype) or (
        values.dtype == object
        and pd.api.types.infer_dtype(values, skipna=True)
        in ("integer", "floating", "mixed-integer-float", "decimal")
    ):
        return _number_names(to_float(values))
    strings = clean_strings(arrow_strings(values))
    return np.asarray(strings.to_pandas().to_numpy(dtype=object, na_value=np.nan), dtype=object)


def to_dates(values: pd.Series, formats: Sequence[str]) -> pd.Series:
    """Any column -> naive datetimes (UTC where a value had an offset), NaT for missing and
    unparsable values; text is read with `formats` (the loader's, see `detect_date_formats`).

    What `transformers.DatetimeFeatures` reads in training and serving, and what the ONNX
    feed (`mlengine.serving.feed`) sends the graph.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return naive_datetimes(values)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "datetime",
        "datetime64",
        "date",
    ):
        return naive_datetimes(pd.to_datetime(values, errors="coerce", utc=True))
    return parse_dates(clean_strings(arrow_strings(values)).to_pandas(), formats)


def _number_names(numbers: np.ndarray) -> np.ndarray:
    out = np.full(len(numbers), np.nan, dtype=object)
    present = ~np.isnan(numbers)
    whole = present & (np.mod(numbers, 1) == 0) & (np.abs(numbers) < 2**53)
    out[whole] = numbers[whole].astype(np.int64).astype(str)
    other = present & ~whole
    out[other] = numbers[other].astype(str)
    return out
