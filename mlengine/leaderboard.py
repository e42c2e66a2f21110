"""A multirun's leaderboard: every job ranked by its holdout score, then its CV score.

Each job shows its holdout interval (evaluation.level); a job whose interval overlaps the
leader's is marked "not distinguishable": on that holdout the two cannot be told apart.

Jobs are ranked within their dataset and metric (scores of different tables do not
compare); failed jobs follow with their reason. The same table goes to the console, to
leaderboard.csv and leaderboard.md in the sweep folder, and to a sweep-level MLflow run
tagged `mlengine.sweep`, the tag every job's runs carry, so the UI filters a sweep's jobs.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLUMNS = (
    "rank",
    "job",
    "dataset",
    "model",
    "metric",
    "holdout",
    "holdout_ci_low",
    "holdout_ci_high",
    "vs_leader",
    "cv",
    "trials",
    "wall_s",
    "status",
    "reason",
    "overrides",
    "run_id",
)


def rank(jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows in leaderboard order, each with its `rank` within dataset and metric."""
    from mlengine.metrics import METRICS

    def key(job: dict[str, Any]) -> tuple:
        metric = METRICS.get(job.get("metric", ""))
        sign = 1.0 if metric and metric.direction == "minimize" else -1.0
        holdout, cv = _number(job.get("holdout")), _number(job.get("cv"))
        return (
            job["dataset"],
            job.get("metric", ""),
            holdout is None,  # a job without a holdout score ranks after those with one
            sign * (holdout or 0.0),
            sign * (cv or 0.0),
        )

    done = sorted((j for j in jobs if j["status"] == "ok"), key=key)
    rows, previous, position, leader = [], None, 0, {}
    for job in done:
        group = (job["dataset"], job.get("metric", ""))
        position = position + 1 if group == previous else 1
        previous = group
        leader = job if position == 1 else leader
        rows.append({**job, "rank": position, "vs_leader": _versus(job, leader)})
    failed = sorted((j for j in jobs if j["status"] != "ok"), key=lambda j: j["job"])
    rows += [{**job, "rank": ""} for job in failed]
    return [{c: row.get(c, "") for c in COLUMNS} for row in rows]


def console_table(rows: Sequence[dict[str, Any]]) -> str:
    shown = ("rank", "job", "dataset", "model", "metric", "holdout", "interval", "vs_leader")
    shown += ("cv", "trials", "wall_s")
    cells = [
        [_cell(row[c]) if c != "interval" else _interval(row) for c in shown]
        for row in rows
        if row["status"] == "ok"
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(shown)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines += [
        f"failed #{row['job']} {row['overrides']}: {row['reason']}"
        for row in rows
        if row["status"] != "ok"
    ]
    return "\n".join(lines)


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [_cell(row[c]).replace("|", "\\|").replace("\n", " ") for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(rows: Sequence[dict[str, Any]], folder: Path) -> list[Path]:
    csv_path, md_path = folder / "leaderboard.csv", folder / "leaderboard.md"
    with open(csv_path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    md_path.write_text(to_markdown(rows))
    return [csv_path, md_path]


def log_to_mlflow(
    rows: Sequence[dict[str, Any]], paths: Sequence[Path], jobs: Sequence[dict]
) -> str | None:
    """The sweep-level run (in the jobs' experiment) holding the leaderboard; its id."""
    located = [j for j in jobs if j.get("tracking_uri") and j.get("experiment_id")]
    if not located:
        return None
    from mlflow.tracking import MlflowClient

    first = located[0]
    client = MlflowClient(first["tracking_uri"])
    run = client.create_run(
        first["experiment_id"],
        run_name=f"sweep-{Path(first['sweep']).name}",
        tags={"mlengine.sweep": first["sweep"], "mlengine.run_kind": "sweep"},
    )
    from mlflow.entities import Metric

    done = [r for r in rows if r["status"] == "ok"]
    client.log_batch(
        run.info.run_id,
        metrics=[
            Metric("jobs", len(rows), 0, 0),
            Metric("jobs_failed", len(rows) - len(done), 0, 0),
        ],
    )
    for path in paths:
        client.log_artifact(run.info.run_id, str(path))
    client.set_terminated(run.info.run_id, "FINISHED" if len(done) == len(rows) else "FAILED")
    return run.info.run_id


def _versus(job: dict[str, Any], leader: dict[str, Any]) -> str:
    """'leader', 'not distinguishable' (the intervals overlap), 'behind', or '' (no interval)."""
    if job is leader:
        return "leader"
    bounds = [
        _number(j.get(k)) for j in (job, leader) for k in ("holdout_ci_low", "holdout_ci_high")
    ]
    if None in bounds:
        return ""
    low, high, leader_low, leader_high = bounds
    return "not distinguishable" if low <= leader_high and leader_low <= high else "behind"


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _interval(row: dict[str, Any]) -> str:
    low, high = _number(row.get("holdout_ci_low")), _number(row.get("holdout_ci_high"))
    return "" if low is None or high is None else f"[{low:.4f}, {high:.4f}]"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.1f}"
    return str(value)
