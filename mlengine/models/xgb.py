"""XGBoost classifier that accepts labels of any type, like scikit-learn classifiers do.

XGBoost itself only takes 0..K-1 integer labels; the exported model must return the
user's own labels (strings stay strings), so the encoding lives inside the estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.preprocessing import LabelEncoder
from xgboost import XGBClassifier


class XGBLabelClassifier(XGBClassifier):
    def fit(self, X: Any, y: Any, *, eval_set: list | None = None, **kwargs: Any):
        encoder = LabelEncoder().fit(y)
        if eval_set is not None:
            eval_set = [(Xv, encoder.transform(yv)) for Xv, yv in eval_set]
        super().fit(X, encoder.transform(y), eval_set=eval_set, **kwargs)
        self.labels_ = encoder.classes_
        return self

    @property
    def classes_(self) -> np.ndarray:  # XGBoost derives it from n_classes_ as 0..K-1
        labels = getattr(self, "labels_", None)
        return np.arange(self.n_classes_) if labels is None else labels

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        return self.labels_[np.asarray(super().predict(X, **kwargs), dtype=int)]
