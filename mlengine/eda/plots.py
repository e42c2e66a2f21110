"""PNG plots of an EDA report, drawn from the report alone (no access to the data).

Why a separate module: matplotlib costs ~0.5 s to import, so it loads only when plots are
written. Figures use the object-oriented API with the Agg canvas: no pyplot, no global
backend switch, safe inside a host process that uses another backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mlengine.eda.report import EdaReport

_VERDICT_COLOURS = {"useful": "#2b8a3e", "weak": "#e8a33d", "irrelevant": "#adb5bd"}


def write_plots(report: EdaReport, out_dir: Path) -> list[Path]:
    """Target distribution, missingness, relevance vs probes, correlation heatmap."""
    plots = [
        ("target.png", _target),
        ("missingness.png", _missingness),
        ("relevance.png", _relevance),
        ("correlation.png", _correlation),
    ]
    paths = []
    for name, draw in plots:
        fig = draw(report)
        path = Path(out_dir) / name
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


def figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _empty(fig: Figure, title: str, text: str) -> Figure:
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="#495057")
    return fig


def _target(report: EdaReport) -> Figure:
    fig = figure(6, 3.5)
    t: dict[str, Any] = report.target
    if report.task == "classification":
        classes = t.get("classes", [])[:30]
        if not classes:
            return _empty(fig, "Target", "no target values")
        ax = fig.add_subplot()
        labels = [c["label"][:20] for c in classes]
        ax.bar(range(len(classes)), [c["count"] for c in classes], color="#1c7ed6")
        ax.set_xticks(
            range(len(classes)),
            labels,
            rotation=45 if len(labels) > 6 else 0,
            ha="right" if len(labels) > 6 else "center",
        )
        ax.set_ylabel("rows")
        ax.set_title(f"Target classes (minority share {t.get('minority_share', 0):.1%})")
        return fig
    hist = t.get("histogram")
    if not hist:
        return _empty(fig, "Target", "no target values")
    ax = fig.add_subplot()
    edges, counts = hist["edges"], hist["counts"]
    ax.stairs(counts, edges, fill=True, color="#1c7ed6")
    ax.set_xlabel("target")
    ax.set_ylabel("rows")
    ax.set_title(f"Target distribution (skew {t.get('skew') or 0:.2f})")
    return fig


def _missingness(report: EdaReport) -> Figure:
    cols = sorted((c for c in report.columns if c.n_missing), key=lambda c: -c.missing_share)
    cols = cols[:40]
    fig = figure(6, max(2.0, 0.25 * len(cols) + 1))
    if not cols:
        return _empty(fig, "Missing values", "no missing values")
    ax = fig.add_subplot()
    ax.barh(range(len(cols)), [c.missing_share for c in cols], height=0.6, color="#f76707")
    ax.set_yticks(range(len(cols)), [c.name[:30] for c in cols])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of rows missing")
    ax.set_title("Missing values per column")
    return fig


def _relevance(report: EdaReport) -> Figure:
    rel = report.relevance[:30]
    probes = sorted(report.probe_scores, reverse=True)
    n = len(rel) + len(probes)
    fig = figure(7, max(2.5, 0.25 * n + 1.2))
    if not rel:
        return _empty(fig, "Feature relevance", "no feature could be scored")
    ax = fig.add_subplot()
    names = [r.column[:30] for r in rel] + [f"probe {i + 1}" for i in range(len(probes))]
    values = [r.score for r in rel] + probes
    colours = [_VERDICT_COLOURS[r.verdict] for r in rel] + ["#e03131"] * len(probes)
    ax.barh(range(n), values, color=colours)
    ax.set_yticks(range(n), names)
    ax.invert_yaxis()
    floor = report.noise_floor()
    ax.axvline(floor, color="#e03131", linestyle="--", linewidth=1)
    # symlog: noise, probes and the floor sit near 0 and would vanish on a linear axis
    ax.set_xscale("symlog", linthresh=max(abs(floor), 1e-4))
    ax.set_xlabel("mutual information with target (nats, bias-corrected; symlog scale)")
    ax.set_title(f"Relevance vs {len(probes)} shuffled probes (red; floor {floor:.4f})")
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=c, label=v) for v, c in _VERDICT_COLOURS.items()]
        + [Patch(color="#e03131", label="probe")],
        loc="lower right",
        fontsize=8,
    )
    return fig


def _correlation(report: EdaReport) -> Figure:
    cols = report.correlation.get("columns", [])
    fig = figure(7, 6)
    if len(cols) < 2:
        return _empty(fig, "Correlation", "fewer than two numeric features")
    ax = fig.add_subplot()
    im = ax.imshow(report.correlation["matrix"], vmin=-1, vmax=1, cmap="RdBu_r")
    labels = [c[:20] for c in cols]
    ax.set_xticks(range(len(cols)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(cols)), labels, fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8, label="Spearman")
    ax.set_title(f"Spearman correlation (top {len(cols)} features by relevance)")
    return fig
