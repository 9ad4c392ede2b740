"""The decision maths on hand-made replicate arrays: P(best), expected loss, lift, ties, missing replicates."""

from __future__ import annotations

import numpy as np
import pytest

from causal.decide.posterior import decide, expected_loss, p_best

VALUES = ("a", "b", "c")


def _decide(means, baseline="a", **kw):
    return decide(np.asarray(means, dtype=float), VALUES, baseline, treatment="t", outcome="y", **kw)


def test_p_best_counts_winners_and_sums_to_one():
    means = np.array([[0.1, 0.3, 0.2], [0.1, 0.2, 0.3], [0.1, 0.4, 0.2], [0.5, 0.2, 0.1]])
    assert p_best(means).tolist() == pytest.approx([0.25, 0.5, 0.25])
    assert p_best(means).sum() == pytest.approx(1.0)


def test_ties_split_the_win():
    means = np.array([[0.2, 0.2, 0.1], [0.3, 0.3, 0.3]])
    # replicate 0: a and b tie (1/2 each); replicate 1: three-way tie (1/3 each)
    assert p_best(means).tolist() == pytest.approx([(0.5 + 1 / 3) / 2, (0.5 + 1 / 3) / 2, (1 / 3) / 2])
    assert p_best(means).sum() == pytest.approx(1.0)
    assert expected_loss(means).tolist() == pytest.approx([0.0, 0.0, 0.05])


def test_expected_loss_is_the_mean_shortfall_from_each_replicates_best():
    means = np.array([[0.1, 0.3, 0.2], [0.1, 0.2, 0.4]])
    # a: (0.2 + 0.3) / 2; b: (0 + 0.2) / 2; c: (0.1 + 0) / 2
    assert expected_loss(means).tolist() == pytest.approx([0.25, 0.1, 0.05])


def test_recommended_is_the_single_value_of_smallest_loss_with_lift_against_baseline():
    rng = np.random.default_rng(0)
    means = np.column_stack([rng.normal(0.10, 0.01, 400), rng.normal(0.12, 0.01, 400), rng.normal(0.11, 0.01, 400)])
    d = _decide(means)
    assert sum(v.recommended for v in d.values) == 1
    best = d.recommended
    assert best.value == "b"
    assert best.expected_loss == min(v.expected_loss for v in d.values)
    assert sum(v.p_best for v in d.values) == pytest.approx(1.0)
    a, b = d.values[0], d.values[1]
    assert a.lift == 0.0 and a.lift_low == 0.0 == a.lift_high
    assert b.lift == pytest.approx(np.mean(means[:, 1] - means[:, 0]))
    assert b.lift_low < b.lift < b.lift_high
    text = d.sentence()
    assert text.startswith("Deploy b for y: P(best)=") and "expected loss" in text and "of baseline) if wrong" in text


def test_smallest_loss_can_differ_from_highest_p_best():
    # b wins most replicates by a hair but loses big when it loses; c is never far off: c has the smaller risk.
    means = np.array([[0.0, 0.51, 0.50]] * 6 + [[0.0, 0.10, 0.50]] * 4)
    d = _decide(means)
    by = {v.value: v for v in d.values}
    assert by["b"].p_best > by["c"].p_best
    assert d.recommended.value == "c"


def test_nan_replicates_are_left_out_and_a_value_without_any_gives_no_decision():
    means = np.array([[0.1, 0.2, 0.3], [np.nan, 0.2, 0.3], [0.1, 0.3, 0.2]])
    d = _decide(means)
    assert (d.replicates_used, d.replicates) == (2, 3)
    assert sum(v.p_best for v in d.values) == pytest.approx(1.0)
    assert "2/3 replicates" in d.sentence()

    withheld = _decide([[0.1, np.nan, 0.3], [0.2, np.nan, 0.1]], segment="s", segment_value="x")
    assert withheld.values == () and withheld.recommended is None
    assert withheld.sentence() == (
        "In s=x: no decision for t on y: b has no replicates (the run withheld the estimate; `recdo effects` says why)"
    )


def test_bad_shapes_and_baselines_say_what_to_pass():
    with pytest.raises(ValueError, match=r"must be \(replicates, 3 values\).*got shape \(2, 2\)"):
        _decide([[0.1, 0.2], [0.2, 0.1]])
    with pytest.raises(ValueError, match="baseline 'z' is not a treatment value"):
        _decide([[0.1, 0.2, 0.3]] * 2, baseline="z")
