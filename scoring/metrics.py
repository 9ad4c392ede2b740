"""Ranking metrics of the scorer that stay defined on degenerate splits."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC, or nan when `labels` hold fewer than two classes (e.g. a val split with no clicks)."""
    labels = np.asarray(labels)
    if labels.size == 0 or np.unique(labels).size < 2:
        return float("nan")
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64)))
