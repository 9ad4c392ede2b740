"""Structure learning under one interface: HillClimb (recdo's), PC and GES (pgmpy's), MMHC (recdo's), and its CLI."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy.special import xlogy
from scipy.stats import chi2

from causal.hillclimb import hill_climb, tier_forbidden
from causal.scores import SCORES, EncodedData, LocalScore, ScoreName, encode

Edge = tuple[str, str]
Algorithm = Literal["hc", "pc", "ges", "mmhc"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)


@dataclass(frozen=True)
class Knowledge:
    """Domain knowledge for every algorithm: tiers (temporal order), required and forbidden edges.

    `tiers` list the nodes from earliest to latest; no edge may point into an earlier tier, edges
    within a tier are allowed both ways (pgmpy's `temporal_order` rule). When given, the tiers must
    place every column of the data. Lists are accepted and stored as tuples.
    """

    tiers: tuple[tuple[str, ...], ...] = ()
    required: tuple[Edge, ...] = ()
    forbidden: tuple[Edge, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", tuple(tuple(str(n) for n in tier) for tier in self.tiers))
        for name in ("required", "forbidden"):
            edges = []
            for edge in getattr(self, name):
                if len(edge) != 2:
                    raise ValueError(f"{name} edge {edge!r} is not a (tail, head) pair; write it as ('u', 'v')")
                u, v = (str(n) for n in edge)
                if u == v:
                    raise ValueError(f"{name} edge ({u!r}, {v!r}) is a self-loop; a DAG has none")
                edges.append((u, v))
            object.__setattr__(self, name, tuple(dict.fromkeys(edges)))
        placed = [n for tier in self.tiers for n in tier]
        dup = sorted({n for n in placed if placed.count(n) > 1})
        if dup:
            raise ValueError(f"nodes {dup} appear in more than one tier; put each node in exactly one tier")
        both = sorted(set(self.required) & set(self.forbidden))
        if both:
            raise ValueError(f"edges {both} are both required and forbidden; drop them from one of the two lists")
        tier_of = {n: i for i, tier in enumerate(self.tiers) for n in tier}
        backward = [(u, v) for u, v in self.required if u in tier_of and v in tier_of and tier_of[v] < tier_of[u]]
        if backward:
            raise ValueError(f"required edges {backward} point into an earlier tier; reverse them or change the tiers")

    def banned(self, columns: Sequence[str]) -> set[Edge]:
        """Every directed edge the knowledge rules out: the forbidden ones and those into an earlier tier."""
        return set(self.forbidden) | tier_forbidden(columns, self.tiers)

    def check_columns(self, columns: Sequence[str]) -> None:
        known = set(columns)
        named = {n for tier in self.tiers for n in tier} | {n for e in self.required + self.forbidden for n in e}
        unknown = sorted(named - known)
        if unknown:
            raise ValueError(f"knowledge names {unknown}, not columns of the data; columns: {list(columns)}")
        if self.tiers:
            unplaced = [c for c in columns if c not in {n for tier in self.tiers for n in tier}]
            if unplaced:
                raise ValueError(
                    f"columns {unplaced} are in no tier; when tiers are given every column needs one "
                    "(a last tier of its own is fine)"
                )


@dataclass(frozen=True)
class LearnedStructure:
    """A learned DAG (edges sorted by column order), the seconds it took, and what to know about it."""

    edges: tuple[Edge, ...]
    seconds: float
    algorithm: str
    score: str
    notes: tuple[str, ...]


def learn(
    data: pd.DataFrame,
    algorithm: Algorithm = "hc",
    score: ScoreName = "bic",
    knowledge: Knowledge | None = None,
    max_indegree: int | None = None,
    seed: int = 0,
    *,
    equivalent_sample_size: float = 10.0,
    significance_level: float = 0.01,
    max_cond_vars: int = 3,
) -> LearnedStructure:
    """Learn a DAG over the discrete columns of `data`.

    - ``hc``: recdo's hill climber (`causal.hillclimb`): pgmpy's search, deterministic, many times faster.
    - ``pc``: pgmpy 1.1's PC-stable skeleton and separating sets (chi-square tests at
      `significance_level`, up to 5 conditioning variables; a constant column is independent of
      everything), then colliders and Meek's rules in column order (`orient_skeleton`: pgmpy's own
      orientation follows set order and changes with PYTHONHASHSEED), then a DAG in the PDAG's class.
    - ``ges``: pgmpy 1.1's GES driven by recdo's cached score; it knows no domain knowledge and no
      in-degree limit, so knowledge is applied to its equivalence class afterwards (see notes).
    - ``mmhc``: recdo's MMPC skeleton (G-test at `significance_level`, conditioning sets of at most
      `max_cond_vars`) then recdo's hill climber restricted to it. pgmpy 1.1 ships MMHC only in
      its legacy `estimators.MmhcEstimator`, which is wrong (see `mmpc_skeleton`).

    Every algorithm is deterministic; `seed` is accepted for the interface and changes nothing.
    The returned DAG never holds an edge the knowledge forbids and always holds the required ones;
    where PC or GES had to be corrected to get there, `notes` says which edges changed.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {list(ALGORITHMS)}; got {algorithm!r}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}; got {score!r}")
    bad_indegree = isinstance(max_indegree, bool) or not isinstance(max_indegree, int) or max_indegree < 1
    if max_indegree is not None and bad_indegree:
        raise ValueError(f"max_indegree must be None or a positive integer; got {max_indegree!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    if not 0 < significance_level < 1:
        raise ValueError(f"significance_level must lie strictly between 0 and 1; got {significance_level!r}")
    knowledge = knowledge or Knowledge()
    start = time.perf_counter()
    enc = encode(data)
    knowledge.check_columns(enc.names)
    scorer = LocalScore(enc, score, equivalent_sample_size)
    notes: list[str] = []

    if algorithm in ("hc", "mmhc"):
        allowed = None
        if algorithm == "mmhc":
            banned = knowledge.banned(enc.names)
            excluded = {frozenset((u, v)) for u, v in banned if (v, u) in banned}
            allowed = mmpc_skeleton(enc, significance_level, max_cond_vars, excluded)
            notes.append(
                f"MMPC skeleton: {len(allowed)} adjacencies (G-test, alpha={significance_level}, "
                f"conditioning sets of at most {max_cond_vars}); pgmpy 1.1's MmhcEstimator is not used: "
                "its hill climb forbids only one direction of each non-skeleton pair and its MMPC "
                "forward phase admits every variable (1 - p > 0)"
            )
            allowed |= {frozenset(e) for e in knowledge.required}
        result = hill_climb(
            scorer,
            tiers=knowledge.tiers,
            required=knowledge.required,
            forbidden=knowledge.forbidden,
            allowed_pairs=allowed,
            max_indegree=max_indegree,
        )
        if result.stopped == "max_iter":
            notes.append(f"hill climbing stopped at max_iter={result.n_iter} before converging")
        edges = result.edges
    else:
        from pgmpy.causal_discovery import GES, PC, ExpertKnowledge

        frame = data.astype(str)  # pgmpy's discrete tests and scores want categorical columns
        if algorithm == "pc":
            notes.append(f"pc decides adjacencies by chi-square independence tests; the {score!r} score is not used")
            expert = ExpertKnowledge(
                forbidden_edges=set(knowledge.forbidden),
                required_edges=set(knowledge.required),
                temporal_order=[list(t) for t in knowledge.tiers] if knowledge.tiers else None,
            )
            constants = {name for name, card in zip(enc.names, enc.cards) if card == 1}
            chi_square = _chi_square_constants_independent(frame, constants)
            pc = PC(
                variant="stable",
                ci_test=chi_square,
                return_type="pdag",
                significance_level=significance_level,
                max_cond_vars=5,
                expert_knowledge=expert,
                enforce_expert_knowledge=False,
                n_jobs=1,
                show_progress=False,
            )
            pc.fit(frame)
            directed, undirected = orient_skeleton(
                enc.names,
                [(str(u), str(v)) for u, v in pc.skeleton_.edges()],
                {frozenset(map(str, k)): {str(z) for z in sep} for k, sep in pc.separating_sets_.items()},
                knowledge,
            )
            if constants:
                notes.append(
                    f"pc: columns {sorted(constants)} hold a single value and get no edges (pgmpy 1.1's "
                    "chi-square gives p = NaN for them, which its PC reads as dependence)"
                )
            notes.append(
                "pc: pgmpy's PC-stable skeleton and separating sets; colliders and Meek's rules applied by "
                "recdo in column order (pgmpy 1.1 orients in set order, which changes with PYTHONHASHSEED "
                "when collider orientations conflict)"
            )
        else:
            ges = GES(scoring_method=_pgmpy_score(frame, scorer), return_type="pdag")
            pdag = ges.fit(frame).causal_graph_
            if knowledge != Knowledge():
                notes.append(
                    "pgmpy 1.1's GES takes no domain knowledge: it was applied to GES's equivalence class afterwards"
                )
            directed = sorted((str(u), str(v)) for u, v in pdag.directed_edges)
            undirected = sorted(tuple(sorted((str(u), str(v)))) for u, v in pdag.undirected_edges)
        notes.append(
            f"the {algorithm} PDAG has {len(directed)} directed and {len(undirected)} undirected edges; "
            "undirected edges were oriented by the Dor-Tarsi consistent extension, nodes in column order"
        )
        edges, more = orient_to_dag(enc.names, directed, undirected, knowledge.banned(enc.names), knowledge.required)
        notes.extend(more)
        if max_indegree is not None:
            indeg: dict[str, int] = {}
            for _, v in edges:
                indeg[v] = indeg.get(v, 0) + 1
            over = sorted(n for n, k in indeg.items() if k > max_indegree)
            if over:
                notes.append(f"{algorithm} has no in-degree limit: {over} have more than {max_indegree} parents")
    return LearnedStructure(
        edges=tuple(edges),
        seconds=time.perf_counter() - start,
        algorithm=algorithm,
        score=score,
        notes=tuple(notes),
    )


def _chi_square_constants_independent(frame: pd.DataFrame, constants: set[str]):
    """pgmpy's chi-square CI test, except that a column with a single state is independent of everything.

    pgmpy 1.1's test returns p = NaN when no stratum has degrees of freedom and its PC reads NaN as
    dependence (on purpose: an untestable pair keeps its edge, which keeps deterministic nodes such
    as asia's `either` connected). For a constant column that rule is wrong: it keeps an edge from
    the constant to every other column. Other NaN cases keep pgmpy's reading.
    """
    from pgmpy.ci_tests import get_ci_test

    test = get_ci_test("chi_square", frame)

    def chi_square(X, Y, Z=(), significance_level: float = 0.05) -> bool:
        if X in constants or Y in constants:
            return True
        return bool(test(X, Y, list(Z), significance_level=significance_level))

    return chi_square


def _pgmpy_score(frame: pd.DataFrame, scorer: LocalScore):
    """recdo's cached local score behind pgmpy's score interface (pgmpy's GES calls `local_score`)."""
    from pgmpy.structure_score import BaseStructureScore

    class RecdoScore(BaseStructureScore):
        _tags = {"name": "recdo", "supported_datatype": "discrete", "default_for": None, "is_parameteric": False}

        def __init__(self, data: pd.DataFrame, local: LocalScore | None = None) -> None:
            self.local = local
            super().__init__(data)

        def _local_score(self, variable: str, parents: tuple[str, ...]) -> float:
            return self.local.local_score(variable, parents)

    return RecdoScore(frame, scorer)


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
    return {
        frozenset((enc.names[a], enc.names[b]))
        for a in range(n_vars)
        for b in pc_of[a]
        if a < b and a in pc_of[b]
    }


def _g_test_assoc(enc: EncodedData, x: int, y: int, cond: Sequence[int], alpha: float, n: int) -> float:
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
            if all(frozenset((y, z)) in rem_und or (y, z) in rem_dirs or (z, y) in rem_dirs
                   for y in und_nb for z in all_nb if y != z):
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
        notes.append(
            f"the PDAG has no consistent extension: {len(und)} undirected edges follow a topological order"
        )
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
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    try:
        return [(str(u), str(v)) for u, v in nx.find_cycle(graph)]
    except nx.NetworkXNoCycle:
        return []


# -- CLI: recdo structure ---------------------------------------------------------------------------


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file of discrete columns; numbers must be whole (discretise continuous columns first)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"data file {str(path)!r} does not exist; pass a CSV or Parquet file")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path)
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_float_dtype(values) and not np.all(np.mod(values.dropna(), 1) == 0):
            raise ValueError(
                f"column {col!r} holds non-integer numbers; structure learning needs discrete columns: "
                "bin it first (causal.discretize) or drop it"
            )
    return frame


def main(argv: Sequence[str] | None = None) -> int:
    """`recdo structure --data PATH --algorithm hc|pc|ges|mmhc --score bic|bdeu|k2 [--json] [--max-indegree N]`."""
    parser = argparse.ArgumentParser(
        prog="recdo structure",
        description="Learn a DAG from a CSV or Parquet file of discrete columns and print its edges.",
    )
    parser.add_argument("--data", required=True, help="CSV or Parquet file, one discrete column per variable")
    parser.add_argument("--algorithm", choices=ALGORITHMS, default="hc")
    parser.add_argument("--score", choices=SCORES, default="bic")
    parser.add_argument("--max-indegree", type=int, default=None, help="at most this many parents per node")
    parser.add_argument("--equivalent-sample-size", type=float, default=10.0, help="BDeu prior strength")
    parser.add_argument("--json", action="store_true", help='print {"edges": [[u, v], ...], "seconds": t}')
    args = parser.parse_args(argv)
    try:
        frame = read_table(args.data)
        result = learn(
            frame,
            algorithm=args.algorithm,
            score=args.score,
            max_indegree=args.max_indegree,
            equivalent_sample_size=args.equivalent_sample_size,
        )
    except ValueError as err:
        print(f"recdo structure: error: {err}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({"edges": [list(e) for e in result.edges], "seconds": round(result.seconds, 6)}))
    else:
        for u, v in result.edges:
            print(f"{u} -> {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
