"""The EDA report for people: eda.md, the terminal summary, and the files `write` leaves.

The report's data and its JSON are report.py's; this module only presents them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlengine.eda._util import _fmt, _md_cell, _n, _pct
from mlengine.eda.registry import CHECK_FAILED

if TYPE_CHECKING:
    from mlengine.eda.report import EdaReport


def write(report: EdaReport, out_dir: Path, command: str | None = None) -> list[Path]:
    """Write eda.json, eda.md and (if settings.plots) the PNG plots; returns the paths.

    `command`: the command line that applies the advice, ending eda.md."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "eda.json"
    json_path.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    plots: list[Path] = []
    if report.settings.plots:
        from mlengine.eda.plots import write_plots

        plots = write_plots(report, out_dir)
    md_path = out_dir / "eda.md"
    md_path.write_text(to_markdown(report, plots=[p.name for p in plots], command=command))
    return [json_path, md_path, *plots]


def console_summary(report: EdaReport, selecting: bool = False) -> str:
    """A few lines for the terminal: counts, errors, warnings, relevance, advice.

    `selecting`: the run drops what the report rates unusable (`features.select=eda`);
    otherwise the summary says what that option would drop.
    """
    c = report._counts()
    sample = f"sampled {report.n_rows_used:,} rows" if report.sampled else "all rows"
    lines = [
        f"EDA: {report.n_rows:,} rows x {report.n_columns} columns ({report.task}), "
        f"{report.seconds:.1f}s, {sample}: {_n(c['error'], 'error')}, "
        f"{_n(c['warn'], 'warning')}"
    ]
    for sev in ("error", "warn"):
        items = [
            f"{f.check}({', '.join(f.columns[:4])}{', ...' if len(f.columns) > 4 else ''})"
            if f.columns
            else f.check
            for f in report.findings
            if f.severity == sev
        ]
        if items:
            lines.append(f"  {sev}: " + "; ".join(items))
    for f in report.findings:
        if f.check == CHECK_FAILED:
            lines.append(f"  check failed, skipped: {f.evidence['check']} ({f.evidence['error']})")
    verdicts = [r.verdict for r in report.relevance]
    if verdicts:
        lines.append(
            f"  relevance: {verdicts.count('useful')} useful, "
            f"{verdicts.count('weak')} weak, {verdicts.count('irrelevant')} "
            f"irrelevant (noise floor {report.noise_floor():.4f} nats)"
        )
    if report.drop_reasons:
        names = ", ".join(list(report.drop_reasons)[:8]) + (
            ", ..." if len(report.drop_reasons) > 8 else ""
        )
        lines.append(
            f"  features.select=eda drops {len(report.drop_reasons)}: {names}"
            if selecting
            else f"  would drop {len(report.drop_reasons)} (opt in: features.select=eda): {names}"
        )
    if report.model_advice.ranking:
        top = " > ".join(a.label for a in report.model_advice.ranking[:3])
        lines.append(f"  model families: {top}")
    return "\n".join(lines)


def to_markdown(report: EdaReport, plots: Sequence[str] = (), command: str | None = None) -> str:
    """One page a person reads in a minute: verdict first, details after."""
    c = report._counts()
    t = report.target
    if report.task == "classification":
        tdesc = f"{t.get('n_classes', 0)} classes, minority share {_pct(t.get('minority_share'))}"
    else:
        tdesc = f"skew {_fmt(t.get('skew'))}"
    out = [
        "# EDA report",
        "",
        f"**{report.task}** | {report.n_rows:,} rows x {report.n_columns} features | "
        f"{report.memory_bytes / 2**20:.1f} MiB | target: {tdesc} | {report.seconds:.1f} s",
        "",
        (
            f"Expensive checks (relevance, leakage, redundancy, baselines) used a stratified "
            f"sample of {report.n_rows_used:,} of {report.n_rows:,} rows."
            if report.sampled
            else "All checks used every row."
        ),
        "",
        "## Verdict",
        "",
        f"- **{_n(c['error'], 'error')}, {_n(c['warn'], 'warning')}, {_n(c['info'], 'note')}.**",
    ]
    for f in report.findings:
        if f.severity == "error":
            out.append(f"- **ERROR** `{f.check}`: {f.message}")
    if report.drop_reasons:
        items = ", ".join(f"`{k}` ({'/'.join(v)})" for k, v in report.drop_reasons.items())
        out.append(f"- **`features.select: eda` drops {len(report.drop_reasons)}:** {items}")
    else:
        out.append("- `features.select: eda` drops nothing.")
    if report.model_advice.ranking:
        out.append(
            "- **Model families:** "
            + "; ".join(
                f"{a.rank}. `{a.label}` ({a.reasons[0] if a.reasons else 'default'})"
                for a in report.model_advice.ranking[:3]
            )
        )
    out += [
        "",
        "## Findings",
        "",
        "| severity | check | columns | finding |",
        "|---|---|---|---|",
    ]
    for f in report.findings:
        cols = ", ".join(f"`{x}`" for x in f.columns[:6]) + (" ..." if len(f.columns) > 6 else "")
        out.append(f"| {f.severity} | {f.check} | {cols} | {_md_cell(f.message)} |")
    if report.relevance:
        out += [
            "",
            "## Feature relevance",
            "",
            f"Score: mutual information with the target (nats, bias-corrected). Noise "
            f"floor: the best of {len(report.probe_scores)} shuffled probe features = "
            f"{report.noise_floor():.4f}. Irrelevant = no better than noise.",
            "",
            "| rank | feature | score | share of target entropy | p-value | verdict |",
            "|---|---|---|---|---|---|",
        ]
        shown = report.relevance[:20]
        for r in shown:
            out.append(
                f"| {r.rank} | `{r.column}` | {r.score:.4f} | {_pct(r.share)} | "
                f"{r.p_value:.1e} | {r.verdict} |"
            )
        rest = report.relevance[20:]
        if rest:
            out.append(
                f"\n...and {len(rest)} more: "
                + ", ".join(
                    f"{v} {sum(r.verdict == v for r in rest)}"
                    for v in ("useful", "weak", "irrelevant")
                )
            )
    advice = report.model_advice
    if advice.baselines:
        out += [
            "",
            f"## Baselines ({report.settings.baseline_folds}-fold CV, "
            f"{advice.problem.get('baseline_rows', 0):,} rows, {advice.metric})",
            "",
            "| baseline | model | score | seconds |",
            "|---|---|---|---|",
        ]
        for b in advice.baselines:
            out.append(
                f"| {b.name} | {b.model} | {_fmt(b.mean)} +/- {_fmt(b.std)} | {b.seconds:.2f} |"
            )
    if advice.ranking:
        out += ["", "## Model families", ""]
        for a in advice.ranking:
            out.append(f"{a.rank}. `{a.label}` ({a.score:+.1f}): " + "; ".join(a.reasons))
    if plots:
        out += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots]
    if command:
        out += ["", "## Apply the advice", "", "```", command, "```"]
    return "\n".join(out) + "\n"
