"""Identification (back-door, front-door, refusal), overlap, CATE and refutations, on cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from causal.config import CausalConfig
from causal.effects.estimate import estimate_effects
from causal.network.identify import causal_graph, identify, is_backdoor_set, is_frontdoor_set
from causal.network.joint import CountNetwork, backdoor_means, frontdoor_means
from causal.sim.confounded import ConfoundedLog


def test_backdoor_set_is_the_treatments_parents():
    ident = identify([("z", "t"), ("z", "y"), ("t", "y")], "t", "y")
    assert (ident.strategy, ident.adjustment_set) == ("backdoor", ("z",))
    assert ident.explanation == "back-door: adjust for t's parents ['z']"
    alone = identify([("t", "y")], "t", "y")
    assert alone.adjustment_set == () and alone.explanation == "back-door: adjust for nothing (no back-door path)"


def test_hidden_cause_of_the_treatment_alone_leaves_another_backdoor_set():
    # U(t, v) touches the treatment, but v never reaches y: the observed parent w still blocks every back door.
    edges = [("w", "t"), ("w", "y"), ("t", "y"), ("v", "x")]
    ident = identify(edges, "t", "y", latent_confounders=[("t", "v")])
    assert (ident.strategy, ident.adjustment_set) == ("backdoor", ("w",))
    assert "hidden cause touches t" in ident.explanation


def test_front_door_when_the_hidden_cause_joins_treatment_and_outcome():
    edges = [("t", "m"), ("m", "y")]
    ident = identify(edges, "t", "y", latent_confounders=[("t", "y")])
    assert (ident.strategy, ident.adjustment_set) == ("frontdoor", ("m",))
    graph = causal_graph(edges, latent_confounders=[("t", "y")])
    assert is_frontdoor_set(graph, "t", "y", ["m"]) and not is_backdoor_set(graph, "t", "y", [])


def test_not_identifiable_says_why_and_what_to_do():
    ident = identify([("t", "m"), ("m", "y"), ("t", "y")], "t", "y", latent_confounders=[("t", "y")])
    assert ident.strategy == "none" and ident.adjustment_set == ()
    assert "not identifiable" in ident.explanation
    assert "direct edge t -> y rules out a front-door" in ident.explanation
    assert "randomise t" in ident.explanation


def _frontdoor_network() -> tuple[CountNetwork, dict[int, float]]:
    """The exact observational P(t, m, y) of U -> t, U -> y, t -> m -> y with U hidden, and the true do() answers.

    U ~ Bern(0.5); t ~ Bern(0.2 + 0.6 U); m ~ Bern(0.1 + 0.7 t); y ~ Bern(0.1 + 0.5 m + 0.3 U).
    P(y=1 | do(t)) = 0.1 + 0.5 P(m=1 | t) + 0.3 * 0.5: 0.30 for t=0, 0.65 for t=1.
    """
    joint = np.zeros((2, 2, 2))  # (t, m, y)
    for u in (0, 1):
        pt1 = 0.2 + 0.6 * u
        for t in (0, 1):
            pm1 = 0.1 + 0.7 * t
            for m in (0, 1):
                py1 = 0.1 + 0.5 * m + 0.3 * u
                for y in (0, 1):
                    joint[t, m, y] += 0.5 * (pt1 if t else 1 - pt1) * (pm1 if m else 1 - pm1) * (py1 if y else 1 - py1)
    p_t = joint.sum(axis=(1, 2))
    p_m_t = joint.sum(axis=2) / p_t[:, None]  # (t, m)
    p_y_tm = joint / joint.sum(axis=2, keepdims=True)  # (t, m, y)
    net = CountNetwork(
        names=("t", "m", "y"),
        cards=(2, 2, 2),
        states=(("0", "1"),) * 3,
        parents={"t": (), "m": ("t",), "y": ("m", "t")},
        cpds={"t": p_t, "m": p_m_t.T, "y": p_y_tm.transpose(2, 1, 0)},  # (state, *parents in sorted order)
    )
    return net, {0: 0.30, 1: 0.65}


def test_front_door_formula_recovers_the_truth_that_adjustment_cannot():
    net, truth = _frontdoor_network()
    assert np.allclose(net.marginal(["t"]), net.cpds["t"])
    front = frontdoor_means(net, "t", "y", ["m"], positive=1)
    assert front == pytest.approx([truth[0], truth[1]], abs=1e-12)
    naive = backdoor_means(net, "t", "y", [], positive=1)  # P(y | t): confounded by the hidden U
    assert abs((naive[1] - naive[0]) - (truth[1] - truth[0])) > 0.05


def test_a_declared_hidden_confounder_stores_an_explanation_not_a_number():
    df = ConfoundedLog().simulate(1500, 0)
    config = CausalConfig(n_bootstrap=10, progress=False, latent_confounders=(("policy", "click"),))
    report = estimate_effects(df, config)
    bn = [e for e in report.estimates if e.method == "bn_do"]
    assert bn and all(math.isnan(e.estimate) and math.isnan(e.ci_low) for e in bn)
    assert all(e.explanation and "not identifiable" in e.explanation for e in bn)
    assert report.identification.strategy == "none" and report.refutations == {}
    naive = [e for e in report.estimates if e.method == "naive"]
    assert all(e.explanation is None and not math.isnan(e.estimate) for e in naive)


def test_no_overlap_withholds_the_unserved_value_and_names_the_stratum():
    # Segment s2 (20% of users) is always served "new": P(click | do(old)) has no data there.
    sim = ConfoundedLog(p_new_given_segment={"s0": 0.2, "s1": 0.5, "s2": 1.0})
    report = estimate_effects(sim.simulate(3000, 1), CausalConfig(baseline="old", n_bootstrap=10, progress=False))
    rows = {(e.method, e.estimand, e.treatment_value): e for e in report.estimates}
    old, new, ate = (
        rows[("bn_do", "interventional_mean", "old")],
        rows[("bn_do", "interventional_mean", "new")],
        rows[("bn_do", "ate", "new")],
    )
    assert math.isnan(old.estimate) and math.isnan(ate.estimate)
    assert old.explanation.startswith("No overlap: policy=old was never served in 1 stratum(s) of ['user_segment']")
    assert "user_segment=s2" in old.explanation and "(" in old.explanation
    assert ate.explanation == old.explanation
    assert new.explanation is None and not math.isnan(new.estimate)
    assert report.overlap["values"]["old"]["unseen_share"] == pytest.approx(0.2, abs=0.03)
    assert not [e for e in report.estimates if e.estimand == "cate"]  # no contrast against an unserved baseline


def test_cate_by_segment_covers_the_true_conditional_effects():
    # In ConfoundedLog the policy adds 0.10 to the click rate in every segment.
    report = estimate_effects(
        ConfoundedLog().simulate(20000, 5), CausalConfig(baseline="old", n_bootstrap=60, progress=False, refute=False)
    )
    cates = [e for e in report.estimates if e.estimand == "cate"]
    assert [e.segment for e in cates] == ["user_segment=s0", "user_segment=s1", "user_segment=s2"]
    for e in cates:
        assert e.ci_low <= 0.10 <= e.ci_high, e
        assert e.ci_high - e.ci_low < 0.1  # ~800 rows of "old" in the smallest segment


@pytest.mark.slow
def test_refutations_pass_on_a_correct_model_and_are_stored_with_the_ate():
    # Each check is a 95%-level test, so a fixed seed may fail one by chance: on this log, seeds 0..29
    # passed the placebo 26 times, the random halves 28 and the common cause 30 (28, 28 and 30 under
    # the single-stream seeding). Seed 0 was used before the chunked seeding; under it seed 0 fails the
    # halves (0.051 and 0.112 against an interval 0.045 wide), seed 2 passes all three.
    report = estimate_effects(
        ConfoundedLog().simulate(4000, 2), CausalConfig(baseline="old", n_bootstrap=40, seed=2, progress=False)
    )
    (ate,) = [e for e in report.estimates if (e.method, e.estimand) == ("bn_do", "ate")]
    checks = ate.diagnostics["refutations"]
    assert set(checks) == {"placebo", "random_common_cause", "random_halves"}
    placebo = checks["placebo"]
    assert placebo["ci_low"] <= 0 <= placebo["ci_high"] and abs(placebo["estimate"]) < abs(ate.estimate) / 3
    assert checks["random_common_cause"]["estimate"] == pytest.approx(ate.estimate, abs=0.02)
    assert all(c["passed"] for c in checks.values()) and ate.diagnostics["refutations_passed"] == "3/3"
    # the two calibrated checks carry their chance failure rate (1 - ci_level); the coin's rule has none
    assert checks["placebo"]["false_alarm"] == checks["random_halves"]["false_alarm"] == pytest.approx(0.05)
    assert "false_alarm" not in checks["random_common_cause"]
    assert ate.diagnostics["identification"] == "backdoor"


def test_refutations_cannot_see_a_confounder_left_out_of_the_data():
    # With the segment dropped from the log the estimate is confounded, yet the placebo passes: the
    # refutations test the estimator's stability, not the absence of hidden confounders (that is what
    # the graph, declared latent confounders and identification are for). README says so too.
    df = ConfoundedLog().simulate(3000, 3).drop(columns=["user_segment"])
    report = estimate_effects(df, CausalConfig(baseline="old", n_bootstrap=30, progress=False))
    (ate,) = [e for e in report.estimates if (e.method, e.estimand) == ("bn_do", "ate")]
    assert ate.adjustment_set == ()
    assert ate.estimate == pytest.approx(ConfoundedLog().naive_limit(), abs=0.05)  # biased like the naive contrast
    assert ate.diagnostics["refutations"]["placebo"]["passed"]
