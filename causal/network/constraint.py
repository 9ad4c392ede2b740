"""Constraint-based pieces of structure learning: MMPC skeleton (G-test), PC orientation, and PDAG -> DAG."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import xlogy
from scipy.stats import chi2

from causal.network.knowledge import Knowledge
from causal.network.scores import EncodedData, encode
from causal.values import Edge

# -- MMPC ------------------------------------------------------------------------------------------


def mmpc_skeleton(
    data: EncodedData | pd.DataFrame,
    significance_level: float = 0.01,
    max_cond_vars: int = 3,
    excluded: Iterable[frozenset[str]] = (),
) -> set[frozenset[str]]:
    """Max-min parents and children (Tsamardinos et al. 2006, Algorithms 1-2) with the AND rule.

    Association is -log p of a G-test (degrees of freedom summed over observed strata, each
    (non-empty rows - 1) * (non-empty columns - 1)), and 0 when p >= `significance_level` or when
    there are fewer than 5 rows per cell (the paper's heuristic: too few rows to test, assume
    independence). Conditioning sets hold at most `max_cond_vars` variables.

    pgmpy 1.1's `estimators.MmhcEstimator.mmpc` is not used: its forward phase adds a variable
    when its min-association 1 - p exceeds 0, which holds for every variable, so the candidate set
    grows to all nodes and the backward phase tests all 2^(n-2) subsets (intractable on alarm); it
    also removes from a list while iterating over it, which skips candidates. Its `estimate` then
    forbids only the (u, v) direction of each non-skeleton pair, so the hill climb may add v -> u.
    """
    enc = data if isinstance(data, EncodedData) else encode(data)
    n_vars, n = len(enc.names), enc.n_rows
    excluded = {frozenset(p) for p in excluded}
    cache: dict[tuple[frozenset[int], frozenset[int]], float] = {}

    def assoc(x: int, y: int, cond: Sequence[int]) -> float:
        key = (frozenset((x, y)), frozenset(cond))
        if key not in cache:
            cache[key] = _g_test_assoc(enc, x, y, sorted(cond), significance_level, n)
        return cache[key]

    def subsets(pool: Sequence[int], must: int | None) -> Iterable[tuple[int, ...]]:
        for k in range(min(len(pool), max_cond_vars) + 1):
            for s in combinations(pool, k):
                if must is None or must in s:
                    yield s

    pc_of: list[set[int]] = []
    for t in range(n_vars):
        cand = [x for x in range(n_vars) if x != t and frozenset((enc.names[x], enc.names[t])) not in excluded]
        min_assoc = {x: assoc(x, t, ()) for x in cand}
        cand = [x for x in cand if min_assoc[x] > 0]
        cpc: list[int] = []
        while cand:  # forward: admit the candidate whose weakest association is strongest
            best = max(cand, key=lambda x: (min_assoc[x], -x))
            cpc.append(best)
            cand.remove(best)
            survivors = []
            for x in cand:
                for s in subsets([c for c in cpc if c != best] + [best], best):
                    min_assoc[x] = min(min_assoc[x], assoc(x, t, s))
                    if min_assoc[x] == 0:
                        break
                if min_assoc[x] > 0:
                    survivors.append(x)
            cand = survivors
        for x in list(cpc):  # backward: drop members some subset of the others separates from t
            if any(assoc(x, t, s) == 0 for s in subsets([c for c in cpc if c != x], None)):
                cpc.remove(x)
        pc_of.append(set(cpc))
    return {frozenset((enc.names[a], enc.names[b])) for a in range(n_vars) for b in pc_of[a] if a < b and a in pc_of[b]}


def _g_test_assoc(enc: EncodedData, x: int, y: int, cond: Sequence[int], alpha: float, n: int) -> float:
    """-log p of the G-test of x independent of y given `cond`; 0 when not significant or too few rows per cell."""
    rx, ry = enc.cards[x], enc.cards[y]
    if cond:
        config = enc.codes[cond[0]]
        for c in cond[1:]:
            config = config * enc.cards[c] + enc.codes[c]
        _, config = np.unique(config, return_inverse=True)
        q = int(config.max()) + 1
    else:
        config, q = np.zeros(n, dtype=np.int64), 1
    cells = np.bincount((config * rx + enc.codes[x]) * ry + enc.codes[y], minlength=q * rx * ry)
    table = cells.reshape(q, rx, ry).astype(float)
    if n < 5 * q * rx * ry:
        return 0.0
    n_s = table.sum(axis=(1, 2))
    n_sx = table.sum(axis=2)
    n_sy = table.sum(axis=1)
    g = 2.0 * (xlogy(table, table).sum() + xlogy(n_s, n_s).sum() - xlogy(n_sx, n_sx).sum() - xlogy(n_sy, n_sy).sum())
    dof = int((np.maximum((n_sx > 0).sum(axis=1) - 1, 0) * np.maximum((n_sy > 0).sum(axis=1) - 1, 0)).sum())
    if dof == 0:
        return 0.0
    log_p = float(chi2.logsf(max(g, 0.0), dof))
    return 0.0 if log_p >= np.log(alpha) else -log_p


# -- PC orientation --------------------------------------------------------------------------------


def orient_skeleton(
    nodes: Sequence[str],
    skeleton: Iterable[Edge],
    separating_sets: dict[frozenset[str], set[str]],
    knowledge: Knowledge,
) -> tuple[list[Edge], list[Edge]]:
    """PC's orientation phase, in column order: colliders, knowledge, then Meek's rules to a fixpoint.

    A collider x -> z <- y is drawn for non-adjacent x, y with z outside their separating set (and,
    with tiers, z in a tier no earlier than both), unless one of the two edges already points out
    of z: earlier pairs in column order win conflicts. Edges with one direction the knowledge bans
    take the other, required edges are oriented, then Meek's rules 1-3 (and 4 with knowledge) run.
    Returns (directed, undirected) edges.
    """
    rank = {n: i for i, n in enumerate(nodes)}
    tier_of = {n: i for i, tier in enumerate(knowledge.tiers) for n in tier}
    banned = knowledge.banned(nodes)
    adjacent = {frozenset(e) for e in skeleton}
    neighbours: dict[str, set[str]] = {n: set() for n in nodes}
    for u, v in skeleton:
        neighbours[u].add(v)
        neighbours[v].add(u)
    directed: set[Edge] = set()

    def undirected(a: str, b: str) -> bool:
        return frozenset((a, b)) in adjacent and (a, b) not in directed and (b, a) not in directed

    def orient(a: str, b: str) -> None:
        directed.add((a, b))

    ordered = sorted(nodes, key=rank.__getitem__)
    for i, x in enumerate(ordered):
        for y in ordered[i + 1 :]:
            if frozenset((x, y)) in adjacent:
                continue
            for z in sorted(neighbours[x] & neighbours[y], key=rank.__getitem__):
                if z in separating_sets.get(frozenset((x, y)), set()):
                    continue
                if tier_of and not (tier_of[z] >= tier_of[x] and tier_of[z] >= tier_of[y]):
                    continue
                if (z, x) in directed or (z, y) in directed:
                    continue
                orient(x, z)
                orient(y, z)
    for pair in sorted(adjacent, key=lambda p: sorted(rank[n] for n in p)):
        a, b = sorted(pair, key=rank.__getitem__)
        if undirected(a, b):
            if (a, b) in banned and (b, a) not in banned:
                orient(b, a)
            elif (b, a) in banned and (a, b) not in banned:
                orient(a, b)
    for a, b in knowledge.required:
        if undirected(a, b):
            orient(a, b)

    def reaches(src: str, dst: str) -> bool:
        stack, seen = [src], {src}
        while stack:
            n = stack.pop()
            for u, v in directed:
                if u == n and v not in seen:
                    if v == dst:
                        return True
                    seen.add(v)
                    stack.append(v)
        return False

    use_r4 = knowledge != Knowledge()
    changed = True
    while changed:
        changed = False
        for b in ordered:
            for c in sorted(neighbours[b], key=rank.__getitem__):
                if not undirected(b, c):
                    continue
                parents_b = [a for a in neighbours[b] if (a, b) in directed]
                # R1: a -> b - c, a and c not adjacent => b -> c
                r1 = any(frozenset((a, c)) not in adjacent for a in parents_b if a != c)
                # R2: b -> a -> c and b - c => b -> c
                r2 = any((b, a) in directed and (a, c) in directed for a in neighbours[b] & neighbours[c])
                # R3: b - a1 -> c, b - a2 -> c, a1 and a2 not adjacent => b -> c
                mids = sorted(
                    (a for a in neighbours[b] & neighbours[c] if undirected(b, a) and (a, c) in directed),
                    key=rank.__getitem__,
                )
                r3 = any(frozenset((a1, a2)) not in adjacent for j, a1 in enumerate(mids) for a2 in mids[j + 1 :])
                # R4: b - d -> a -> c, b adjacent to a, d and c not adjacent, b - d => b -> c
                r4 = use_r4 and any(
                    (d, a) in directed and (a, c) in directed and frozenset((d, c)) not in adjacent and undirected(b, d)
                    for a in neighbours[b] & neighbours[c]
                    for d in neighbours[b] & neighbours[a]
                )
                if (r1 or r2 or r3 or r4) and not reaches(c, b):
                    orient(b, c)
                    changed = True
    und = [
        tuple(sorted(p, key=rank.__getitem__))
        for p in sorted(adjacent, key=lambda p: sorted(rank[n] for n in p))
        if undirected(*tuple(p))
    ]
    return sorted(directed, key=lambda e: (rank[e[0]], rank[e[1]])), und


# -- PDAG -> DAG -----------------------------------------------------------------------------------


def orient_to_dag(
    nodes: Sequence[str],
    directed: Iterable[Edge],
    undirected: Iterable[Edge],
    banned: set[Edge],
    required: Iterable[Edge],
) -> tuple[tuple[Edge, ...], list[str]]:
    """One DAG from a PDAG that honours the knowledge, and notes on every edge the knowledge changed.

    Directed edges the knowledge bans are reversed (dropped if both directions are banned);
    required edges are oriented or added; undirected edges with one banned direction take the
    other. The remaining undirected edges get the Dor-Tarsi consistent extension (no new
    v-structure, no cycle), scanning candidate sinks in column order so the result is the same in
    every process; where no consistent extension exists they follow a topological order instead.
    """
    order = {n: i for i, n in enumerate(nodes)}
    key = lambda e: (order[e[0]], order[e[1]])  # noqa: E731
    notes: list[str] = []
    dirs: set[Edge] = set()
    und: set[frozenset[str]] = {frozenset(e) for e in undirected}
    for u, v in sorted(set(directed), key=key):
        if (u, v) not in banned:
            dirs.add((u, v))
        elif (v, u) not in banned:
            dirs.add((v, u))
            notes.append(f"reversed {u} -> {v}: the knowledge forbids that direction")
        else:
            notes.append(f"dropped {u} -> {v}: the knowledge forbids both directions")
    for u, v in required:
        pair = frozenset((u, v))
        if pair in und:
            und.discard(pair)
            dirs.add((u, v))
        elif (v, u) in dirs:
            dirs.discard((v, u))
            dirs.add((u, v))
            notes.append(f"reversed {v} -> {u}: {u} -> {v} is required")
        elif (u, v) not in dirs:
            dirs.add((u, v))
            notes.append(f"added required edge {u} -> {v}")
    for pair in sorted(und, key=lambda p: sorted(order[n] for n in p)):
        a, b = sorted(pair, key=order.__getitem__)
        if (a, b) in banned and (b, a) in banned:
            und.discard(pair)
            notes.append(f"dropped {a} - {b}: the knowledge forbids both directions")
        elif (a, b) in banned or (b, a) in banned:
            und.discard(pair)
            dirs.add((b, a) if (a, b) in banned else (a, b))
    required_set = set(required)
    while True:  # a PDAG from conflicting collider orientations can hold a directed cycle
        cycle = _find_cycle(nodes, dirs)
        if not cycle:
            break
        drop = max((e for e in cycle if e not in required_set), key=key, default=None)
        if drop is None:
            raise ValueError(f"required edges form a cycle {cycle}; a DAG cannot hold them all")
        dirs.discard(drop)
        notes.append(f"dropped {drop[0]} -> {drop[1]}: it closed a directed cycle in the PDAG")

    # Dor & Tarsi (1992): repeatedly take a sink whose undirected neighbours are adjacent to all its neighbours.
    remaining = list(nodes)
    rem_dirs, rem_und = set(dirs), set(und)
    while rem_und:
        sink = None
        for x in remaining:
            if any(u == x for u, _ in rem_dirs):
                continue
            und_nb = {next(iter(p - {x})) for p in rem_und if x in p}
            all_nb = und_nb | {u for u, v in rem_dirs if v == x}
            if all(
                frozenset((y, z)) in rem_und or (y, z) in rem_dirs or (z, y) in rem_dirs
                for y in und_nb
                for z in all_nb
                if y != z
            ):
                sink = x
                break
        if sink is None:
            break
        for p in [p for p in rem_und if sink in p]:
            y = next(iter(p - {sink}))
            dirs.add((y, sink))
            rem_und.discard(p)
            und.discard(p)
        remaining.remove(sink)
        rem_dirs = {(u, v) for u, v in rem_dirs if sink not in (u, v)}
    if und:
        position = {n: i for i, n in enumerate(_topological_order(nodes, dirs))}
        for pair in und:
            a, b = sorted(pair, key=position.__getitem__)
            dirs.add((a, b))
        notes.append(f"the PDAG has no consistent extension: {len(und)} undirected edges follow a topological order")
    return tuple(sorted(dirs, key=key)), notes


def _topological_order(nodes: Sequence[str], edges: set[Edge]) -> list[str]:
    """Kahn's algorithm, taking the earliest column among the ready nodes each step."""
    indeg = {n: 0 for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for u, v in edges:
        indeg[v] += 1
        children[u].append(v)
    rank = {n: i for i, n in enumerate(nodes)}
    ready = sorted((n for n in nodes if indeg[n] == 0), key=rank.__getitem__)
    out: list[str] = []
    while ready:
        n = ready.pop(0)
        out.append(n)
        for c in children[n]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
        ready.sort(key=rank.__getitem__)
    if len(out) != len(nodes):
        raise ValueError("the directed edges hold a cycle; no topological order exists")
    return out


def _find_cycle(nodes: Sequence[str], edges: set[Edge]) -> list[Edge]:
    """The edges of one directed cycle among `edges`, or [] when they form a DAG."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    try:
        return [(str(u), str(v)) for u, v in nx.find_cycle(graph)]
    except nx.NetworkXNoCycle:
        return []
