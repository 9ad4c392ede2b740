"""Learn the network's edges by hill climbing (BIC) under the domain tiers and required edges."""

from __future__ import annotations

import time

import pandas as pd

from causal.config import CausalConfig
from causal.network.hillclimb import hill_climb
from causal.network.knowledge import LearnedStructure, tier_forbidden
from causal.network.scores import EncodedData, encode
from causal.values import Edge


def learn_structure(
    data: pd.DataFrame,
    tiers: tuple[tuple[str, ...], ...],
    required: tuple[Edge, ...],
    config: CausalConfig,
) -> LearnedStructure:
    """Hill-climb a DAG over the tier nodes of `data` (BIC), never pointing into an earlier tier.

    Within a tier edges follow the listed order (`tier_forbidden(within="listed")`, which says why).

    recdo's hill climber (causal.network.hillclimb) runs the same search as pgmpy's HillClimbSearch(bic-d)
    and finds the same graphs (bench/structure.py), many times faster, so the bootstrap can relearn
    the structure in every replicate.

    Required edges (treatment -> outcome, so the question asked stays answerable) are in the start
    graph and the search may neither remove nor flip them; max in-degree comes from the config.
    """
    nodes = [node for tier in tiers for node in tier]
    if len(set(nodes)) != len(nodes):
        dup = sorted({n for n in nodes if nodes.count(n) > 1})
        raise ValueError(f"nodes {dup} appear in more than one tier; put each node in exactly one tier")
    missing = [n for n in nodes if n not in data.columns]
    if missing:
        raise ValueError(f"tier nodes {missing} are not columns of the data; columns: {sorted(data.columns)}")
    forbidden = tier_forbidden(tiers, within="listed")
    for edge in required:
        if edge[0] not in nodes or edge[1] not in nodes:
            raise ValueError(f"required edge {edge} names a node outside the tiers; known nodes: {sorted(nodes)}")
        if edge in forbidden:
            raise ValueError(
                f"required edge {edge[0]!r} -> {edge[1]!r} points against the tiers {tiers}; "
                "reverse it or move the nodes to other tiers"
            )

    start = time.perf_counter()
    # Columns in tier order: the search breaks exact ties by column order, which must not depend on the caller.
    result = search(encode(data.loc[:, nodes].astype(str)), tiers, required, config.max_indegree)
    seconds = time.perf_counter() - start

    edges = tuple(sorted(result))
    broken = [e for e in edges if e in forbidden]
    if broken:  # the search has to honour forbidden edges; fail loudly if it ever stops doing so
        raise RuntimeError(f"structure search returned edges {broken} that the tiers forbid")
    lost = [e for e in required if e not in edges]
    if lost:
        raise RuntimeError(f"structure search dropped required edges {lost}")
    return LearnedStructure(edges=edges, seconds=seconds, algorithm="hc", score="bic")


def search(
    enc: EncodedData,
    tiers: tuple[tuple[str, ...], ...],
    required: tuple[Edge, ...],
    max_indegree: int | None,
) -> tuple[Edge, ...]:
    """The BIC hill climb under the tiers (within a tier: the listed order) on already encoded data.

    `tiers` give hill_climb the edges into an earlier tier; the within-tier order comes on top as forbidden edges.
    """
    return hill_climb(
        enc,
        "bic",
        tiers=tiers,
        required=required,
        forbidden=tier_forbidden(tiers, within="listed"),
        max_indegree=max_indegree,
    ).edges
