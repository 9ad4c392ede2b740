"""do-queries on a textbook confounder triangle with hand-checked answers."""

from __future__ import annotations

import pytest
from pgmpy.factors.discrete import TabularCPD
from pgmpy.inference import VariableElimination
from pgmpy.models import DiscreteBayesianNetwork

from causal.network.query import DoQueryMismatch, adjustment_set, check_agreement, do_query, mutilate

S = ["0", "1"]


@pytest.fixture
def triangle() -> DiscreteBayesianNetwork:
    """Z -> X, Z -> Y, X -> Y (Z confounds the effect of X on Y).

    P(Z=1) = 0.3
    P(X=1 | Z=0) = 0.2,   P(X=1 | Z=1) = 0.8
    P(Y=1 | X=0, Z=0) = 0.1, P(Y=1 | X=0, Z=1) = 0.5
    P(Y=1 | X=1, Z=0) = 0.3, P(Y=1 | X=1, Z=1) = 0.7

    By hand, P(Y=1 | do(X=x)) = sum_z P(Y=1 | x, z) P(z):
      do(X=1): 0.3 * 0.7 + 0.7 * 0.3 = 0.21 + 0.21 = 0.42
      do(X=0): 0.1 * 0.7 + 0.5 * 0.3 = 0.07 + 0.15 = 0.22
    while observing X weights z by P(z | x):
      P(X=1) = 0.7 * 0.2 + 0.3 * 0.8 = 0.38
      P(Y=1 | X=1) = (0.3 * 0.14 + 0.7 * 0.24) / 0.38 = 0.21 / 0.38  ~ 0.5526
      P(Y=1 | X=0) = (0.1 * 0.56 + 0.5 * 0.06) / 0.62 = 0.086 / 0.62 ~ 0.1387
    so the observational difference (0.414) is twice the causal one (0.20).
    """
    model = DiscreteBayesianNetwork([("Z", "X"), ("Z", "Y"), ("X", "Y")])
    model.add_cpds(
        TabularCPD("Z", 2, [[0.7], [0.3]], state_names={"Z": S}),
        TabularCPD("X", 2, [[0.8, 0.2], [0.2, 0.8]], evidence=["Z"], evidence_card=[2], state_names={"X": S, "Z": S}),
        # columns: (X=0,Z=0), (X=0,Z=1), (X=1,Z=0), (X=1,Z=1)
        TabularCPD(
            "Y",
            2,
            [[0.9, 0.5, 0.7, 0.3], [0.1, 0.5, 0.3, 0.7]],
            evidence=["X", "Z"],
            evidence_card=[2, 2],
            state_names={"Y": S, "X": S, "Z": S},
        ),
    )
    model.check_model()
    return model


def test_do_query_matches_hand_computed_backdoor_formula(triangle):
    assert do_query(triangle, "X", "1", "Y") == pytest.approx(0.42, abs=1e-12)
    assert do_query(triangle, "X", "0", "Y") == pytest.approx(0.22, abs=1e-12)
    assert do_query(triangle, "X", "1", "Y", outcome_value="0") == pytest.approx(0.58, abs=1e-12)


def test_do_query_differs_from_conditioning(triangle):
    ve = VariableElimination(triangle)
    observed = {x: ve.query(["Y"], evidence={"X": x}, show_progress=False).get_value(Y="1") for x in S}
    assert observed["1"] == pytest.approx(0.21 / 0.38, abs=1e-12)
    assert observed["0"] == pytest.approx(0.086 / 0.62, abs=1e-12)
    causal = do_query(triangle, "X", "1", "Y") - do_query(triangle, "X", "0", "Y")
    assert causal == pytest.approx(0.20, abs=1e-12)
    assert observed["1"] - observed["0"] > causal + 0.2


def test_mutilated_network_cuts_edges_and_fixes_the_value(triangle):
    mutilated = mutilate(triangle, "X", "1")
    assert set(mutilated.edges()) == {("Z", "Y"), ("X", "Y")}
    point = mutilated.get_cpds("X")
    assert point.get_evidence() == []
    assert list(point.values) == [0.0, 1.0]
    assert set(triangle.edges()) == {("Z", "X"), ("Z", "Y"), ("X", "Y")}  # the input is left as it was
    cross_check = VariableElimination(mutilated).query(["Y"], show_progress=False).get_value(Y="1")
    assert cross_check == pytest.approx(0.42, abs=1e-12)


def test_pgmpy_do_marginalises_rather_than_fixing(triangle):
    # Why mutilate() exists: model.do keeps X random (its marginal), so P(Y) there is not P(Y | do(X=1)).
    marginal = VariableElimination(triangle.do(["X"])).query(["Y"], show_progress=False).get_value(Y="1")
    assert marginal != pytest.approx(0.42, abs=1e-3)


def test_adjustment_set_is_sorted_parents(triangle):
    assert adjustment_set(triangle, "X", "Y") == ("Z",)
    assert adjustment_set([("b", "t"), ("a", "t"), ("t", "y"), ("a", "y")], "t", "y") == ("a", "b")
    assert adjustment_set([("t", "y")], "t", "y") == ()


def test_unknown_do_variable_names_node_and_known_nodes(triangle):
    with pytest.raises(ValueError, match=r"do-variable 'W' is not in the network; known nodes: \['X', 'Y', 'Z'\]"):
        do_query(triangle, "W", "1", "Y")
    with pytest.raises(ValueError, match=r"treatment 'W' is not in the network; known nodes: \['X', 'Y', 'Z'\]"):
        adjustment_set(triangle, "W", "Y")


def test_unknown_states_and_backward_queries_raise(triangle):
    with pytest.raises(ValueError, match=r"do-value '2' is not a state of 'X'; states: \['0', '1'\]"):
        do_query(triangle, "X", "2", "Y")
    with pytest.raises(ValueError, match=r"outcome value 'yes' is not a state of 'Y'"):
        do_query(triangle, "X", "1", "Y", outcome_value="yes")
    with pytest.raises(ValueError, match=r"do-variable 'Z' is a descendant of outcome 'X'"):
        do_query(_reversed_pair(), "Z", "1", "X")


def _reversed_pair() -> DiscreteBayesianNetwork:
    model = DiscreteBayesianNetwork([("X", "Z")])
    model.add_cpds(
        TabularCPD("X", 2, [[0.5], [0.5]], state_names={"X": S}),
        TabularCPD("Z", 2, [[0.9, 0.1], [0.1, 0.9]], evidence=["X"], evidence_card=[2], state_names={"Z": S, "X": S}),
    )
    return model


def test_mismatch_names_both_numbers_the_query_and_the_issue():
    assert check_agreement(0.42, 0.42 + 1e-9, "P(Y='1' | do(X='1'))") == 0.42
    with pytest.raises(DoQueryMismatch, match=r"P\(Y='1' \| do\(X='1'\)\).*0\.5.*0\.42.*issue 3543"):
        check_agreement(0.5, 0.42, "P(Y='1' | do(X='1'))")


def test_barren_and_unrelated_nodes_change_nothing(triangle):
    # W hangs below Y and V stands alone: do_query works on the ancestral part and must agree.
    bigger = DiscreteBayesianNetwork([("Z", "X"), ("Z", "Y"), ("X", "Y"), ("Y", "W")])
    bigger.add_node("V")
    bigger.add_cpds(
        *triangle.get_cpds(),
        TabularCPD("W", 2, [[0.6, 0.1], [0.4, 0.9]], evidence=["Y"], evidence_card=[2], state_names={"W": S, "Y": S}),
        TabularCPD("V", 2, [[0.5], [0.5]], state_names={"V": S}),
    )
    assert do_query(bigger, "X", "1", "Y") == pytest.approx(0.42, abs=1e-12)
    assert do_query(bigger, "X", "0", "W") == pytest.approx(0.78 * 0.4 + 0.22 * 0.9, abs=1e-12)
    # V does not cause Y: P(Y | do(V)) is P(Y) = 0.38 * 0.55263 + 0.62 * 0.13871 = 0.21 + 0.086
    assert do_query(bigger, "V", "1", "Y") == pytest.approx(0.296, abs=1e-12)
