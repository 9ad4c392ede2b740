"""Domain knowledge for structure learning (tiers, required and forbidden edges), its tier rule, and the learned DAG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from causal.values import Edge

WithinTier = Literal["both", "listed"]


def tier_forbidden(
    tiers: Sequence[Sequence[str]],
    *,
    within: WithinTier,
    columns: Sequence[str] | None = None,
) -> frozenset[Edge]:
    """Every edge the tiers rule out: an earlier tier may cause a later one, never the reverse.

    Edges into an earlier tier are always forbidden; forward edges that skip tiers are allowed
    (users -> click is wanted). Within a tier the caller says what holds, because the two users
    of tiers need different things:

    - ``"both"``: both directions are allowed, pgmpy 1.1's ``temporal_order`` rule. `learn()`
      (every algorithm, PC's orientation included) and `hill_climb(tiers=...)` use it.
    - ``"listed"``: only from the node listed first to the one listed later. The pipeline's
      `learn_structure` uses it: inside a tier the direction carries no causal claim (the user
      features are all pre-treatment; their edges only factorise their joint distribution), but a
      score-equivalent reversal scores exactly the same under BIC, so without a fixed direction
      the search (pgmpy's, which breaks ties by set order and PYTHONHASHSEED) could return either.
      Fixing the direction makes the search, and every estimate downstream, the same in every process.

    The two give different DAGs whenever the data favour an edge against the listed order inside
    a tier, so neither can replace the other without changing results.

    With `columns`, each tier node must be one of them and appear in one tier only (ValueError otherwise).
    """
    if columns is not None:
        known = set(columns)
        seen: set[str] = set()
        for tier in tiers:
            for node in tier:
                if node not in known:
                    raise ValueError(f"tier node {node!r} is not a column of the data; columns: {list(columns)}")
                if node in seen:
                    raise ValueError(f"node {node!r} appears in more than one tier; put each node in exactly one tier")
                seen.add(node)
    if within not in ("both", "listed"):
        raise ValueError(f"within must be 'both' or 'listed'; got {within!r}")
    forbidden: set[Edge] = set()
    for i, tier in enumerate(tiers):
        for later in tiers[i + 1 :]:
            forbidden.update((b, a) for a in tier for b in later)
        if within == "listed":
            forbidden.update((b, a) for a, b in combinations(tier, 2))
    return frozenset(forbidden)


@dataclass(frozen=True)
class Knowledge:
    """Domain knowledge for every algorithm: tiers (temporal order), required and forbidden edges.

    `tiers` list the nodes from earliest to latest; no edge may point into an earlier tier, edges
    within a tier are allowed both ways (`tier_forbidden(within="both")`, pgmpy's `temporal_order`
    rule). When given, the tiers must place every column of the data. Lists are accepted and stored
    as tuples.
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
        return set(self.forbidden) | tier_forbidden(self.tiers, within="both", columns=columns)

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raise ValueError when the knowledge names a non-column, or tiers leave a column unplaced."""
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
    """A learned DAG, the seconds the search took, and what to know about it.

    `edges` come in a fixed order: column order from `learn()`, sorted by name from the pipeline's
    `learn_structure` (a BIC hill climb, hence its defaults). `notes` say where knowledge changed
    what an algorithm found, or where a search stopped early.
    """

    edges: tuple[Edge, ...]
    seconds: float
    algorithm: str = "hc"
    score: str = "bic"
    notes: tuple[str, ...] = ()
