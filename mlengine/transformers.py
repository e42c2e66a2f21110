"""scikit-learn transformers that the stock ones do not cover, for the exported pipeline.

Each cleaner reads raw values the way the loader does (`mlengine.serving.coerce`), so the served
model accepts the columns a user has: "1,234" and 1234.0 are the same number, "yes" and
True the same boolean, a date as text or as a datetime the same date. They are
module-level classes with plain fitted attributes (lists, dicts, strings), so skops can
save and load them without pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from mlengine.serving import coerce

DATE_PARTS = ("year", "month", "day", "weekday", "hour")
# a cleaner's missing markers: for every column (a list), per column (a mapping), or none
Markers = Mapping[str, list[str]] | list[str] | None


def _check_input(estimator: BaseEstimator, X: Any, *, reset: bool) -> Any:
    """sklearn's input contract (2-D, not empty, not sparse or complex) without converting
    the values: these transformers exist to read mixed and messy columns as they are.

    Returns X itself for a DataFrame or array, else X as an array.
    """
    from scipy import sparse

    name = type(estimator).__name__
    if sparse.issparse(X):
        raise TypeError(f"{name} got sparse data; sparse input is not supported")
    if not isinstance(X, pd.DataFrame | np.ndarray):
        X = np.asarray(X, dtype=object if isinstance(X, list | tuple) else None)
    if X.ndim != 2:
        raise ValueError(
            f"{name} expected a 2D array, got {X.ndim}D instead. Reshape your data "
            "with X.reshape(-1, 1) for a single column."
        )
    for axis, what in ((0, "sample"), (1, "feature")):
        if X.shape[axis] == 0:
            raise ValueError(
                f"Found array with 0 {what}(s) (shape={X.shape}) while a minimum "
                f"of 1 is required by {name}."
            )
    if isinstance(X, np.ndarray) and np.iscomplexobj(X):
        raise ValueError("Complex data not supported")
    validate_data(estimator, X, skip_check_array=True, reset=reset)
    return X


def _columns(estimator: BaseEstimator, X: Any) -> list[pd.Series]:
    """The input's columns as Series, whatever the container (DataFrame, array, list).

    A cell holding a dict, a list or another container is a ValueError naming its column
    (it is no value any cleaner reads, and is never taken for a missing one). The
    estimator's `na_values` (the dataset's own missing markers) then become missing, so
    the served model reads them as the loader did.
    """
    if isinstance(X, pd.DataFrame):
        columns = [column for _, column in X.items()]  # items(): ~3x cheaper than iloc
        names = [str(name) for name in X.columns]
    else:
        array = np.asarray(X)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        columns = [pd.Series(array[:, i]) for i in range(array.shape[1])]
        names = _input_names(estimator)
    for name, column in zip(names, columns, strict=True):
        coerce.refuse_non_scalars(column, name)
    na_values = estimator.na_values
    if na_values:
        columns = [
            coerce.mask_markers(column, markers_of(na_values, name))
            for name, column in zip(names, columns, strict=True)
        ]
    return columns


def markers_of(na_values: Markers, column: str) -> list[str]:
    """A column's missing markers: a cleaner's `na_values` is a list for every column or a
    mapping column -> list (the words one text column read as missing)."""
    if isinstance(na_values, Mapping):
        return list(na_values.get(column) or ())
    return list(na_values or ())


def _input_names(estimator: BaseEstimator) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(estimator.n_features_in_)]


class _Cleaner(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Stateless per-column conversion: fit only records the input columns.

    `na_values`: the dataset's extra missing markers (`Dataset.missing_markers`), for every
    column (a list) or per column (a mapping).
    """

    def __init__(self, na_values: Markers = None) -> None:
        self.na_values = na_values

    def fit(self, X: Any, y: Any = None) -> _Cleaner:
        X = _check_input(self, X, reset=True)
        self.is_fitted_ = True
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = _check_input(self, X, reset=False)
        columns = _columns(self, X)
        if not columns:
            return np.empty((len(X), 0))
        return np.column_stack([self._convert(c) for c in columns])

    def _convert(self, column: pd.Series) -> np.ndarray:
        raise NotImplementedError

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


class NumericCleaner(_Cleaner):
    """Numbers, numeric text ("1,234", "12%", "?") -> float64; inf and junk -> NaN.

    NaN then goes to the imputer, so a stray string or an infinity never reaches a model.
    """

    def _convert(self, column: pd.Series) -> np.ndarray:
        return coerce.to_float(column)


class BooleanCleaner(_Cleaner):
    """true/false, yes/no, y/n, t/f, 1/0 -> 1.0 / 0.0; anything else -> NaN (imputed)."""

    def _convert(self, column: pd.Series) -> np.ndarray:
        return coerce.to_booleans(column)


class CategoryCleaner(_Cleaner):
    """Category names as text (3, 3.0 and "3" alike; markers -> NaN) for the encoders.

    sklearn's encoders refuse a column that mixes numbers and strings, which is what a
    column of codes with one missing value becomes; this makes every column uniform text.
    """

    def transform(self, X: Any) -> np.ndarray:
        return super().transform(X).astype(object)

    def _convert(self, column: pd.Series) -> np.ndarray:
        return coerce.to_categories(column)


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Dates -> year, month, day, weekday, and hour when the training dates carry times.

    `formats` maps a column to the text formats the loader detected, so a raw row with
    "04/03/2021" reads as the training data did; columns without formats are detected on
    the training values (ISO 8601 when nothing else fits). Unparsable dates -> NaN.
    """

    def __init__(
        self, formats: dict[str, list[str]] | None = None, na_values: Markers = None
    ) -> None:
        self.formats = formats
        self.na_values = na_values

    def fit(self, X: Any, y: Any = None) -> DatetimeFeatures:
        X = _check_input(self, X, reset=True)
        given = self.formats or {}
        self.formats_: list[list[str]] = []
        self.parts_: list[list[str]] = []
        for name, column in zip(_input_names(self), _columns(self, X), strict=True):
            formats = list(given.get(name) or self._detect(column))
            dates = coerce.to_dates(column, formats)
            with_time = bool(((dates.dt.hour != 0) | (dates.dt.minute != 0)).any())
            self.formats_.append(formats)
            self.parts_.append(list(DATE_PARTS if with_time else DATE_PARTS[:-1]))
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "parts_")
        X = _check_input(self, X, reset=False)
        blocks = []
        columns = _columns(self, X)
        for column, formats, parts in zip(columns, self.formats_, self.parts_, strict=True):
            blocks += _date_parts(coerce.to_dates(column, formats), parts)
        return np.column_stack(blocks) if blocks else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "parts_")
        names = _input_names(self) if input_features is None else list(input_features)
        return np.asarray(
            [
                f"{name}_{part}"
                for name, parts in zip(names, self.parts_, strict=True)
                for part in parts
            ],
            dtype=object,
        )

    @staticmethod
    def _detect(column: pd.Series) -> list[str]:
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            return []
        strings = coerce.clean_strings(coerce.arrow_strings(column))
        return coerce.detect_date_formats(coerce.sample_present(strings).to_pylist())

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def _date_parts(dates: pd.Series, parts: list[str]) -> list[np.ndarray]:
    """Calendar parts as float64 (NaN for NaT) with numpy's datetime arithmetic.

    The same numbers as the `.dt` accessors (weekday: Monday = 0), at a fraction of their
    per-call cost, which dominates a one-row prediction.
    """
    values = dates.to_numpy(dtype="datetime64[us]")
    missing = np.isnat(values)
    days = values.astype("datetime64[D]")
    months = values.astype("datetime64[M]")
    computed = {
        "year": values.astype("datetime64[Y]").astype(np.int64) + 1970,
        "month": months.astype(np.int64) % 12 + 1,
        "day": (days - months.astype("datetime64[D]")).astype(np.int64) + 1,
        "weekday": (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday
        "hour": (values - days).astype("timedelta64[h]").astype(np.int64),
    }
    out = []
    for part in parts:
        column = computed[part].astype(np.float64)
        column[missing] = np.nan
        out.append(column)
    return out


class TextTfidf(TransformerMixin, BaseEstimator):
    """Free text -> TF-IDF over a bounded vocabulary (`max_features` terms).

    Missing text is an empty document. A column with no usable words gives one zero column
    instead of failing the fit. The output is sparse unless `dense` (pandas output needs it).
    """

    def __init__(
        self, max_features: int = 300, dense: bool = False, na_values: Markers = None
    ) -> None:
        self.max_features = max_features
        self.dense = dense
        self.na_values = na_values

    def fit(self, X: Any, y: Any = None) -> TextTfidf:
        from sklearn.feature_extraction.text import TfidfVectorizer

        X = _check_input(self, X, reset=True)
        vectorizer = TfidfVectorizer(
            max_features=self.max_features, sublinear_tf=True, dtype=np.float32
        )
        try:
            self.vectorizer_: TfidfVectorizer | None = vectorizer.fit(self._documents(X))
        except ValueError:  # empty vocabulary: nothing but stop words, numbers or blanks
            self.vectorizer_ = None
        return self

    def transform(self, X: Any) -> Any:
        from scipy import sparse

        check_is_fitted(self, "vectorizer_")
        X = _check_input(self, X, reset=False)
        if self.vectorizer_ is None:
            out = sparse.csr_matrix((len(X), 1), dtype=np.float32)
        else:
            out = self.vectorizer_.transform(self._documents(X))
        return out.toarray() if self.dense else out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "vectorizer_")
        prefix = "_".join(_input_names(self) if input_features is None else input_features)
        terms = (
            ["<empty>"] if self.vectorizer_ is None else self.vectorizer_.get_feature_names_out()
        )
        return np.asarray([f"{prefix}__{term}" for term in terms], dtype=object)

    def _documents(self, X: Any) -> np.ndarray:
        columns = [coerce.to_categories(c) for c in _columns(self, X)]
        docs = pd.Series(columns[0]).fillna("")
        for other in columns[1:]:
            docs = docs + " " + pd.Series(other).fillna("")
        return docs.to_numpy(dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


class NativeCategories(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Category columns as pandas `category` dtype, for models with native categoricals.

    Categories rarer than `min_frequency` (a share of the training rows) and categories
    unseen in training become missing, which XGBoost and HistGradientBoosting handle.
    """

    def __init__(self, min_frequency: float = 0.0, na_values: Markers = None) -> None:
        self.min_frequency = min_frequency
        self.na_values = na_values

    def fit(self, X: Any, y: Any = None) -> NativeCategories:
        X = _check_input(self, X, reset=True)
        self.categories_: list[list[str]] = []
        for column in _columns(self, X):
            counts = pd.Series(coerce.to_categories(column)).value_counts()
            kept = counts[counts >= self.min_frequency * len(column)]
            self.categories_.append(sorted(str(c) for c in kept.index))
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "categories_")
        X = _check_input(self, X, reset=False)
        names = _input_names(self)
        index = X.index if isinstance(X, pd.DataFrame) else None
        data = {
            name: pd.Categorical(coerce.to_categories(column), categories=categories)
            for name, column, categories in zip(
                names, _columns(self, X), self.categories_, strict=True
            )
        }
        return pd.DataFrame(data, index=index)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags
