"""search.ensemble=K: a greedy (Caruana) ensemble of the best trials' out-of-fold predictions.

Caruana et al. (2004), "Ensemble selection from libraries of models": start from nothing and
add, with replacement, the trial whose out-of-fold predictions most improve the ensemble's
score, for a fixed number of rounds; a member's weight is how often it was picked. The
out-of-fold predictions are the ones CV already made, so selection costs no fitting; the
chosen members are refit like a single best trial and exported as one estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from mlengine.metrics import METRICS, score_predictions

SELECTION_ROUNDS = 25  # picks with replacement: weights are multiples of 1/25
CANDIDATES_PER_MEMBER = 4  # the best K * this many completed trials are candidates


def select(
    oof: dict[int, np.ndarray],
    values: dict[int, float],
    y: np.ndarray,
    metric: str,
    max_members: int,
    classes: np.ndarray | None,
) -> dict[int, float]:
    """Trial number -> weight, at most `max_members` trials; the best single trial alone
    when no blend scores better on the out-of-fold rows."""
    sign = 1.0 if METRICS[metric].direction == "maximize" else -1.0
    finite = [n for n in values if np.isfinite(values[n])]  # NaN would scramble the ranking
    ranked = sorted(finite, key=lambda n: sign * values[n], reverse=True)
    candidates = [n for n in ranked if n in oof][: max_members * CANDIDATES_PER_MEMBER]
    if not candidates:
        return {}
    picks: list[int] = []
    total = np.zeros_like(oof[candidates[0]], dtype=np.float64)
    best_score = -np.inf
    for _ in range(SELECTION_ROUNDS):
        allowed = candidates if len(set(picks)) < max_members else sorted(set(picks))
        scored = []
        for number in allowed:
            blend = (total + oof[number]) / (len(picks) + 1)
            scored.append((sign * _score(metric, y, blend, classes), number))
        round_score, number = max(scored, key=lambda s: s[0])
        if picks and round_score <= best_score:
            break
        picks.append(number)
        total += oof[number]
        best_score = round_score
    return {n: picks.count(n) / len(picks) for n in dict.fromkeys(picks)}


def _score(metric: str, y: np.ndarray, blend: np.ndarray, classes: np.ndarray | None) -> float:
    if classes is None:
        return score_predictions(metric, y, predictions=blend)
    return score_predictions(
        metric, y, predictions=classes[np.argmax(blend, axis=1)], proba=blend, classes=classes
    )


class WeightedEnsemble(BaseEstimator):
    """Fitted pipelines averaged with weights: probabilities for classifiers, values for
    regressors. Plain attributes, so skops saves it without pickle."""

    def __init__(self, members: list[Any], weights: list[float]) -> None:
        self.members = members
        self.weights = weights

    @property
    def classes_(self) -> np.ndarray:
        return self.members[0].classes_

    @property
    def feature_names_in_(self) -> np.ndarray:
        return self.members[0].feature_names_in_

    def predict_proba(self, X: Any) -> np.ndarray:
        return sum(w * m.predict_proba(X) for m, w in zip(self.members, self.weights, strict=True))

    def predict(self, X: Any) -> np.ndarray:
        if hasattr(self.members[0], "predict_proba") and hasattr(self.members[0], "classes_"):
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return sum(w * m.predict(X) for m, w in zip(self.members, self.weights, strict=True))
