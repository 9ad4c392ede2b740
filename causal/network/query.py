"""Answer P(outcome | do(treatment=value)) with pgmpy, cross-checked on the mutilated network."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import networkx as nx
from pgmpy.factors.discrete import TabularCPD
from pgmpy.models import DiscreteBayesianNetwork

with warnings.catch_warnings():
    # pgmpy 1.1's own CausalInference imports its deprecated pgmpy.estimators; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r"`pgmpy\.estimators\.", category=FutureWarning)
    from pgmpy.inference import CausalInference, VariableElimination

TOLERANCE = 1e-6


class DoQueryMismatch(RuntimeError):
    """CausalInference.query and elimination on the mutilated network gave different answers."""


def do_query(
    model: DiscreteBayesianNetwork,
    treatment: str,
    value: str,
    outcome: str,
    outcome_value: str = "1",
) -> float:
    """P(outcome=outcome_value | do(treatment=value)), checked against the mutilated network.

    pgmpy's CausalInference adjusts for the treatment's parents; an independent answer comes from
    variable elimination on the network with the treatment's incoming edges cut and its CPD a
    point mass on `value`. Every query is checked: CausalInference.query is known to return wrong
    numbers in some cases (pgmpy issue 3543), so a disagreement stops the run.

    Both run on the ancestral part of the network (ancestors of outcome and treatment, with them):
    the other nodes are barren, summing them out multiplies by 1, so the answer is the same and
    each of CausalInference's per-stratum eliminations is about twice as fast.
    """
    _check_query(model, treatment, value, outcome, outcome_value)
    model = ancestral_part(model, (treatment, outcome))
    factor = CausalInference(model).query([outcome], do={treatment: value}, show_progress=False)
    causal = float(factor.get_value(**{outcome: outcome_value}))
    mutilated = mutilate(model, treatment, value)
    check = VariableElimination(mutilated).query([outcome], show_progress=False)
    reference = float(check.get_value(**{outcome: outcome_value}))
    return check_agreement(causal, reference, f"P({outcome}={outcome_value!r} | do({treatment}={value!r}))")


def conditional_do_query(
    model: DiscreteBayesianNetwork,
    treatment: str,
    value: str,
    outcome: str,
    evidence: dict[str, str],
    outcome_value: str = "1",
) -> float:
    """P(outcome=outcome_value | do(treatment=value), evidence), e.g. an effect within a user segment.

    Answered by variable elimination on the mutilated network with the evidence observed. pgmpy's
    CausalInference.query is not used here: with evidence outside its adjustment set it drops the
    evidence from the outcome query and returns a wrong number (pgmpy issue 3543).
    """
    _check_query(model, treatment, value, outcome, outcome_value)
    for node, observed in evidence.items():
        _check_node(model, node, "evidence variable")
        if node in (treatment, outcome):
            raise ValueError(f"evidence on {node!r} is the query itself; pass evidence on other nodes")
        states = list(model.get_cpds(node).state_names[node])
        if observed not in states:
            raise ValueError(f"evidence {node}={observed!r} is not a state of {node!r}; states: {states}")
    mutilated = mutilate(model, treatment, value)
    factor = VariableElimination(mutilated).query([outcome], evidence=dict(evidence), show_progress=False)
    return float(factor.get_value(**{outcome: outcome_value}))


def check_agreement(causal: float, reference: float, query: str) -> float:
    """`causal` when it is within TOLERANCE of `reference`; DoQueryMismatch otherwise."""
    if not abs(causal - reference) <= TOLERANCE:
        raise DoQueryMismatch(
            f"{query}: CausalInference.query gave {causal!r} but variable elimination on the mutilated "
            f"network gave {reference!r} (|diff| > {TOLERANCE}); this is the kind of wrong answer of pgmpy "
            "issue 3543 (https://github.com/pgmpy/pgmpy/issues/3543); do not trust either number until it is explained"
        )
    return causal


def ancestral_part(model: DiscreteBayesianNetwork, nodes: Iterable[str]) -> DiscreteBayesianNetwork:
    """The sub-network on `nodes` and all their ancestors, with the same CPDs (its joint is a marginal)."""
    keep = set(nodes)
    for node in list(keep):
        keep |= nx.ancestors(model, node)
    if len(keep) == len(model):
        return model
    part = DiscreteBayesianNetwork()
    part.add_nodes_from(n for n in model.nodes() if n in keep)
    part.add_edges_from((a, b) for a, b in model.edges() if b in keep)
    part.add_cpds(*(model.get_cpds(n) for n in part.nodes()))
    return part


def mutilate(model: DiscreteBayesianNetwork, treatment: str, value: str) -> DiscreteBayesianNetwork:
    """The network of do(treatment=value): no edges into the treatment, its CPD a point mass on value.

    Built by hand rather than with `model.do`, which marginalises the treatment's CPD instead of
    fixing its value (the caller would have to condition on it as evidence).
    """
    _check_node(model, treatment, "do-variable")
    states = list(model.get_cpds(treatment).state_names[treatment])
    if value not in states:
        raise ValueError(f"do-value {value!r} is not a state of {treatment!r}; states: {states}")
    kept = [(a, b) for a, b in model.edges() if b != treatment]
    mutilated = DiscreteBayesianNetwork()
    mutilated.add_nodes_from(model.nodes())
    mutilated.add_edges_from(kept)
    point = TabularCPD(
        treatment,
        len(states),
        [[1.0 if s == value else 0.0] for s in states],
        state_names={treatment: states},
    )
    others = [cpd for cpd in model.get_cpds() if cpd.variable != treatment]
    mutilated.add_cpds(point, *others)
    return mutilated


def adjustment_set(
    model_or_edges: DiscreteBayesianNetwork | nx.DiGraph | Iterable[tuple[str, str]],
    treatment: str,
    outcome: str,
) -> tuple[str, ...]:
    """The treatment's parents, sorted: in a DAG they block every back-door path to the outcome."""
    if isinstance(model_or_edges, nx.DiGraph):
        graph = model_or_edges
    else:
        graph = nx.DiGraph()
        graph.add_edges_from(model_or_edges)
    for node, role in ((treatment, "treatment"), (outcome, "outcome")):
        if node not in graph:
            raise ValueError(f"{role} {node!r} is not in the network; known nodes: {sorted(map(str, graph.nodes))}")
    if outcome in graph.predecessors(treatment):
        raise ValueError(
            f"outcome {outcome!r} is a parent of treatment {treatment!r}; "
            "the graph must point from treatment to outcome"
        )
    return tuple(sorted(graph.predecessors(treatment)))


def _check_node(model: DiscreteBayesianNetwork, node: str, role: str) -> None:
    if node not in model.nodes():
        raise ValueError(f"{role} {node!r} is not in the network; known nodes: {sorted(map(str, model.nodes()))}")


def _check_query(model: DiscreteBayesianNetwork, treatment: str, value: str, outcome: str, outcome_value: str) -> None:
    _check_node(model, treatment, "do-variable")
    _check_node(model, outcome, "outcome")
    if treatment == outcome:
        raise ValueError(f"do-variable and outcome are both {treatment!r}; ask about another node")
    if treatment in nx.descendants(model, outcome):
        raise ValueError(
            f"do-variable {treatment!r} is a descendant of outcome {outcome!r}; "
            "an intervention cannot change its own cause: check the tiers"
        )
    states = list(model.get_cpds(treatment).state_names[treatment])
    if value not in states:
        raise ValueError(f"do-value {value!r} is not a state of {treatment!r}; states: {states}")
    outcome_states = list(model.get_cpds(outcome).state_names[outcome])
    if outcome_value not in outcome_states:
        raise ValueError(f"outcome value {outcome_value!r} is not a state of {outcome!r}; states: {outcome_states}")
