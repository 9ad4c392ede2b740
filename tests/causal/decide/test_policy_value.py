"""The segment policy's value: by the network's replicates and doubly robust on a hand-made log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.decide.policy import dr_value, network_value, segment_policy
from causal.decide.replicates import ReplicateSet, frame_of, replicate_sets
from causal.decide.run import decide_sets


def _sets():
    high = ReplicateSet("t", "y", "a", "seg", "high", 300, ("a", "b"), np.array([[0.2, 0.4], [0.3, 0.5]]))
    low = ReplicateSet("t", "y", "a", "seg", "low", 100, ("a", "b"), np.array([[0.2, 0.1], [0.4, 0.1]]))
    return high, low


def test_policy_takes_each_segments_best_and_values_it_by_segment_shares():
    sets = _sets()
    policy = segment_policy(decide_sets(sets))
    assert policy == {"high": "b", "low": "a"}
    value = network_value(sets, policy)
    # replicate 0: 0.75 * 0.4 + 0.25 * 0.2 = 0.35; replicate 1: 0.75 * 0.5 + 0.25 * 0.4 = 0.475
    assert value.estimate == pytest.approx((0.35 + 0.475) / 2)
    assert value.ci_low == pytest.approx(0.35, abs=0.01) and value.ci_high == pytest.approx(0.475, abs=0.01)
    assert value.n_rows == 400 and value.method == "bn_do"


def test_replicate_rows_round_trip_through_the_long_table():
    frame = frame_of(_sets())
    assert len(frame) == 2 * 2 * 2
    back = replicate_sets(frame)
    assert [(r.segment_value, r.n_rows) for r in back] == [("high", 300), ("low", 100)]
    np.testing.assert_array_equal(back[0].means, _sets()[0].means)


def test_dr_is_unbiased_with_logged_propensities_where_the_naive_mean_is_not():
    # One segment; the logging policy served b with 0.8 where clicks are rare for a (0.1), b clicks at 0.5.
    # Every (value, y) cell is its expected count, so DR of "always b" is exactly 0.5.
    cells = pd.DataFrame(
        {
            "segment_value": ["s"] * 4,
            "value": ["a", "a", "b", "b"],
            "y": [1.0, 0.0, 1.0, 0.0],
            "propensity": [0.2, 0.2, 0.8, 0.8],
            "n": [20, 180, 400, 400],
        }
    )
    got = dr_value(cells, {"s": "b"}, treatment="t", outcome="y", segment="seg")
    assert got.estimate == pytest.approx(0.5) and got.ci_low < 0.5 < got.ci_high and got.n_rows == 1000
    none = dr_value(cells.assign(propensity=0.0), {"s": "b"}, treatment="t", outcome="y", segment="seg")
    assert np.isnan(none.estimate) and "propensity outside (0, 1]" in none.explanation
    unseen = dr_value(cells[cells.value == "a"], {"s": "b"}, treatment="t", outcome="y", segment="seg")
    assert np.isnan(unseen.estimate) and "never served the policy's value" in unseen.explanation
    # The simulator's propensity is the strategy's; asked about reason_shown, DR would weight by the wrong
    # probability (its inverse weights count 4x the rows): no number, and a sentence that says why
    other = cells.assign(propensity=[0.05, 0.05, 0.2, 0.2])
    wrong = dr_value(other, {"s": "b"}, treatment="reason_shown", outcome="y", segment="seg")
    assert np.isnan(wrong.estimate) and "not P(reason_shown | context)" in wrong.explanation


def test_a_pair_without_a_segment_policy_still_gets_rows_that_say_why():
    from causal.decide.run import pair_policy_values

    high, low = _sets()
    low = ReplicateSet("t", "y", "a", "seg", "low", 100, ("a", "b"), np.full((2, 2), np.nan))
    population = ReplicateSet("t", "y", "a", "all", "all", 400, ("a", "b"), high.means)
    rows = pair_policy_values((population, high, low), "the log has no column ['propensity']")
    assert [r.method for r in rows] == ["bn_do", "dr"]
    assert all(np.isnan(r.estimate) and r.explanation.startswith("no decision in seg=low (a, b have") for r in rows)
    valued = pair_policy_values((population, *_sets()), "the log has no column ['propensity']")
    assert valued[0].policy == {"high": "b", "low": "a"} and not np.isnan(valued[0].estimate)
    assert np.isnan(valued[1].estimate) and valued[1].explanation == "the log has no column ['propensity']"
