"""The EDA's check registry: it is what run_eda runs, and what eda.fail_on accepts."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from mlengine.config import ConfigError
from mlengine.eda import CHECKS, REGISTRY, EdaContext, EdaSettings, Finding, check, run_eda
from mlengine.eda.registry import CHECK_FAILED, REPORT_ORDER, STAGES
from mlengine.validation import check_fail_on

FAST = EdaSettings(run_baselines=False, plots=False)


def _table(n: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=n), "const": 1.0})
    return X, pd.Series((x + rng.normal(size=n) > 0).astype(int))


def _names(emits: bool) -> list[str]:
    return [e.name for e in REGISTRY.entries() if e.emits is emits]


def test_fail_on_accepts_exactly_the_registered_checks() -> None:
    # No extras: every name a finding carries is a registered check's own (run_eda reports a
    # check that reports under another name as failed), so CHECKS is the checks' names.
    checks = _names(emits=True)
    assert sorted(checks) == sorted(CHECKS) and len(set(checks)) == len(checks)
    assert CHECKS == REPORT_ORDER  # every built-in check has its place in the report
    assert not set(_names(emits=False)) & set(CHECKS)  # steps report nothing
    check_fail_on(list(CHECKS))  # the config's validation accepts each
    for step_name in _names(emits=False):
        with pytest.raises(ConfigError, match="not EDA checks"):
            check_fail_on([step_name])


@pytest.mark.parametrize("entry", REGISTRY.entries(), ids=lambda e: e.name)
def test_every_check_and_step_takes_the_context_alone(entry) -> None:
    sig = inspect.signature(entry.fn)
    (param,) = sig.parameters.values()
    assert param.annotation == "EdaContext"
    assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert sig.return_annotation == ("list[Finding]" if entry.emits else "None")
    assert entry.stage in STAGES


def test_a_registered_check_runs_inside_run_eda_and_reads_earlier_stages() -> None:
    X, y = _table()
    seen: dict[str, object] = {}
    with REGISTRY.scoped():

        @check("wide_constant", stage="verdicts")
        def check_wide_constant(ctx: EdaContext) -> list[Finding]:
            seen["sample_rows"] = len(ctx.sample.rows)
            seen["scored"] = sorted(r.column for r in ctx.relevance)
            return [Finding("wide_constant", "warn", list(ctx.constant), "constant columns")]

        report = run_eda(X, y, "classification", FAST)
    assert "wide_constant" not in {e.name for e in REGISTRY.entries()}  # gone after the block
    (found,) = report.failures(["wide_constant"])
    assert found.columns == ["const"] and found.severity == "warn"
    assert seen == {"sample_rows": len(X), "scored": ["noise", "x"]}
    assert "wide_constant" in next(c for c in report.columns if c.name == "const").flags
    # without it, the report has no such finding: the registry, not a fixed list, drives it
    again = run_eda(X, y, "classification", FAST)
    assert not [f for f in again.findings if f.check == "wide_constant"]


def test_a_check_reporting_under_another_name_is_refused() -> None:
    X, y = _table()
    with REGISTRY.scoped():

        @check("impostor", stage="checks")
        def check_impostor(ctx: EdaContext) -> list[Finding]:
            return [Finding("leakage", "error", [], "not my name")]

        report = run_eda(X, y, "classification", FAST)
    (failed,) = [f for f in report.findings if f.check == CHECK_FAILED]
    assert failed.evidence["check"] == "impostor"
    assert "reported findings as ['leakage']" in failed.message
    assert not [f for f in report.findings if f.message == "not my name"]


def test_a_check_that_raises_is_reported_and_the_others_run() -> None:
    X, y = _table()
    with REGISTRY.scoped():

        @check("fragile", stage="checks")
        def check_fragile(ctx: EdaContext) -> list[Finding]:
            raise ValueError("Input groups contains NaN.\nsecond line")

        report = run_eda(X, y, "classification", FAST)
    (failed,) = [f for f in report.findings if f.check == CHECK_FAILED]
    assert failed.evidence == {
        "check": "fragile",
        "error": "ValueError: Input groups contains NaN.",
    }
    assert "`fragile` failed" in failed.message and "\n" not in failed.message
    assert "constant" in {f.check for f in report.findings}  # the checks after it ran
    assert "const" in report.columns_to_drop()
    # shown wherever findings are, and never what eda.fail_on=[warn] stops on
    assert "`fragile` failed" in report.to_markdown()
    assert any(f["check"] == CHECK_FAILED for f in report.to_dict()["findings"])
    assert "check failed, skipped: fragile (ValueError: Input" in report.console_summary(False)
    assert not report.failures(["warn"]) or all(
        f.check != CHECK_FAILED for f in report.failures(["warn"])
    )


def test_registration_checks_the_signature_the_stage_and_the_name() -> None:
    with REGISTRY.scoped():
        with pytest.raises(TypeError, match="one argument"):

            @check("two_args", stage="checks")
            def two(ctx: EdaContext, extra: int) -> list[Finding]:
                return []

        with pytest.raises(ValueError, match="stage"):
            check("nowhere", stage="later")
        with pytest.raises(ValueError, match="registered twice"):

            @check("constant", stage="checks")
            def again(ctx: EdaContext) -> list[Finding]:
                return []

    assert [e.name for e in REGISTRY.entries()].count("constant") == 1
