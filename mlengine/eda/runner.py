"""`run_eda`: the full-data pass that every check reads, then the registered checks stage by
stage (registry.py), then the drop list and the report."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mlengine.config import first_line
from mlengine.eda import advice, baselines, checks, ids, leakage, redundancy, relevance, target
from mlengine.eda._util import _lap
from mlengine.eda.advice import _drop_reasons
from mlengine.eda.columns import _ColumnFacts, _profile_column, _resolve_kinds
from mlengine.eda.registry import CHECK_FAILED, REGISTRY, STAGES, EdaContext, Registered
from mlengine.eda.report import ColumnProfile, EdaReport, EdaSettings, Finding
from mlengine.eda.target import _Target
from mlengine.families import FamilyProfile

# Checks register themselves when their module is imported: these are those modules.
_CHECK_MODULES = (advice, baselines, checks, ids, leakage, redundancy, relevance, target)
# The words `eda.fail_on` accepts (besides the severities "error" and "warn"): the names of
# the registered checks, each the name its findings carry, in the order the report lists
# them.
CHECKS = REGISTRY.check_names()
_SEVERITY_ORDER = {"error": 0, "warn": 1, "info": 2}
log = logging.getLogger("mlengine")


def _run_check(entry: Registered, ctx: EdaContext) -> list[Finding]:
    """One check's findings; a check (or step) that raises is reported as a failed check
    with its one-line reason, and the others go on: a diagnostic never ends the run."""
    try:
        found = entry.fn(ctx)
        if not entry.emits:
            return []
        strays = sorted({f.check for f in found} - {entry.name})
        if strays:
            raise RuntimeError(f"it reported findings as {strays}")
        return found
    except Exception as error:  # noqa: BLE001 - any failure of a diagnostic is reported
        reason = f"{type(error).__name__}: {first_line(error)}"
        log.warning("EDA check %r failed and was skipped (%s)", entry.name, reason)
        return [
            Finding(
                CHECK_FAILED,
                "warn",
                [],
                f"EDA check `{entry.name}` failed on this table and was skipped ({reason}); "
                f"the other checks and the run went on.",
                {"check": entry.name, "error": reason},
            )
        ]


def run_eda(
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    settings: EdaSettings | None = None,
    seed: int = 0,
    column_types: Mapping[str, str] | None = None,
    n_missing_target: int = 0,
    families: Sequence[FamilyProfile] | None = None,
) -> EdaReport:
    """Run every check on features X and target y; returns the report (writes nothing).

    `families`: what the model advice ranks (default: the families shipped in conf/model/).
    """
    t_start = time.perf_counter()
    settings = settings or EdaSettings()
    timings: dict[str, float] = {}
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    y = pd.Series(np.asarray(y), name=getattr(y, "name", None))
    X = X.reset_index(drop=True)  # never mutates the caller's frame (copy-on-write)
    if not all(isinstance(c, str) for c in X.columns):
        X = X.rename(columns=str)
    target_na = y.isna().to_numpy()
    if target_na.any():  # defensive: the contract says they are dropped already
        n_missing_target += int(target_na.sum())
        X, y = X.loc[~target_na].reset_index(drop=True), y[~target_na].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    kinds = _resolve_kinds(X, column_types)
    n = len(X)
    tgt = _Target.build(y, task)
    timings["setup"] = _lap(t_start)

    # the full-data pass: profiles, digests, row hashes
    t0 = time.perf_counter()
    profiles: dict[str, ColumnProfile] = {}
    facts: dict[str, _ColumnFacts] = {}
    row_hash = np.zeros(n, dtype=np.uint64)
    for name in X.columns:
        prof, fact, col_hash = _profile_column(X[name], name, kinds[name])
        profiles[name], facts[name] = prof, fact
        row_hash *= np.uint64(1099511628211)
        row_hash ^= col_hash
    memory_bytes = int(X.memory_usage(deep=True, index=False).sum())
    timings["profile"] = _lap(t0)

    ctx = EdaContext(
        X=X,
        target=tgt,
        settings=settings,
        seed=seed,
        rng=rng,
        kinds=kinds,
        profiles=profiles,
        facts=facts,
        memory_bytes=memory_bytes,
        n_missing_target=n_missing_target,
        families=families,
        row_hash=row_hash,
    )
    del row_hash  # the context's: duplicate_rows frees it
    findings: list[Finding] = []
    for stage in STAGES:
        t0 = time.perf_counter()
        for entry in REGISTRY.in_stage(stage):
            findings += _run_check(entry, ctx)
        timings[stage] = _lap(t0)

    drop_reasons = _drop_reasons(
        list(X.columns),
        ctx.constant,
        ctx.id_like,
        ctx.entity_drop,
        {s.column for s in ctx.leakage},
        ctx.irrelevant,
        ctx.duplicates,
        ctx.relevance,
        ctx.leakage,
    )
    for name, reasons in drop_reasons.items():
        profiles[name].flags = sorted(set(profiles[name].flags) | {"drop:" + "/".join(reasons)})
    findings.sort(
        key=lambda f: (
            _SEVERITY_ORDER[f.severity],
            CHECKS.index(f.check) if f.check in CHECKS else 99,
        )
    )
    for f in findings:
        for col in f.columns:
            if col in profiles and f.check not in profiles[col].flags:
                profiles[col].flags.append(f.check)
    return EdaReport(
        task=task,
        n_rows=n,
        n_columns=X.shape[1],
        memory_bytes=memory_bytes,
        sampled=ctx.sample.sampled,
        n_rows_used=int(len(ctx.sample.rows)),
        n_missing_target=int(n_missing_target),
        findings=findings,
        columns=list(profiles.values()),
        relevance=ctx.relevance,
        probe_scores=ctx.probe_scores,
        leakage=ctx.leakage,
        redundant_pairs=ctx.redundant_pairs,
        model_advice=ctx.advice,
        target=tgt.summary,
        correlation=ctx.correlation,
        drop_reasons=drop_reasons,
        settings=settings,
        seconds=round(time.perf_counter() - t_start, 3),
        timings=timings,
    )
