"""What the EDA found, as data: the settings, findings and per-column facts, the queries
the runner asks of them, and `to_dict` (eda.json's schema). Rendering it is render.py's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from mlengine.eda._util import _jsonable
from mlengine.eda.registry import CHECK_FAILED

Severity = Literal["info", "warn", "error"]
Verdict = Literal["useful", "weak", "irrelevant"]

SCHEMA_VERSION = 2  # 2: findings carry overrides; suggested_overrides


@dataclass
class EdaSettings:
    """Knobs of the EDA step; the runner builds this from the `eda` config group by keyword."""

    sample_rows: int = 50_000  # rows the expensive checks read (stratified sample)
    n_probes: int = 5  # shuffled copies of real features: the relevance noise floor
    leakage_threshold: float = 0.98  # single-feature CV AUC / R2 / balanced accuracy -> leak
    correlation_threshold: float = 0.95  # |Spearman| or Cramer's V -> redundant pair
    quasi_constant_share: float = 0.99  # top value's share of rows -> quasi-constant
    baseline_folds: int = 3
    plots: bool = True
    baseline_rows: int = 10_000  # rows of the sample the baseline models fit on
    run_baselines: bool = True  # quick dummy/linear/tree CV baselines for model advice
    leakage_folds: int = 5  # folds of the single-feature out-of-fold models
    exact_relation_accuracy: float = 0.999  # threshold / missing-indicator balanced accuracy
    relevance_alpha: float = 0.01  # family-wise significance of the MI test (Bonferroni)
    useful_share: float = 0.01  # MI as a share of the target's entropy: useful vs weak
    high_cardinality: int = 50  # distinct values of a categorical -> high cardinality
    high_missing_share: float = 0.5  # missing share that turns a note into a warning
    imbalance_share: float = 0.1  # minority class share under this -> imbalance warning

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EdaSettings:
        """Settings from a config mapping, ignoring keys that are not settings (fail_on...)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(config).items() if k in names})


@dataclass
class Finding:
    """One check's result: what, how bad, which columns, why, and the numbers behind it."""

    check: str
    severity: Severity
    columns: list[str]
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)  # mlengine overrides that apply it


@dataclass
class ColumnProfile:
    """Per-column facts computed on every row."""

    name: str
    dtype: str
    kind: str
    n_missing: int
    missing_share: float
    n_unique: int
    unique_share: float  # distinct values / non-missing rows
    top_share: float  # most frequent value's share of all rows
    n_infinite: int = 0
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    flags: list[str] = field(default_factory=list)  # checks that fired on this column


@dataclass
class FeatureRelevance:
    """A feature's bias-corrected mutual information with the target, against probes."""

    column: str
    rank: int
    score: float  # nats, Miller-Madow corrected: ~0 for noise
    share: float  # score / entropy of the (binned) target
    p_value: float  # G-test of independence
    verdict: Verdict
    conditional: bool = False  # irrelevant alone, but explains the linear baseline's residual


@dataclass
class LeakageSuspect:
    """A feature that alone reproduces the target; `evidence` holds the numbers."""

    column: str
    metric: str
    score: float
    exact_relation: str | None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class RedundantPair:
    column_a: str
    column_b: str
    measure: str  # spearman | cramers_v
    value: float


@dataclass
class Baseline:
    name: str  # dummy | linear | tree
    model: str
    metric: str
    mean: float
    std: float
    seconds: float


@dataclass
class FamilyAdvice:
    family: str
    rank: int
    score: float
    reasons: list[str]
    fitted: str = ""  # the estimator the family fits for this task

    @property
    def label(self) -> str:
        """How advice names it: the override's word and what it fits ("logistic_regression
        (Ridge)" for a regression), so a regression is never advised a logistic model."""
        return f"{self.family} ({self.fitted})" if self.fitted else self.family


@dataclass
class ModelAdvice:
    """Ranked model families, the baselines and problem facts the ranking came from."""

    metric: str | None
    baselines: list[Baseline]
    ranking: list[FamilyAdvice]
    problem: dict[str, Any]


@dataclass
class EdaReport:
    """Everything the EDA found; serialises to eda.json / eda.md / PNG plots."""

    task: str
    n_rows: int
    n_columns: int
    memory_bytes: int
    sampled: bool
    n_rows_used: int
    n_missing_target: int
    findings: list[Finding]
    columns: list[ColumnProfile]
    relevance: list[FeatureRelevance]
    probe_scores: list[float]
    leakage: list[LeakageSuspect]
    redundant_pairs: list[RedundantPair]
    model_advice: ModelAdvice
    target: dict[str, Any]
    correlation: dict[str, Any]  # {"columns": [...], "matrix": [[...]]} for the heatmap
    drop_reasons: dict[str, list[str]]  # column -> why `features.select: eda` drops it
    settings: EdaSettings
    seconds: float
    timings: dict[str, float]

    # -- queries the runner uses ------------------------------------------------------------
    def columns_to_drop(self) -> list[str]:
        """ID-like, constant, leaking, irrelevant and duplicate-copy columns (never all)."""
        return list(self.drop_reasons)

    def suggested_overrides(self) -> list[str]:
        """The overrides that apply the report's advice: drop the identifiers, leaks,
        constants and duplicate copies, and split by the entity whose rows a row-wise split
        would leak most. Irrelevant columns stay (opt in with features.select=eda)."""
        entities = sorted(
            (f for f in self.findings if f.check == "repeated_entity"),
            key=lambda f: -f.evidence.get("holdout_overlap", 0.0),
        )
        split_by = entities[0].columns[0] if entities else None
        drop = [
            c for c, why in self.drop_reasons.items() if set(why) - {"irrelevant"} and c != split_by
        ]
        return ([drop_override(drop)] if drop else []) + (
            [f"dataset.split_by={_hydra_value(split_by)}"] if split_by else []
        )

    def leaking_columns(self) -> list[str]:
        return [s.column for s in self.leakage]

    def failures(self, fail_on: Sequence[str]) -> list[Finding]:
        """Findings whose check (or severity: "error", "warn") is named in `fail_on`."""
        wanted = {str(x) for x in fail_on}
        return [
            f
            for f in self.findings
            if f.check in wanted or (f.severity in wanted and f.check != CHECK_FAILED)
        ]

    def noise_floor(self) -> float:
        return max(self.probe_scores) if self.probe_scores else 0.0

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict with a stable schema (`schema_version`)."""
        d = {
            "schema_version": SCHEMA_VERSION,
            "task": self.task,
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "memory_bytes": self.memory_bytes,
            "sampled": self.sampled,
            "n_rows_used": self.n_rows_used,
            "n_missing_target": self.n_missing_target,
            "seconds": self.seconds,
            "counts": self._counts(),
            "columns_to_drop": self.columns_to_drop(),
            "suggested_overrides": self.suggested_overrides(),
            "drop_reasons": self.drop_reasons,
            "leaking_columns": self.leaking_columns(),
            "findings": [asdict(f) for f in self.findings],
            "columns": [asdict(c) for c in self.columns],
            "target": self.target,
            "relevance": {
                "method": "binned mutual information (nats, Miller-Madow corrected) vs "
                "shuffled probe features; G-test with Bonferroni",
                "noise_floor": self.noise_floor(),
                "probe_scores": self.probe_scores,
                "features": [asdict(r) for r in self.relevance],
            },
            "leakage": [asdict(s) for s in self.leakage],
            "redundant_pairs": [asdict(p) for p in self.redundant_pairs],
            "model_advice": asdict(self.model_advice),
            "correlation": self.correlation,
            "settings": asdict(self.settings),
            "timings": self.timings,
        }
        return _jsonable(d)

    def _counts(self) -> dict[str, int]:
        counts = {"error": 0, "warn": 0, "info": 0}
        for f in self.findings:
            counts[f.severity] += 1
        return counts

    # -- rendering (render.py) ----------------------------------------------------------------
    def write(self, out_dir: Path, command: str | None = None) -> list[Path]:
        """Write eda.json, eda.md and (if settings.plots) the PNG plots; returns the paths.

        `command`: the command line that applies the advice, ending eda.md."""
        from mlengine.eda.render import write

        return write(self, out_dir, command)

    def console_summary(self, selecting: bool = False) -> str:
        """A few lines for the terminal: counts, errors, warnings, relevance, advice.

        `selecting`: the run drops what the report rates unusable (`features.select=eda`);
        otherwise the summary says what that option would drop.
        """
        from mlengine.eda.render import console_summary

        return console_summary(self, selecting)

    def to_markdown(self, plots: Sequence[str] = (), command: str | None = None) -> str:
        """One page a person reads in a minute: verdict first, details after."""
        from mlengine.eda.render import to_markdown

        return to_markdown(self, plots, command)


def drop_override(columns: Sequence[str]) -> str:
    """`features.drop=[a,"b c"]`: Hydra's list syntax, names quoted where they need it."""
    return "features.drop=[" + ",".join(_hydra_value(c) for c in columns) + "]"


def _hydra_value(name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
        return name
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
