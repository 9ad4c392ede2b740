"""Identify P(outcome | do(treatment)) in a learned graph: back-door set, front-door set, or why neither exists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import networkx as nx

Edge = tuple[str, str]
Strategy = Literal["backdoor", "frontdoor", "none"]
MAX_SET_SIZE = 4  # larger candidate sets are tried only whole (all candidates at once)


@dataclass(frozen=True)
class Identification:
    """How the effect is identified: the criterion, the set it uses, and a sentence a person can check."""

    strategy: Strategy
    adjustment_set: tuple[str, ...]  # back-door: adjusted for; front-door: the mediators; none: ()
    explanation: str

    @property
    def identified(self) -> bool:
        return self.strategy != "none"


def latent_name(a: str, b: str) -> str:
    return f"U({a},{b})"


def causal_graph(
    edges: Iterable[Edge], nodes: Iterable[str] = (), latent_confounders: Iterable[Edge] = ()
) -> nx.DiGraph:
    """The learned DAG plus one hidden parent U(a,b) -> a, U(a,b) -> b per declared unobserved common cause."""
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    for a, b in latent_confounders:
        for node in (a, b):
            if node not in graph:
                raise ValueError(
                    f"latent confounder ({a!r}, {b!r}) names {node!r}, which is not in the network; "
                    f"known nodes: {sorted(map(str, graph.nodes))}"
                )
        u = latent_name(a, b)
        graph.add_edges_from([(u, a), (u, b)])
    return graph


def is_backdoor_set(graph: nx.DiGraph, treatment: str, outcome: str, z: Iterable[str]) -> bool:
    """Pearl's back-door criterion: no member descends from the treatment, and Z blocks every back-door path."""
    z = set(z)
    if z & (nx.descendants(graph, treatment) | {treatment, outcome}):
        return False
    cut = graph.copy()
    cut.remove_edges_from(list(graph.out_edges(treatment)))
    return nx.is_d_separator(cut, {treatment}, {outcome}, z)


def is_frontdoor_set(graph: nx.DiGraph, treatment: str, outcome: str, m: Iterable[str]) -> bool:
    """Pearl's front-door criterion for mediators M between treatment and outcome."""
    m = set(m)
    if not m or m & {treatment, outcome}:
        return False
    # (i) M intercepts every directed path from the treatment to the outcome
    without = graph.copy()
    without.remove_nodes_from(m)
    if nx.has_path(without, treatment, outcome):
        return False
    # (ii) no unblocked back-door path from the treatment to M
    cut_t = graph.copy()
    cut_t.remove_edges_from(list(graph.out_edges(treatment)))
    if not nx.is_d_separator(cut_t, {treatment}, m, set()):
        return False
    # (iii) the treatment blocks every back-door path from M to the outcome
    cut_m = graph.copy()
    cut_m.remove_edges_from([e for node in m for e in graph.out_edges(node)])
    return nx.is_d_separator(cut_m, m, {outcome}, {treatment})


def identify(
    edges: Iterable[Edge],
    treatment: str,
    outcome: str,
    *,
    nodes: Sequence[str] = (),
    latent_confounders: Iterable[Edge] = (),
) -> Identification:
    """The back-door set to adjust for (the treatment's parents when nothing hidden touches it, else the
    smallest valid observed set), else a front-door mediator set, else `none` with the reason.
    """
    latent_confounders = tuple(tuple(pair) for pair in latent_confounders)
    graph = causal_graph(edges, nodes, latent_confounders)
    for node, role in ((treatment, "treatment"), (outcome, "outcome")):
        if node not in graph:
            raise ValueError(f"{role} {node!r} is not in the network; known nodes: {sorted(map(str, graph.nodes))}")
    if treatment in nx.descendants(graph, outcome):
        raise ValueError(
            f"treatment {treatment!r} is a descendant of outcome {outcome!r}; an intervention cannot change "
            "its own cause: check the tiers"
        )
    hidden = {latent_name(a, b) for a, b in latent_confounders}
    observed = [n for n in graph.nodes if n not in hidden]
    parents = sorted(graph.predecessors(treatment))
    if not set(parents) & hidden and is_backdoor_set(graph, treatment, outcome, parents):
        text = f"{treatment}'s parents {parents}" if parents else "nothing (no back-door path)"
        return Identification("backdoor", tuple(parents), f"back-door: adjust for {text}")

    descendants = nx.descendants(graph, treatment)
    relevant = nx.ancestors(graph, treatment) | nx.ancestors(graph, outcome)
    candidates = sorted(n for n in observed if n in relevant and n not in descendants and n not in (treatment, outcome))
    for z in _subsets(candidates):
        if is_backdoor_set(graph, treatment, outcome, z):
            return Identification(
                "backdoor", z, f"back-door: adjust for {list(z) or 'nothing'} (a hidden cause touches {treatment})"
            )

    mediators = sorted(n for n in observed if n in descendants and n in nx.ancestors(graph, outcome))
    for m in _subsets(mediators):
        if m and is_frontdoor_set(graph, treatment, outcome, m):
            return Identification("frontdoor", m, f"front-door through {list(m)}: the effect passes only through them")

    direct = graph.has_edge(treatment, outcome)
    reasons = [
        f"hidden common causes {sorted(hidden)} open back-door paths from {treatment} to {outcome} that no set of "
        "observed variables blocks"
    ]
    if direct:
        reasons.append(f"the direct edge {treatment} -> {outcome} rules out a front-door estimate")
    elif mediators:
        reasons.append(f"the mediators {mediators} do not satisfy the front-door criterion")
    else:
        reasons.append("no observed mediator carries the effect")
    return Identification(
        "none",
        (),
        f"P({outcome} | do({treatment})) is not identifiable: " + "; ".join(reasons) + ". "
        f"Measure the hidden cause, log a mediator the whole effect passes through, or randomise {treatment}.",
    )


def _subsets(items: Sequence[str]):
    """Subsets by size, smallest first, up to MAX_SET_SIZE, then the whole set."""
    for size in range(0, min(len(items), MAX_SET_SIZE) + 1):
        yield from combinations(items, size)
    if len(items) > MAX_SET_SIZE:
        yield tuple(items)
