"""Fast, decisive EDA checks that run before every sweep.

Why: the first questions about a table are structural -- which columns are usable, which are
noise, identifiers or leaks, and which model families fit. `run_eda` answers them in seconds.
Cheap checks (types, missing values, distinct counts, duplicates, infinities) read every row
with vectorised pandas/numpy; the expensive ones (relevance against probe features, leakage,
redundancy, baseline models) read a stratified sample of `EdaSettings.sample_rows` rows, so
the cost stops growing with the table once it is larger than the sample.

Every check is one function `fn(ctx: EdaContext) -> list[Finding]` registered with `@check`
(registry.py); `run_eda` (runner.py) runs them stage by stage and `EdaReport` (report.py)
holds what they found, which render.py and plots.py present.
"""

from mlengine.eda.columns import KINDS, infer_kinds
from mlengine.eda.registry import REGISTRY, STAGES, EdaContext, check, step
from mlengine.eda.report import (
    SCHEMA_VERSION,
    Baseline,
    ColumnProfile,
    EdaReport,
    EdaSettings,
    FamilyAdvice,
    FeatureRelevance,
    Finding,
    LeakageSuspect,
    ModelAdvice,
    RedundantPair,
    drop_override,
)
from mlengine.eda.runner import CHECKS, run_eda

__all__ = [
    "CHECKS",
    "KINDS",
    "REGISTRY",
    "SCHEMA_VERSION",
    "STAGES",
    "Baseline",
    "ColumnProfile",
    "EdaContext",
    "EdaReport",
    "EdaSettings",
    "FamilyAdvice",
    "FeatureRelevance",
    "Finding",
    "LeakageSuspect",
    "ModelAdvice",
    "RedundantPair",
    "check",
    "drop_override",
    "infer_kinds",
    "run_eda",
    "step",
]
