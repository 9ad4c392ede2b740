"""Greedy hill climbing over DAGs (add, remove, reverse; tabu list) with cached, reused score deltas."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from causal.network.knowledge import tier_forbidden
from causal.network.scores import EncodedData, LocalScore, ScoreName
from causal.values import Edge

_ADD, _REMOVE, _FLIP = 0, 1, 2


@dataclass(frozen=True)
class HillClimbResult:
    """The DAG at a local maximum of the score, how it was reached and what it cost."""

    edges: tuple[Edge, ...]  # sorted by (column index of u, column index of v)
    score: float  # the decomposable score of the returned DAG
    n_iter: int  # operations applied
    stopped: Literal["converged", "max_iter"]
    seconds: float
    n_local_scores: int  # local scores counted from the data (cache misses)


def hill_climb(
    data: pd.DataFrame | EncodedData | LocalScore,
    score: ScoreName = "bic",
    *,
    equivalent_sample_size: float = 10.0,
    tiers: Sequence[Sequence[str]] = (),
    required: Iterable[Edge] = (),
    forbidden: Iterable[Edge] = (),
    allowed_pairs: Collection[frozenset[str]] | None = None,
    max_indegree: int | None = None,
    tabu_length: int = 100,
    epsilon: float = 1e-4,
    max_iter: int = 1_000_000,
    tie_tolerance: float | None = None,
) -> HillClimbResult:
    """Hill-climb a DAG from the empty graph plus the required edges; the same search as pgmpy's.

    Same moves, defaults and stopping rule as pgmpy 1.1's ``HillClimbSearch``: each iteration
    applies the legal add / remove / reverse with the largest score gain, stopping when that gain is
    below `epsilon` or after `max_iter` operations; the last `tabu_length` operations may not be
    undone; no node gets more than `max_indegree` parents.

    Knowledge: no edge into an earlier tier (within a tier both directions are allowed: `tier_forbidden`), no
    `forbidden` edge, and when `allowed_pairs` is given (MMHC's skeleton) no edge between a pair
    outside it. `required` edges are in the start graph and are never removed or reversed.

    Speed: the gains live in two matrices, add[x, y] = s(y | pa(y) + x) - s(y | pa(y)) and
    remove[x, y] = s(y | pa(y) - x) - s(y | pa(y)); a reversal of x -> y gains remove[x, y] + add[y, x].
    Both depend only on the parents of their column's node, so after an operation only the
    columns of the one or two nodes whose parents changed are recomputed (from the score cache
    where it can), and legality is checked for all operations at once on boolean matrices.

    Ties: where several operations gain the same (within `tie_tolerance`, default 1e-10 * (weighted) rows,
    far below any real difference and far above float rounding), the first in this order wins:
    additions, then removals, then reversals; within a kind by the column index of the edge's tail,
    then of its head. pgmpy takes the first maximum in the iteration order of a Python set of
    name tuples, which changes with PYTHONHASHSEED; here the result depends only on the data and
    its column order. A score-equivalent tie (BIC, BDeu: x -> y and y -> x gain the same when both
    are parentless) therefore points from the earlier column to the later one.
    """
    scorer = data if isinstance(data, LocalScore) else LocalScore(data, score, equivalent_sample_size)
    enc = scorer.data
    names = enc.names
    v = len(names)
    index = {name: i for i, name in enumerate(names)}
    start_time = time.perf_counter()
    computed_before = scorer.n_computed

    bad_indegree = isinstance(max_indegree, bool) or not isinstance(max_indegree, int) or max_indegree < 0
    if max_indegree is not None and bad_indegree:
        raise ValueError(f"max_indegree must be None or a non-negative integer; got {max_indegree!r}")
    if not isinstance(tabu_length, int) or tabu_length < 0:
        raise ValueError(f"tabu_length must be a non-negative integer; got {tabu_length!r}")
    limit = v if max_indegree is None else max_indegree
    required = [(str(u), str(w)) for u, w in required]
    forbidden = [(str(u), str(w)) for u, w in forbidden]

    def as_index(edge: Edge, what: str) -> tuple[int, int]:
        u, w = edge
        for node in (u, w):
            if node not in index:
                raise ValueError(f"{what} edge {edge} names {node!r}, not a column of the data; columns: {list(names)}")
        if u == w:
            raise ValueError(f"{what} edge {edge} is a self-loop; a DAG has none")
        return index[u], index[w]

    banned = np.zeros((v, v), dtype=bool)  # banned[x, y]: the edge x -> y may never be in the graph
    np.fill_diagonal(banned, True)
    tier_banned = tier_forbidden(tiers, within="both", columns=names)
    for edge in tier_banned:
        banned[as_index(edge, "tier")] = True
    for edge in forbidden:
        banned[as_index(edge, "forbidden")] = True

    adj = np.zeros((v, v), dtype=bool)
    fixed = np.zeros((v, v), dtype=bool)  # required edges: never removed or reversed
    for edge in required:
        x, y = as_index(edge, "required")
        if edge in tier_banned:
            raise ValueError(
                f"required edge {edge[0]!r} -> {edge[1]!r} points into an earlier tier; reverse it or change the tiers"
            )
        if banned[x, y]:
            raise ValueError(
                f"required edge {edge[0]!r} -> {edge[1]!r} is also forbidden; drop it from one of the two lists"
            )
        adj[x, y] = fixed[x, y] = True
    if not _is_acyclic(adj):
        raise ValueError(f"required edges {sorted(required)} form a cycle; a DAG cannot hold them all")
    over = [names[y] for y in range(v) if adj[:, y].sum() > limit]
    if over:
        raise ValueError(
            f"required edges give {over} more than max_indegree={max_indegree} parents; raise max_indegree"
        )
    if allowed_pairs is not None:
        allowed = fixed | fixed.T  # a required edge outside the given skeleton is still required
        for pair in allowed_pairs:
            a, b = sorted(pair)
            x, y = as_index((a, b), "allowed-pair")
            allowed[x, y] = allowed[y, x] = True
        banned |= ~allowed

    parents: list[list[int]] = [sorted(np.flatnonzero(adj[:, y]).tolist()) for y in range(v)]
    node_score = np.array([scorer(y, parents[y]) for y in range(v)])
    add_gain = np.full((v, v), -np.inf)  # add_gain[x, y]: gain of adding x to pa(y)
    rem_gain = np.full((v, v), -np.inf)  # rem_gain[x, y]: gain of removing x from pa(y)

    def refresh(y: int) -> None:
        pa = parents[y]
        add_gain[:, y] = -np.inf
        rem_gain[:, y] = -np.inf
        if len(pa) < limit:
            # Every x that may become a parent of y: new edges and reversals of y -> x alike.
            cand = np.flatnonzero(~banned[:, y] & ~adj[:, y]).tolist()
            if cand:
                add_gain[cand, y] = scorer.with_one_more(y, pa, cand) - node_score[y]
        for x in pa:
            rem_gain[x, y] = scorer(y, [p for p in pa if p != x]) - node_score[y]

    for y in range(v):
        refresh(y)

    # Scaled by the log rows, not the cells: score differences grow with the rows however they are stored.
    tol = 1e-10 * enc.total_weight if tie_tolerance is None else tie_tolerance
    tabu: deque[tuple[int, int, int]] = deque(maxlen=tabu_length)
    n_iter = 0
    stopped: Literal["converged", "max_iter"] = "max_iter"
    for n_iter in range(int(max_iter)):  # noqa: B007 (read after the loop: how many moves were made)
        reach = _reachability(adj)
        indeg = adj.sum(axis=0)
        tabu_add = np.zeros((v, v), dtype=bool)
        tabu_rem = np.zeros((v, v), dtype=bool)
        tabu_flip = np.zeros((v, v), dtype=bool)
        for kind, x, y in tabu:
            (tabu_add if kind == _ADD else tabu_rem if kind == _REMOVE else tabu_flip)[x, y] = True
        tabu_flip |= tabu_flip.T  # pgmpy refuses flip(x, y) when flip(x, y) or flip(y, x) is tabu

        # add x -> y: not adjacent, no path y ~> x, not banned, room for a parent of y
        legal_add = ~adj & ~adj.T & ~reach.T & ~banned & ~tabu_add & (indeg < limit)[None, :]
        legal_rem = adj & ~fixed & ~tabu_rem
        # reverse x -> y: no other path x ~> y (a child c != y of x with c ~> y), y -> x allowed
        other_path = (adj.astype(np.int32) @ reach.astype(np.int32)) > 0
        legal_flip = adj & ~fixed & ~other_path & ~banned.T & ~tabu_flip & (indeg < limit)[:, None]
        gains = (
            np.where(legal_add, add_gain, -np.inf),
            np.where(legal_rem, rem_gain, -np.inf),
            np.where(legal_flip, rem_gain + add_gain.T, -np.inf),
        )
        best = max(float(g.max()) for g in gains)
        if not best >= epsilon:  # also stops when no operation is legal (best = -inf)
            stopped = "converged"
            break
        kind, x, y = next(
            (k, int(i[0]), int(i[1])) for k, g in enumerate(gains) for i in np.argwhere(g >= best - tol)[:1]
        )
        if kind == _ADD:
            adj[x, y] = True
            tabu.append((_REMOVE, x, y))
            changed = (y,)
        elif kind == _REMOVE:
            adj[x, y] = False
            tabu.append((_ADD, x, y))
            changed = (y,)
        else:
            adj[x, y] = False
            adj[y, x] = True
            tabu.append((_FLIP, x, y))
            changed = (x, y)
        for node in changed:
            parents[node] = sorted(np.flatnonzero(adj[:, node]).tolist())
            node_score[node] = scorer(node, parents[node])
        for node in changed:
            refresh(node)
    else:
        n_iter = int(max_iter)

    edges = tuple((names[x], names[y]) for x, y in np.argwhere(adj).tolist())
    return HillClimbResult(
        edges=edges,
        score=float(node_score.sum()),
        n_iter=n_iter,
        stopped=stopped,
        seconds=time.perf_counter() - start_time,
        n_local_scores=scorer.n_computed - computed_before,
    )


def _reachability(adj: np.ndarray) -> np.ndarray:
    """reach[a, b]: a directed path of length >= 1 leads from a to b (Warshall on booleans)."""
    reach = adj.copy()
    for k in range(adj.shape[0]):
        col = reach[:, k]
        if col.any():
            reach[col] |= reach[k]
    return reach


def _is_acyclic(adj: np.ndarray) -> bool:
    return not _reachability(adj).diagonal().any()
