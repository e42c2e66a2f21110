"""The MLflow Model Registry: each export becomes a version; `champion` marks the best one.

Serving code loads ``models:/NAME@champion``, so the alias only moves to a version that
beats the champion on the same data and the same metric. MLflow keeps no alias history,
so every decision is written as tags on the versions involved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlengine.config import MlengineError

CHAMPION = "champion"
TAG = "mlengine."
CHAMPION_TAG = f"{TAG}champion."


@dataclass
class Registration:
    name: str  # registered model name
    version: str  # the new version
    promoted: bool  # whether `champion` now points at it
    reason: str  # one line: why it was or was not promoted
    previous: str | None  # the version `champion` pointed at before (None if none)


def register(
    model_uri: str,
    name: str,
    *,
    run_id: str,
    metric: str,
    score: float,
    direction: str,
    fingerprint: str,
    client: Any = None,
) -> Registration:
    """Register `model_uri` (``models:/<id>`` or ``runs:/<run>/<path>``) as a new version of
    `name` (`mlflow.register_model`, on the global registry) and move `champion` to it when
    it is better (see `_decide`).

    Not atomic: MLflow has no compare-and-set on aliases, so two jobs registering at once
    can both read the same champion (or none) and the last to set the alias wins, even if
    it is the worse one. Register from one job at a time when that matters.
    `client` (for the alias and tags) must use that same registry.
    """
    import mlflow

    check_name(name)
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', not {direction!r}")
    client = client or mlflow.MlflowClient()
    tags = {
        f"{TAG}metric": metric,
        f"{TAG}score": repr(float(score)),
        f"{TAG}direction": direction,
        f"{TAG}data_fingerprint": fingerprint,
        f"{TAG}run_id": run_id,
        f"{TAG}registered_at": _now(),
    }
    created = mlflow.register_model(model_uri, name, tags=tags)
    # SQLite stores give versions as int, REST ones as str: one type for callers and tags.
    version = str(created.version)
    previous = client.get_registered_model(name).aliases.get(CHAMPION)
    previous = None if previous is None else str(previous)
    champion = client.get_model_version(name, previous).tags if previous else None
    promoted, reason = _decide(tags, champion, previous)
    if not promoted:
        client.set_model_version_tag(name, version, f"{CHAMPION_TAG}reason", reason)
        return Registration(name, version, False, reason, previous)
    # The alias first: if a tag write fails after it, serving is right and only history lags.
    client.set_registered_model_alias(name, CHAMPION, version)
    now = _now()
    before = (champion or {}).get(f"{TAG}score", "none")
    history = {"previous_version": previous or "none", "previous_score": before}
    for key, value in {**history, "promoted_at": now, "reason": reason}.items():
        client.set_model_version_tag(name, version, CHAMPION_TAG + key, value)
    if previous:
        client.set_model_version_tag(name, previous, f"{CHAMPION_TAG}replaced_by", version)
        client.set_model_version_tag(name, previous, f"{CHAMPION_TAG}replaced_at", now)
    return Registration(name, version, True, reason, previous)


def check_name(name: str) -> None:
    """Refuse names that break ``models:/NAME@champion`` URIs ('/', ':' and '@' split them)."""
    if not name.strip() or any(c in name for c in "/:@"):
        raise MlengineError(
            f"Invalid registered model name {name!r}: set export.registered_model to a "
            "non-empty name without '/', ':' or '@' (e.g. export.registered_model=churn)"
        )


def _decide(
    new: dict[str, str], champion: dict[str, str] | None, version: str | None
) -> tuple[bool, str]:
    """(promote?, why) from the tags of the new version and the champion's. Versions compete
    only on the same data and metric: a score on other rows or another metric ranks nothing."""
    metric, score = new[f"{TAG}metric"], float(new[f"{TAG}score"])
    if not math.isfinite(score):
        return False, f"holdout {metric} is {score}, not a finite score"
    if champion is None:
        return True, "no champion yet"
    other, ranked_on = champion.get(f"{TAG}data_fingerprint"), champion.get(f"{TAG}metric")
    if other != new[f"{TAG}data_fingerprint"]:
        data = f"fingerprint {other[:12]}…" if other else "no mlengine.data_fingerprint tag"
        why = f"was trained on other data ({data})"
    elif ranked_on != metric:
        why = f"is ranked on {ranked_on}, not {metric}"
    else:
        best = float(champion[f"{TAG}score"])
        better = score > best if new[f"{TAG}direction"] == "maximize" else score < best
        verb = "beats" if better else "does not beat"
        return better, f"holdout {metric} {score:g} {verb} champion v{version}'s {best:g}"
    return False, f"champion v{version} {why}; this version does not compete with it"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
