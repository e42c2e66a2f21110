"""Preprocessing: one ColumnTransformer from the column types and the model family's needs.

It is the first step of the exported Pipeline, so the served model takes the raw columns
the user has, and CV fits it inside each fold (no statistics leak from validation rows).

Per kind (see `mlengine.data` for how columns get their kind):
- numeric: parse numeric text, inf -> NaN, median imputation, standard scaling when the
  model family declares `scale: true`.
- boolean: 0/1, most-frequent imputation.
- categorical: text names, missing -> "missing", then one-hot (rare categories share one
  "infrequent" column, at most `max_categories` columns, unseen categories ignored), ordinal
  codes (unseen -> -1) for trees, or pandas categories for native support (`native`).
- datetime: year, month, day, weekday (+ hour), imputed, scaled like numerics.
- text: TF-IDF over at most `text_max_features` terms, or dropped (`features.text: drop`).
- id: never a feature (dropped by `select_columns`).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlengine.config import ConfigError, FeaturesConfig, ModelConfig

if TYPE_CHECKING:
    from mlengine.transformers import Markers

log = logging.getLogger("mlengine")

KINDS_USED = ("numeric", "boolean", "categorical", "datetime", "text")


def _data_error(message: str) -> Exception:
    from mlengine.data import DataError

    return DataError(message)


def select_columns(
    column_types: dict[str, str], cfg: FeaturesConfig, extra_drop: list[str] | tuple = ()
) -> dict[str, str]:
    """The feature columns after features.keep / features.drop, ID-like, text and EDA drops."""
    missing = [c for c in [*cfg.keep, *cfg.drop] if c not in column_types]
    if missing:
        raise _data_error(
            f"features.keep/features.drop name unknown columns {missing}; "
            f"columns are: {', '.join(map(str, column_types))}"
        )
    kept_ids = [c for c in cfg.keep if column_types[c] == "id"]
    if kept_ids:
        raise _data_error(
            f"features.keep names ID-like column(s) {kept_ids}, which are never "
            f"features; to use one, set dataset.column_types.{kept_ids[0]}="
            "categorical (or numeric)"
        )
    chosen = {c: k for c, k in column_types.items() if not cfg.keep or c in cfg.keep}
    dropped = set(cfg.drop) | set(extra_drop)
    dropped |= {c for c, k in chosen.items() if k == "id" or (k == "text" and cfg.text == "drop")}
    return {c: k for c, k in chosen.items() if c not in dropped}


def drop_reasons(
    dropped: list[str], column_types: dict[str, str], cfg: FeaturesConfig
) -> dict[str, str]:
    """Why each column `select_columns` left out is not a feature (by the same rules)."""

    def why(column: str) -> str:
        if column in cfg.drop:
            return "features.drop"
        if cfg.keep and column not in cfg.keep:
            return "not in features.keep"
        if column_types.get(column) == "id":
            return "ID-like"
        if column_types.get(column) == "text" and cfg.text == "drop":
            return "features.text=drop"
        return "the loader or the EDA report (features.select=eda)"

    return {column: why(column) for column in dropped}


def build_preprocessor(
    column_types: dict[str, str],
    model: ModelConfig,
    cfg: FeaturesConfig,
    date_formats: dict[str, list[str]] | None = None,
    na_values: Mapping[str, Sequence[str]] | Sequence[str] = (),
) -> Any:
    """An unfitted ColumnTransformer for these columns, as the model family needs them.

    `date_formats` (from `Dataset.date_formats`) lets the served model read dates given as
    text the way the loader read them; `na_values` (`Dataset.missing_markers`: column ->
    markers, or markers for every column) are missing in served rows as they were when
    loading.
    """
    from sklearn.compose import ColumnTransformer

    scale = model.scale if cfg.scale is None else cfg.scale
    encoding = cfg.encoding or model.encoding
    by_kind: dict[str, list[str]] = {kind: [] for kind in KINDS_USED}
    for column, kind in column_types.items():
        if kind in by_kind and not (kind == "text" and cfg.text == "drop"):
            by_kind[kind].append(column)
    if not any(by_kind.values()):
        raise _data_error(
            "No usable feature columns are left (check features.keep/drop and dataset.column_types)"
        )
    native = encoding == "native"
    if native:
        _check_native(model)

    def markers(columns: list[str]) -> dict[str, list[str]] | None:
        """The markers of these columns, for their cleaner (None: no marker to mask)."""
        if not isinstance(na_values, Mapping):
            return {c: list(na_values) for c in columns} if na_values else None
        return {c: list(na_values[c]) for c in columns if na_values.get(c)} or None

    transformers = [
        ("numeric", _numeric(scale, markers(by_kind["numeric"])), by_kind["numeric"]),
        ("boolean", _boolean(markers(by_kind["boolean"])), by_kind["boolean"]),
        (
            "categorical",
            _categorical(encoding, cfg, markers(by_kind["categorical"])),
            by_kind["categorical"],
        ),
        (
            "datetime",
            _datetime(scale, date_formats, markers(by_kind["datetime"])),
            by_kind["datetime"],
        ),
        *((f"text_{c}", _text(cfg, native, markers([c])), [c]) for c in by_kind["text"]),
    ]
    transformers = [t for t in transformers if t[2]]
    sparse = not native and bool(by_kind["text"]) and _accepts_sparse(model)
    preprocessor = ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=0.3 if sparse else 0.0,
        verbose_feature_names_out=False,
    )
    if native:
        preprocessor.set_output(transform="pandas")
    return preprocessor


def _numeric(scale: bool, na_values: Markers) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlengine.transformers import NumericCleaner

    steps = [
        NumericCleaner(na_values=na_values),
        SimpleImputer(strategy="median", keep_empty_features=True),
    ]
    return make_pipeline(*steps, *([StandardScaler()] if scale else []))


def _boolean(na_values: Markers) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    from mlengine.transformers import BooleanCleaner

    return make_pipeline(
        BooleanCleaner(na_values=na_values),
        SimpleImputer(strategy="most_frequent", keep_empty_features=True),
    )


def _categorical(encoding: str, cfg: FeaturesConfig, na_values: Markers) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    from mlengine.transformers import CategoryCleaner, NativeCategories

    if encoding == "native":
        return NativeCategories(min_frequency=cfg.rare_min_frequency, na_values=na_values)
    rare = cfg.rare_min_frequency or None
    if encoding == "onehot":
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            sparse_output=False,
            min_frequency=rare,
            max_categories=cfg.max_categories,
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            encoded_missing_value=-1,
            min_frequency=rare,
        )
    return make_pipeline(
        CategoryCleaner(na_values=na_values),
        SimpleImputer(strategy="constant", fill_value="missing"),
        encoder,
    )


def _datetime(scale: bool, date_formats: dict[str, list[str]] | None, na_values: Markers) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlengine.transformers import DatetimeFeatures

    steps = [
        DatetimeFeatures(formats=dict(date_formats or {}) or None, na_values=na_values),
        SimpleImputer(strategy="median", keep_empty_features=True),
    ]
    return make_pipeline(*steps, *([StandardScaler()] if scale else []))


def _text(cfg: FeaturesConfig, dense: bool, na_values: Markers) -> Any:
    from mlengine.transformers import TextTfidf

    return TextTfidf(max_features=cfg.text_max_features, dense=dense, na_values=na_values)


def _accepts_sparse(model: ModelConfig) -> bool:
    """Whether every estimator of the family takes sparse input (its sklearn tags say so).

    Families that need dense input (HistGradientBoosting, the PyTorch MLP) get dense TF-IDF,
    whose width `text_max_features` bounds.
    """
    targets = [spec.get("_target_") for spec in (model.classifier, model.regressor) if spec]
    return all(_target_accepts_sparse(str(t)) for t in targets)


@functools.lru_cache(maxsize=32)
def _target_accepts_sparse(target: str) -> bool:
    from hydra.utils import get_class
    from sklearn.utils import get_tags

    try:
        return bool(get_tags(get_class(target)()).input_tags.sparse)
    except Exception:  # noqa: BLE001 - unknown or unusual estimator: dense is always accepted
        return False


def _check_native(model: ModelConfig) -> None:
    """Native categoricals reach the model as pandas categories: it must read them."""
    for role in ("classifier", "regressor"):
        spec = getattr(model, role)
        if spec and not _reads_categories(json.dumps(spec, sort_keys=True, default=str)):
            raise ConfigError(
                "features.encoding",
                f"native categoricals need a model that "
                f"reads pandas categories, and model={model.name}'s {role} "
                "does not; use onehot or ordinal (XGBoost: add "
                f"+model.{role}.enable_categorical=true)",
            )


@functools.lru_cache(maxsize=32)
def _reads_categories(spec_json: str) -> bool:
    from hydra.utils import instantiate
    from sklearn.utils import get_tags

    try:
        estimator = instantiate(json.loads(spec_json), _convert_="all")
    except Exception:  # noqa: BLE001 - a bad spec fails later with its own message
        return True
    params = estimator.get_params(deep=False)
    return bool(
        get_tags(estimator).input_tags.categorical
        or params.get("categorical_features") == "from_dtype"
    )
