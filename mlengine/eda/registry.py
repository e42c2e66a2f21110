"""The EDA's checks, registered in one place, and the context they share.

A check is `fn(ctx: EdaContext) -> list[Finding]`, registered with `@check(name, stage=...)`;
its findings carry its name, and that name is a word `eda.fail_on` accepts. A step is
`fn(ctx) -> None`, registered with `@step(name, stage=...)`: it computes something later
checks read (relevance scores, the baseline models) and reports nothing itself. `run_eda`
runs the stages in order and, within a stage, what is registered in registration order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlengine.eda.baselines import _BaselineRun
    from mlengine.eda.columns import _ColumnFacts
    from mlengine.eda.report import (
        ColumnProfile,
        EdaSettings,
        FeatureRelevance,
        LeakageSuspect,
        ModelAdvice,
        RedundantPair,
    )
    from mlengine.eda.sample import Sample
    from mlengine.eda.target import _Target
    from mlengine.families import FamilyProfile

CHECK_FAILED = "check_failed"  # the finding of a check that raised (runner._run_check)

# The stages in run order, each a key of the report's timings. A check reads what earlier
# stages left on the context; checks of one stage that read each other's results live in
# one module, so that registration order (source order) is their run order. The sample,
# the probes, the leakage folds and the baselines draw from one random stream in this
# order: a check that draws from it, moved to another stage, changes the report.
STAGES = (
    "checks",  # cheap checks on every row: shape, columns, duplicates, identifiers, target
    "sample",  # draw the sample the expensive checks read, and check it
    "relevance",  # mutual information against shuffled probes
    "leakage",
    "redundancy",
    "baselines",  # dummy, linear and tree CV; entities' grouped CV
    "verdicts",  # what needs the baselines: conditional relevance, family advice
)

# Where each check's findings are listed (within a severity): how a reader meets the table
# -- its shape, its columns, the target, then what models make of it -- not the order the
# checks run in (the relevance verdicts wait for the baselines).
REPORT_ORDER = (
    "shape",
    "sampling",
    "missing_values",
    "constant",
    "quasi_constant",
    "duplicate_rows",
    "duplicate_columns",
    "id_like",
    "repeated_entity",
    "high_cardinality",
    "mixed_types",
    "infinite_values",
    "target_distribution",
    "missing_target",
    "irrelevant_features",
    "leakage",
    "near_leak",
    "redundancy",
    "baseline_signal",
    "model_advice",
)


@dataclass
class EdaContext:
    """What the checks share: the table and its full-data facts (set by `run_eda` before the
    first stage), then what checks and steps leave for the ones after them."""

    X: pd.DataFrame  # every row; columns named by strings
    target: _Target  # every row
    settings: EdaSettings
    seed: int
    rng: np.random.Generator  # the one random stream (see STAGES)
    kinds: dict[str, str]
    profiles: dict[str, ColumnProfile]
    facts: dict[str, _ColumnFacts]
    memory_bytes: int
    n_missing_target: int
    families: Sequence[FamilyProfile] | None  # None: those shipped in conf/model/
    row_hash: np.ndarray | None  # a hash per row, for duplicate_rows (which frees it)
    # left by checks and steps for later ones; each is set by its namesake or as noted
    constant: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)  # duplicate_columns' groups
    id_like: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)  # id_like's: ids by name or shape
    entity_candidates: list[str] = field(default_factory=list)  # id_like's: plain integers
    entity_evidence: dict[str, Any] = field(default_factory=dict)  # id_like's
    entity_drop: list[str] = field(default_factory=list)  # id_like's and repeated_entity's
    sample: Sample = None  # type: ignore[assignment]  # sampling's; every later stage reads it
    relevance: list[FeatureRelevance] = field(default_factory=list)
    probe_scores: list[float] = field(default_factory=list)  # relevance's
    leakage: list[LeakageSuspect] = field(default_factory=list)
    single_feature: dict[str, tuple[str, float]] = field(default_factory=dict)  # leakage's
    redundant_pairs: list[RedundantPair] = field(default_factory=list)  # redundancy's
    correlation: dict[str, Any] = field(default_factory=dict)  # redundancy's
    baselines: _BaselineRun = None  # type: ignore[assignment]  # the baselines step's
    advice: ModelAdvice = None  # type: ignore[assignment]  # the family_ranking step's
    irrelevant: list[str] = field(default_factory=list)  # irrelevant_features'

    @property
    def task(self) -> str:
        return self.target.task

    @property
    def n(self) -> int:
        return len(self.X)

    @property
    def model_columns(self) -> list[str]:
        """The sample's columns a model may read: neither identifiers nor leaks."""
        leaks = {s.column for s in self.leakage}
        return [c for c in self.sample.usable if c not in self.id_like and c not in leaks]


F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Registered:
    name: str
    stage: str
    fn: Callable[[EdaContext], Any]
    emits: bool  # a check (returns its findings), or a step (returns None)


class Registry:
    """An ordered set of checks and steps; `REGISTRY` is the one `run_eda` runs."""

    def __init__(self) -> None:
        self._entries: list[Registered] = []

    def check(self, name: str, *, stage: str) -> Callable[[F], F]:
        """Register `fn(ctx) -> list[Finding]`; its findings carry `name`."""
        return self._register(name, stage, emits=True)

    def step(self, name: str, *, stage: str) -> Callable[[F], F]:
        """Register `fn(ctx) -> None`, which leaves its results on the context."""
        return self._register(name, stage, emits=False)

    def _register(self, name: str, stage: str, emits: bool) -> Callable[[F], F]:
        if stage not in STAGES:
            raise ValueError(f"EDA stage {stage!r} is not one of {STAGES}")

        def add(fn: F) -> F:
            params = list(inspect.signature(fn).parameters.values())
            if len(params) != 1 or params[0].kind not in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            ):
                raise TypeError(f"EDA check {name!r} must take one argument, the EdaContext")
            if any(e.name == name for e in self._entries):
                raise ValueError(f"EDA check {name!r} is registered twice")
            self._entries.append(Registered(name, stage, fn, emits))
            return fn

        return add

    def entries(self) -> list[Registered]:
        """Everything registered, in run order: by stage, then by registration."""
        return [e for stage in STAGES for e in self.in_stage(stage)]

    def in_stage(self, stage: str) -> list[Registered]:
        return [e for e in self._entries if e.stage == stage]

    def check_names(self) -> tuple[str, ...]:
        """The checks' names (not the steps'), in REPORT_ORDER; any others after, as
        registered."""
        names = [e.name for e in self._entries if e.emits]
        last = len(REPORT_ORDER)
        return tuple(
            sorted(names, key=lambda n: REPORT_ORDER.index(n) if n in REPORT_ORDER else last)
        )

    @contextmanager
    def scoped(self) -> Iterator[Registry]:
        """What is registered inside the block is unregistered after it (tests, notebooks)."""
        saved = list(self._entries)
        try:
            yield self
        finally:
            self._entries[:] = saved


REGISTRY = Registry()
check = REGISTRY.check
step = REGISTRY.step
