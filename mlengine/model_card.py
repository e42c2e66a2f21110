"""The model card: what the served model is, what it was trained on, how good and how
costly it is. `model_card.json` for tools, `model_card.md` for people; both are saved in
every exported model folder and logged on the run (`model_card/`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"


def build_card(
    *,
    task: str,
    fingerprint: str,
    schema: Any,
    metric: str,
    family: str,
    best_params: dict[str, Any],
    cv: dict[str, float],
    holdout: dict[str, float],
    delivery: Any,
    intervals: dict[str, list[float]] | None = None,
    digests: dict[str, str] | None = None,
    importance: list[dict[str, Any]] | None = None,
    registration: Any = None,
    run_id: str = "",
) -> dict[str, Any]:
    """The card as plain JSON data. `schema`: the TableSchema with the run's drop reasons;
    `delivery`: mlengine.delivery.Delivery; `registration`: the
    mlengine.registry.Registration's fields."""
    columns = [c for c in schema.columns if c.role != "target"]
    return {
        "task": task,
        "run_id": run_id,
        "data": {
            "fingerprint": fingerprint,
            "digests": digests or {},  # split -> the MLflow dataset input's digest
            "schema": schema.to_dict(),
        },
        "features": {
            "used": [c.name for c in columns if c.role == "feature"],
            "dropped": {c.name: c.reason or c.role for c in columns if c.role != "feature"},
        },
        "model": {"family": family, "best_params": best_params, "ranked_by": metric},
        "metrics": {"cv": cv, "holdout": holdout, "holdout_intervals": intervals or {}},
        "importance": importance or [],
        "forms": [form.to_dict() for form in delivery.forms],
        "served_form": delivery.served.kind,
        "onnx_reason": delivery.onnx_reason,
        "registration": registration,
    }


def write_card(card: dict[str, Any], folder: Path) -> list[Path]:
    folder = Path(folder)
    json_path = folder / CARD_JSON
    json_path.write_text(json.dumps(card, indent=2, default=str))
    md_path = folder / CARD_MD
    md_path.write_text(to_markdown(card))
    return [json_path, md_path]


def to_markdown(card: dict[str, Any]) -> str:
    model, metrics = card["model"], card["metrics"]
    digests = ", ".join(f"{k} `{v}`" for k, v in card["data"]["digests"].items())
    lines = [
        f"# Model card: {model['family']} ({card['task']})",
        "",
        f"- Data fingerprint: `{card['data']['fingerprint']}`"
        + (f" (MLflow dataset digests: {digests})" if digests else ""),
        f"- Ranked by: {model['ranked_by']}; MLflow run: `{card['run_id']}`",
        f"- Served form: **{card['served_form']}**",
    ]
    if card["onnx_reason"]:
        lines.append(f"- No ONNX form: {card['onnx_reason']}")
    if registration := card["registration"]:
        lines.append(
            f"- Registered: {registration['name']} v{registration['version']}"
            f" ({'champion' if registration['promoted'] else 'not champion'}:"
            f" {registration['reason']})"
        )
    lines += ["", "## Metrics", "", "| split | metric | value | interval |", "|---|---|---|---|"]
    lines += [f"| cv | {k} | {v:.4f} | |" for k, v in metrics["cv"].items()]
    for k, v in metrics["holdout"].items():
        low_high = metrics["holdout_intervals"].get(k)
        shown = f"[{low_high[0]:.4f}, {low_high[1]:.4f}]" if low_high else ""
        lines.append(f"| holdout | {k} | {v:.4f} | {shown} |")
    if card["importance"]:
        lines += ["", "## Permutation importance (holdout)", ""]
        lines += ["| feature | importance | std |", "|---|---|---|"]
        lines += [
            f"| `{i['name']}` | {i['mean']:.4f} | {i['std']:.4f} |" for i in card["importance"][:20]
        ]
    lines += ["", "## Features", "", f"Used ({len(card['features']['used'])}): "]
    lines.append(", ".join(f"`{c}`" for c in card["features"]["used"]) or "(none)")
    if card["features"]["dropped"]:
        lines += ["", "Dropped:", ""]
        lines += [f"- `{c}`: {why}" for c, why in card["features"]["dropped"].items()]
    lines += ["", "## Best parameters", ""]
    lines += [f"- `{k}` = {v!r}" for k, v in model["best_params"].items()] or ["(defaults)"]
    lines += [
        "",
        "## Exported forms",
        "",
        "| form | size (MB) | serving env (MB) | 1 row (ms) | 1,000 rows (ms) | parity |",
        "|---|---|---|---|---|---|",
    ]
    for form in card["forms"]:
        lines.append(
            f"| {form['kind']} | {form['size_bytes'] / 1e6:.2f} "
            f"| {form['serving_env_bytes'] / 1e6:.0f} | {form['latency_1row_ms']:.3f} "
            f"| {form['latency_1000rows_ms']:.1f} | {_parity(form['parity'])} |"
        )
    lines += ["", "## Serving requirements", ""]
    for form in card["forms"]:
        lines.append(f"- {form['kind']}: " + ", ".join(f"`{r}`" for r in form["requirements"]))
    return "\n".join(lines) + "\n"


def _parity(parity: dict[str, Any] | None) -> str:
    if parity is None:
        return "reference"
    labels = parity.get("label_agreement")
    shown = f"labels {labels:.1%}, " if labels is not None else ""
    return f"{shown}max diff {parity['max_abs_diff']:.2g} on {parity['rows']} rows"
