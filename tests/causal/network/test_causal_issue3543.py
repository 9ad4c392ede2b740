"""pgmpy issue 3543: CausalInference.query drops evidence outside its adjustment set; recdo does not."""

from __future__ import annotations

import warnings

import pytest
from pgmpy.factors.discrete import TabularCPD
from pgmpy.models import DiscreteBayesianNetwork

from causal import conditional_do_query

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from pgmpy.inference import CausalInference, VariableElimination

BIN = ["0", "1"]


@pytest.fixture
def sprinkler() -> DiscreteBayesianNetwork:
    """The issue's repro: cloudy C -> sprinkler S, C -> rain R, S -> wet grass W, R -> W."""
    m = DiscreteBayesianNetwork([("C", "S"), ("C", "R"), ("S", "W"), ("R", "W")])
    names = lambda *vs: {v: BIN for v in vs}  # noqa: E731
    m.add_cpds(
        TabularCPD("C", 2, [[0.5], [0.5]], state_names=names("C")),
        TabularCPD("S", 2, [[0.5, 0.9], [0.5, 0.1]], evidence=["C"], evidence_card=[2], state_names=names("S", "C")),
        TabularCPD("R", 2, [[0.8, 0.2], [0.2, 0.8]], evidence=["C"], evidence_card=[2], state_names=names("R", "C")),
        TabularCPD(
            "W",
            2,
            [[1.0, 0.1, 0.1, 0.01], [0.0, 0.9, 0.9, 0.99]],
            evidence=["S", "R"],
            evidence_card=[2, 2],
            state_names=names("W", "S", "R"),
        ),
    )
    return m


def test_evidence_outside_the_adjustment_set(sprinkler):
    # By hand: with S forced to 1 and R observed 1, W's parents are both fixed, so
    # P(W=1 | do(S=1), R=1) = P(W=1 | S=1, R=1) = 0.99.
    ours = conditional_do_query(sprinkler, "S", "1", "W", {"R": "1"})
    assert ours == pytest.approx(0.99, abs=1e-12)

    # The same number from pgmpy's own elimination on model.do() with the intervened value observed.
    reference = VariableElimination(sprinkler.do(["S"])).query(
        ["W"], evidence={"S": "1", "R": "1"}, show_progress=False
    )
    assert ours == pytest.approx(reference.get_value(W="1"), abs=1e-12)

    # pgmpy 1.1's CausalInference gets this query wrong (issue 3543); if a release fixes it,
    # this assertion fails and tells us the workaround can go.
    theirs = CausalInference(sprinkler).query(["W"], do={"S": "1"}, evidence={"R": "1"}, show_progress=False)
    assert abs(theirs.get_value(W="1") - 0.99) > 0.01


def test_bad_evidence_is_named(sprinkler):
    with pytest.raises(
        ValueError, match=r"evidence variable 'X' is not in the network; known nodes: \['C', 'R', 'S', 'W'\]"
    ):
        conditional_do_query(sprinkler, "S", "1", "W", {"X": "1"})
    with pytest.raises(ValueError, match=r"evidence R='2' is not a state of 'R'"):
        conditional_do_query(sprinkler, "S", "1", "W", {"R": "2"})
