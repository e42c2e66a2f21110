"""Preprocessing: one ColumnTransformer from the column types and the model family's needs.

It is the first step of the exported Pipeline, so the served model takes the raw columns
the user has, and CV fits it inside each fold (no statistics leak from validation rows).
"""

from __future__ import annotations

from mlengine.config import FeaturesConfig, ModelConfig

# Kinds the spine turns into model inputs; the others are not used as features.
USED_KINDS = ("numeric", "boolean", "categorical")


def select_columns(column_types: dict[str, str], cfg: FeaturesConfig,
                   extra_drop: list[str] | tuple = ()) -> dict[str, str]:
    """The feature columns after features.keep / features.drop and EDA-driven drops."""
    missing = [c for c in [*cfg.keep, *cfg.drop] if c not in column_types]
    if missing:
        from mlengine.data import DataError

        raise DataError(f"features.keep/features.drop name unknown columns {missing}; "
                        f"columns are: {', '.join(map(str, column_types))}")
    chosen = {c: k for c, k in column_types.items() if not cfg.keep or c in cfg.keep}
    dropped = set(cfg.drop) | set(extra_drop)
    return {c: k for c, k in chosen.items() if c not in dropped}


def build_preprocessor(column_types: dict[str, str], model: ModelConfig, cfg: FeaturesConfig):
    """ColumnTransformer: impute (+ scale) numerics, encode categoricals as the model wants."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    scale = model.scale if cfg.scale is None else cfg.scale
    encoding = cfg.encoding or model.encoding
    numeric = [c for c, k in column_types.items() if k == "numeric"]
    categorical = [c for c, k in column_types.items() if k in ("categorical", "boolean")]
    if not numeric and not categorical:
        from mlengine.data import DataError

        raise DataError("No usable feature columns are left (check features.keep/drop and "
                        "dataset.column_types)")

    numeric_steps = [SimpleImputer(strategy="median", keep_empty_features=True)]
    if scale:
        numeric_steps.append(StandardScaler())
    if encoding == "onehot":
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", sparse_output=False,
                                min_frequency=cfg.rare_min_frequency or None,
                                max_categories=cfg.max_categories)
    else:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                 encoded_missing_value=-1)
    categorical_steps = [SimpleImputer(strategy="constant", fill_value="missing"), encoder]
    transformers = []
    if numeric:
        transformers.append(("numeric", make_pipeline(*numeric_steps), numeric))
    if categorical:
        transformers.append(("categorical", make_pipeline(*categorical_steps), categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
