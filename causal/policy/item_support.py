"""Item-level logs over a catalogue: arrays, input checks, cluster marginals, support in item and cluster space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from causal.policy.logged import OPEError


@dataclass(frozen=True, eq=False)
class ItemLevelLog:
    """One logged impression per row: user (index into N), item (index into I), reward and P(item | user)."""

    user: np.ndarray  # (M,) int64 index into the users of the (N, I) policy matrices
    item: np.ndarray  # (M,) int64 index into the catalogue
    reward: np.ndarray  # (M,) float64
    pscore: np.ndarray  # (M,) float64 logging P(item | user), the log's item_propensity

    def __post_init__(self) -> None:
        user = np.asarray(self.user)
        item = np.asarray(self.item)
        arrays = {"user": user, "item": item, "reward": self.reward, "pscore": self.pscore}
        sizes = {name: np.shape(a) for name, a in arrays.items()}
        if any(len(s) != 1 for s in sizes.values()) or len({s[0] for s in sizes.values()}) != 1:
            raise OPEError(f"ItemLevelLog needs four 1-d arrays of one length (one entry per impression); got {sizes}")
        if user.size == 0:
            raise OPEError("ItemLevelLog has no rows; an off-policy estimate needs at least one logged impression")
        for name, a in (("user", user), ("item", item)):
            if not np.issubdtype(a.dtype, np.integer) or (a < 0).any():
                raise OPEError(f"ItemLevelLog.{name} must hold integer indices >= 0 (dtype {a.dtype}); map ids first")
        reward = np.asarray(self.reward, dtype=float)
        if not np.isfinite(reward).all():
            raise OPEError(
                f"ItemLevelLog.reward has {int((~np.isfinite(reward)).sum())} missing values; drop those rows"
            )
        object.__setattr__(self, "user", user.astype(np.int64))
        object.__setattr__(self, "item", item.astype(np.int64))
        object.__setattr__(self, "reward", reward)
        object.__setattr__(self, "pscore", np.asarray(self.pscore, dtype=float))

    @property
    def n_rows(self) -> int:
        return int(self.user.shape[0])

    def take(self, idx: np.ndarray) -> ItemLevelLog:
        """The rows at `idx` (a fold, or a bootstrap resample when idx repeats rows)."""
        return ItemLevelLog(self.user[idx], self.item[idx], self.reward[idx], self.pscore[idx])


def item_level_log(
    frame: pd.DataFrame,
    users: Sequence[str],
    items: Sequence[str],
    *,
    outcome: str = "click",
    propensity: str = "item_propensity",
) -> ItemLevelLog:
    """The canonical log's rows as an ItemLevelLog: user_id -> index in `users`, item_id -> index in `items`."""
    missing = [c for c in ("user_id", "item_id", outcome, propensity) if c not in frame.columns]
    if missing:
        raise OPEError(
            f"item-level evaluation needs columns {missing} in the log; the simulator's logs carry {propensity!r} "
            "when built with taste_following > 0 or any run that records item propensities"
        )
    user = pd.Index([str(u) for u in users]).get_indexer(frame["user_id"].astype(str))
    item = pd.Index([str(i) for i in items]).get_indexer(frame["item_id"].astype(str))
    for name, idx, col in (("users", user, "user_id"), ("items", item, "item_id")):
        if (idx < 0).any():
            bad = frame[col].astype(str)[idx < 0].unique()[:5].tolist()
            raise OPEError(f"{int((idx < 0).sum())} rows have a {col} not in the given {name} (e.g. {bad}); pass all")
    return ItemLevelLog(user, item, frame[outcome].to_numpy(dtype=float), frame[propensity].to_numpy(dtype=float))


def check_policy(matrix: np.ndarray, log: ItemLevelLog, name: str, n_items: int | None = None) -> np.ndarray:
    """An (N, I) item distribution per user as float64, checked: covers the log's indices, >= 0, rows sum to 1."""
    pi = np.asarray(matrix, dtype=float)
    if pi.ndim != 2 or (n_items is not None and pi.shape[1] != n_items):
        want = f"(N, {n_items})" if n_items is not None else "(N, I)"
        raise OPEError(f"{name} must be {want}: one item distribution per user; got shape {pi.shape}")
    if log.user.max() >= pi.shape[0] or log.item.max() >= pi.shape[1]:
        raise OPEError(
            f"{name} is {pi.shape} but the log indexes user {int(log.user.max())} and item {int(log.item.max())}; "
            "build the log's indices from the same users and items as the policy matrices"
        )
    if not np.isfinite(pi).all() or (pi < 0).any():
        raise OPEError(f"{name} must hold probabilities >= 0 (no NaN); found min {np.nanmin(pi):.3g}")
    sums = pi.sum(axis=1)
    worst = int(np.abs(sums - 1.0).argmax())
    if abs(sums[worst] - 1.0) > 1e-6:
        raise OPEError(f"{name} must sum to 1 over items for every user; user {worst} sums to {sums[worst]:.6g}")
    return pi


def check_pscore(log: ItemLevelLog, method: str) -> np.ndarray:
    """The log's P(item | user), or an OPEError saying why `method` cannot use them."""
    p = log.pscore
    bad = ~np.isfinite(p) | (p <= 0) | (p > 1)
    if bad.any():
        raise OPEError(
            f"estimator {method!r} needs the logging probability of every row's item in (0, 1]; {int(bad.sum())} "
            f"rows are missing or outside (e.g. {p[bad][:3].tolist()}); a row the logger could not have shown "
            "cannot be reweighted: fix the logging, or drop those rows and say so"
        )
    return p


def check_clusters(clusters: np.ndarray, n_items: int, n_users: int | None = None) -> np.ndarray:
    """(I,) int64 cluster of each item, or (N, I) per user and item (the discrete action embedding), checked."""
    c = np.asarray(clusters)
    shapes = [(n_items,)] + ([(n_users, n_items)] if n_users is not None else [])
    if c.shape not in shapes or not np.issubdtype(c.dtype, np.integer) or (c < 0).any():
        raise OPEError(
            f"clusters must be integers >= 0 of shape {' or '.join(map(str, shapes))}: one cluster per catalogue "
            f"item (or per user and item); got shape {c.shape} dtype {c.dtype}; e.g. KMeans labels of the "
            "item-text embeddings"
        )
    return c.astype(np.int64)


def cluster_marginal(pi: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """pi(c | u) = sum_{a in c} pi(a | u): (N, I) -> (N, C); clusters (I,) or per user (N, I)."""
    if clusters.ndim == 2:
        n_c = int(clusters.max()) + 1
        flat = (np.arange(pi.shape[0])[:, None] * n_c + clusters).ravel()
        return np.bincount(flat, weights=pi.ravel(), minlength=pi.shape[0] * n_c).reshape(pi.shape[0], n_c)
    n_items = clusters.shape[0]
    onehot = sparse.csr_array(
        (np.ones(n_items), (np.arange(n_items), clusters)), shape=(n_items, int(clusters.max()) + 1)
    )
    # (onehot^T pi^T)^T keeps the product sparse-times-dense: O(N I), never an (N, I, C) array.
    return np.asarray((onehot.T @ pi.T).T)


def weight_summary(w: np.ndarray) -> dict:
    """Effective sample size and the weights' extremes (Kish's ESS = (sum w)^2 / sum w^2)."""
    sq = float((w**2).sum())
    ess = float(w.sum() ** 2 / sq) if sq > 0 else 0.0
    return {
        "ess": ess,
        "ess_share": ess / w.size,
        "mean_weight": float(w.mean()),
        "max_weight": float(w.max()),
        "weight_p99": float(np.quantile(w, 0.99)),
        "share_zero_weight": float((w == 0).mean()),
    }


def item_support(log: ItemLevelLog, target: np.ndarray, logging: np.ndarray | None) -> dict:
    """Target mass on items the logger never shows to the row's user (mean over logged rows, as support.py counts)."""
    if logging is None:
        return {
            "item_support_basis": "unchecked: no logging distribution given (pass logging to check it)",
            "item_support_ok": None,
            "share_of_target_mass_outside_item_support": float("nan"),
        }
    outside = (target * (logging <= 0)).sum(axis=1)  # (N,) per user
    share = float(outside[log.user].mean())
    users = np.unique(log.user)
    return {
        "item_support_basis": "logging P(item | user) > 0",
        "item_support_ok": share <= 1e-12,
        "share_of_target_mass_outside_item_support": share,
        "n_users_with_unsupported_items": int((outside[users] > 1e-12).sum()),
    }


def cluster_support(log: ItemLevelLog, target_c: np.ndarray, logging_c: np.ndarray) -> dict:
    """Support in embedding space: target mass on clusters the logger never reaches for the row's user."""
    outside = (target_c * (logging_c <= 0)).sum(axis=1)  # (N,)
    share = float(outside[log.user].mean())
    users = np.unique(log.user)
    return {
        "cluster_support_ok": share <= 1e-12,
        "share_of_target_mass_outside_cluster_support": share,
        "n_users_with_unsupported_clusters": int((outside[users] > 1e-12).sum()),
        "n_clusters": int(target_c.shape[1]),
    }


def check_logging_agrees(log: ItemLevelLog, logging: np.ndarray) -> dict:
    """The logging matrix must give every logged row positive probability and match its pscore."""
    at_rows = logging[log.user, log.item]
    if (at_rows <= 0).any():
        m = int(np.argmax(at_rows <= 0))
        raise OPEError(
            f"logging gives probability 0 to {int((at_rows <= 0).sum())} logged rows (e.g. row {m}: user "
            f"{int(log.user[m])}, item {int(log.item[m])}); it is not the distribution that produced this log"
        )
    p = log.pscore
    ok = np.isfinite(p) & (p > 0)
    rel = float(np.max(np.abs(p[ok] - at_rows[ok]) / at_rows[ok])) if ok.any() else float("nan")
    if ok.any() and rel > 1e-3:
        raise OPEError(
            f"the log's pscore and logging[user, item] disagree by up to {rel:.3g} (relative); both must be the "
            "same logger's P(item | user): rebuild one from the other"
        )
    return {"pscore_vs_logging_max_rel_diff": rel}
