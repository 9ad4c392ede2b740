"""Baselines the scorer is measured against: popularity, item-kNN (cosine), PureSVD matrix factorisation."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def interactions(histories: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Binary user x item matrix of the given histories (a repeated rating counts once)."""
    rows = np.concatenate([np.full(h.size, u) for u, h in enumerate(histories)]) if histories else np.zeros(0, int)
    cols = np.concatenate(histories) if histories else np.zeros(0, int)
    m = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(len(histories), n_items))
    m.data[:] = 1.0
    return m


def popularity(histories: list[np.ndarray], n_items: int) -> np.ndarray:
    """(n_users, n_items): every user gets the items' rating counts in the histories."""
    counts = np.asarray(interactions(histories, n_items).sum(axis=0)).ravel().astype(np.float32)
    return np.broadcast_to(counts, (len(histories), n_items))


def item_similarity(histories: list[np.ndarray], n_items: int, shrink: float = 10.0) -> np.ndarray:
    """(I, I) cosine similarity of the items' user columns with shrinkage, s / (|a||b| + shrink), zero diagonal.

    The shrinkage damps pairs seen together by very few users.
    """
    x = interactions(histories, n_items)
    co = (x.T @ x).toarray().astype(np.float32)  # (I, I) co-occurrence counts
    norms = np.sqrt(np.diag(co)).astype(np.float32)
    np.fill_diagonal(co, 0.0)
    co /= np.outer(norms, norms) + shrink
    return co


def neighbours(sim: np.ndarray, max_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each item's max_k most similar items: ((max_k, I) row indices, (max_k, I) similarities), best first per column.

    Computed once for a grid of k: item_knn with any k <= max_k takes the first k rows.
    """
    n = sim.shape[0]
    max_k = max(1, min(max_k, n - 1))
    top = np.argpartition(-sim, max_k - 1, axis=0)[:max_k]  # (max_k, I), unordered within the max_k
    vals = np.take_along_axis(sim, top, axis=0)
    order = np.argsort(-vals, axis=0, kind="stable")
    return np.take_along_axis(top, order, axis=0), np.take_along_axis(vals, order, axis=0)


def item_knn(
    histories: list[np.ndarray],
    n_items: int,
    k: int,
    sim: np.ndarray | None = None,
    near: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(n_users, n_items): sum of an item's similarities to the user's items, over its k nearest neighbours only.

    `near` (from neighbours()) saves recomputing the similarity and the neighbour lists across a grid of k.
    """
    if near is None:
        near = neighbours(item_similarity(histories, n_items) if sim is None else sim, k)
    idx, vals = near[0][:k], near[1][:k]  # column j: the neighbours used when j is scored
    cols = np.broadcast_to(np.arange(n_items), idx.shape)
    kept = sp.csr_matrix((vals.ravel(), (idx.ravel(), cols.ravel())), shape=(n_items, n_items))
    return np.asarray((interactions(histories, n_items) @ kept).toarray(), dtype=np.float32)


def pure_svd(histories: list[np.ndarray], n_items: int, factors: int) -> np.ndarray:
    """(n_users, n_items) of a rank-`factors` truncated SVD of the binary matrix (PureSVD, Cremonesi et al. 2010).

    Scores are X V Vᵀ: the user's row projected on the top item factors, a matrix factorisation that is strong
    on top-N ranking and has one knob, the rank.
    """
    from scipy.sparse.linalg import svds

    x = interactions(histories, n_items)
    k = max(1, min(factors, min(x.shape) - 1))
    _, _, vt = svds(x.astype(np.float64), k=k, random_state=0)  # vt: (k, I)
    return np.asarray((x @ vt.T) @ vt, dtype=np.float32)
