"""Metrics of the scorer that stay defined on degenerate inputs: AUC, calibration error, full-ranking NDCG/Recall."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import roc_auc_score


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC, or nan when `labels` hold fewer than two classes (e.g. a val split with no clicks)."""
    labels = np.asarray(labels)
    if labels.size == 0 or np.unique(labels).size < 2:
        return float("nan")
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64)))


def ece(labels: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: the row-weighted mean |observed rate - mean P| over equal-width P bins."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if y.size == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)  # P == 1 falls in the top bin
    total = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        total += in_bin.sum() * abs(y[in_bin].mean() - p[in_bin].mean())
    return float(total / y.size)


def split_metrics(
    labels: np.ndarray, scores: np.ndarray, is_val: np.ndarray, fit_seconds: float, predict_seconds: float
) -> tuple[dict[str, float], tuple[str, ...]]:
    """AUC and row counts of the train and val splits, and a note for each split whose AUC is nan (one class)."""
    n_train, n_val = int((~is_val).sum()), int(is_val.sum())
    metrics = {
        "auc_train": auc(labels[~is_val], scores[~is_val]),
        "auc_val": auc(labels[is_val], scores[is_val]),
        "n_train": float(n_train),
        "n_val": float(n_val),
        "n_train_pos": float(labels[~is_val].sum()),
        "n_val_pos": float(labels[is_val].sum()),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
    }
    notes = []
    for side, mask in (("val", is_val), ("train", ~is_val)):
        if np.isnan(metrics[f"auc_{side}"]):
            classes = sorted({int(v) for v in labels[mask]})
            notes.append(
                f"auc_{side} is nan: the {side} split has {int(mask.sum())} rows and outcome classes {classes}; "
                "AUC needs both 0s and 1s"
            )
    return metrics, tuple(notes)


@dataclass(frozen=True)
class RankMetrics:
    """Means over users of one held-out item's NDCG@k, Recall@k and AUC against every candidate item."""

    ndcg: float
    recall: float
    auc: float
    n_users: int
    k: int
    ndcg_by_user: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)  # (U,)

    def as_dict(self) -> dict[str, float]:
        return {f"ndcg@{self.k}": self.ndcg, f"recall@{self.k}": self.recall, "auc": self.auc}


def target_rank_metrics(
    n_greater: np.ndarray, n_tied: np.ndarray, n_candidates: np.ndarray, k: int = 10
) -> RankMetrics:
    """Metrics of one relevant item per user from how many candidates score above it and level with it.

    Ties are broken uniformly at random, in expectation: the target lands at each 0-based position
    g, ..., g + t with probability 1 / (t + 1). A constant scorer therefore gets the metrics of a random
    ranking, never the best case. `n_candidates` counts the target itself.
    """
    g = np.asarray(n_greater, dtype=np.int64)
    t = np.asarray(n_tied, dtype=np.int64)
    n = np.asarray(n_candidates, dtype=np.int64)
    gains = 1.0 / np.log2(np.arange(k) + 2.0)  # gain at 0-based positions 0..k-1
    cum = np.concatenate([[0.0], np.cumsum(gains)])  # cum[m] = gain summed over positions < m
    lo, hi = np.minimum(g, k), np.minimum(g + t + 1, k)  # positions g..g+t, clipped to the top k
    ndcg = (cum[hi] - cum[lo]) / (t + 1)  # ideal DCG of one relevant item is 1
    recall = (hi - lo) / (t + 1)
    # AUC of the target against the n - 1 others: share ranked below it, ties counting one half.
    others = np.maximum(n - 1, 1)
    auc_u = 1.0 - (g + 0.5 * t) / others
    return RankMetrics(float(ndcg.mean()), float(recall.mean()), float(auc_u.mean()), int(g.size), k, ndcg)


def paired_difference_ci(
    a: np.ndarray, b: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(mean(a - b), lower, upper): a percentile bootstrap over users of a paired per-user metric difference.

    Resampling users, not items, because one user's held-out item is the unit both models are scored on.
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.size == 0:
        raise ValueError("paired_difference_ci needs per-user values for at least one user; got none")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    return float(d.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100.0 - tail))


def rank_counts(scores: np.ndarray, target: int, candidates: np.ndarray) -> tuple[int, int, int]:
    """(candidates scoring above the target, candidates tied with it besides itself, candidates incl. the target)."""
    s = np.asarray(scores)[candidates]
    ts = scores[target]
    return int((s > ts).sum()), int((s == ts).sum()) - 1, int(candidates.size)


def grouped_ndcg(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int = 10) -> float:
    """Mean over groups (users) holding at least one positive of NDCG@k of their rows ranked by score; nan if none."""
    groups, labels, scores = np.asarray(groups), np.asarray(labels, dtype=np.float64), np.asarray(scores)
    gains = 1.0 / np.log2(np.arange(k) + 2.0)
    values = []
    order = np.lexsort((-scores, groups))  # by group, then by falling score (stable: ties keep row order)
    bounds = np.flatnonzero(np.r_[True, groups[order][1:] != groups[order][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        rel = labels[order[a:b]]
        if rel.sum() <= 0:
            continue
        ideal = np.sort(rel)[::-1][:k]
        values.append(float((rel[:k] * gains[: min(k, rel.size)]).sum() / (ideal * gains[: ideal.size]).sum()))
    return float(np.mean(values)) if values else float("nan")
