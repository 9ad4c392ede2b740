"""Effects on simulated logs with known truth: interval coverage, naive bias, A/B arithmetic, determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from causal.config import CausalConfig
from causal.effects.arms import TreatmentArmsError
from causal.effects.estimate import estimate_effects
from causal.network.discretize import discretize
from causal.network.fit import fit_network
from causal.network.query import conditional_do_query, do_query
from causal.sim.confounded import ConfoundedLog
from causal.values import Estimate

SIM = ConfoundedLog()

Z95 = 1.959963984540054  # standard normal 97.5% quantile


def pick(estimates: tuple[Estimate, ...], method: str, estimand: str, value: str) -> Estimate:
    (hit,) = [e for e in estimates if (e.method, e.estimand, e.treatment_value) == (method, estimand, value)]
    return hit


def test_truth_of_the_simulator():
    # sum_u P(click | policy, u) P(u) with P(u) = (0.5, 0.3, 0.2)
    assert SIM.interventional_mean("old") == pytest.approx(0.5 * 0.1 + 0.3 * 0.3 + 0.2 * 0.5)  # 0.24
    assert SIM.interventional_mean("new") == pytest.approx(0.5 * 0.2 + 0.3 * 0.4 + 0.2 * 0.6)  # 0.34
    assert SIM.ate() == pytest.approx(0.10)
    assert SIM.naive_limit() == pytest.approx(0.2513, abs=1e-4)  # confounding by segment inflates it 2.5x


@pytest.mark.slow
def test_bn_do_interval_covers_truth_and_naive_is_biased():
    # 30 independent logs of 2,000 rows, B = 80 replicates each (about 1 s per log here).
    # If the 95% intervals had their nominal coverage, the number covering the truth would be
    # Binomial(30, 0.95): P(X <= 25) = 0.016, so requiring >= 26 of 30 (87%) would fail a correct
    # method about 1 time in 60 for a random choice of seeds, while a method covering only 70% passes
    # with P(X >= 26) = 0.03. Percentile intervals from B = 80 may undercover a little; even at 90%
    # P(X >= 26) = 0.82. The seeds are fixed, so the test is repeatable: when written, these seeds
    # gave 28 of 30 for the ATE and 30 of 30 for the interventional mean.
    truth = SIM.ate()
    covered = covered_mean = naive_covered = 0
    naive_points = []
    for seed in range(30):
        report = estimate_effects(
            SIM.simulate(2000, seed),
            CausalConfig(baseline="old", n_bootstrap=80, seed=seed, progress=False, refute=False),
        )
        assert ("user_segment", "policy") in report.edges and report.adjustment_set == ("user_segment",)
        bn = pick(report.estimates, "bn_do", "ate", "new")
        covered += bn.ci_low <= truth <= bn.ci_high
        mean = pick(report.estimates, "bn_do", "interventional_mean", "old")
        covered_mean += mean.ci_low <= SIM.interventional_mean("old") <= mean.ci_high
        naive = pick(report.estimates, "naive", "ate", "new")
        naive_covered += naive.ci_low <= truth <= naive.ci_high
        naive_points.append(naive.estimate)
    assert covered >= 26, covered
    assert covered_mean >= 26, covered_mean
    # The unadjusted difference sits near 0.25, not 0.10: its interval essentially never covers.
    assert naive_covered <= 2, naive_covered
    assert np.mean(naive_points) == pytest.approx(SIM.naive_limit(), abs=0.02)


def test_ab_diff_is_difference_in_means_with_wald_interval():
    # Randomised log: arm "a" 3 clicks in 10 rows, arm "b" 9 clicks in 20 rows.
    df = pd.DataFrame(
        {
            "user_segment": ["x", "y"] * 15,
            "policy": ["a"] * 10 + ["b"] * 20,
            "click": [1, 1, 1] + [0] * 7 + [1] * 9 + [0] * 11,
        }
    )
    # Arm "a" has 3 clicks, below the default arm rule (5): the rule is lowered to test the arithmetic.
    report = estimate_effects(df, CausalConfig(n_bootstrap=20, min_arm_events=3, progress=False))
    ate = pick(report.estimates, "ab_diff", "ate", "b")
    # p_a = 0.3, p_b = 0.45, difference 0.15; each arm's variance with ddof=1, as ab_test has it:
    # se = sqrt(0.3 * 0.7 / 9 + 0.45 * 0.55 / 19) = sqrt(0.023333 + 0.013026)
    half = Z95 * math.sqrt(0.3 * 0.7 / 9 + 0.45 * 0.55 / 19)
    assert ate.baseline_value == "a" and ate.estimate == pytest.approx(0.15, abs=1e-12)
    assert (ate.ci_low, ate.ci_high) == pytest.approx((0.15 - half, 0.15 + half), abs=1e-12)
    assert ate.n_rows == 30 and ate.adjustment_set == ()
    mean_b = pick(report.estimates, "ab_diff", "interventional_mean", "b")
    half_b = Z95 * math.sqrt(0.45 * 0.55 / 19)
    assert (mean_b.estimate, mean_b.ci_low, mean_b.ci_high) == pytest.approx((0.45, 0.45 - half_b, 0.45 + half_b))
    assert mean_b.baseline_value is None and mean_b.n_rows == 20
    assert pick(report.estimates, "naive", "ate", "b").estimate == pytest.approx(0.15, abs=1e-12)


def test_report_shape_and_point_estimates_match_the_network():
    df = SIM.simulate(1500, 3)
    config = CausalConfig(n_bootstrap=10, progress=False)
    report = estimate_effects(df, config)
    model = fit_network(discretize(df, config).data, report.edges, config)
    rows = [(e.method, e.estimand, e.treatment_value, e.baseline_value) for e in report.estimates]
    assert rows == [
        ("bn_do", "interventional_mean", "new", None),
        ("bn_do", "interventional_mean", "old", None),
        ("bn_do", "ate", "old", "new"),  # baseline: first value in sorted order
        ("bn_do", "cate", "old", "new"),  # one per state of the segment (the adjusted user feature)
        ("bn_do", "cate", "old", "new"),
        ("bn_do", "cate", "old", "new"),
        ("naive", "interventional_mean", "new", None),
        ("naive", "interventional_mean", "old", None),
        ("naive", "ate", "old", "new"),
        ("ab_diff", "interventional_mean", "new", None),
        ("ab_diff", "interventional_mean", "old", None),
        ("ab_diff", "ate", "old", "new"),
    ]
    # The structure is relearned in every replicate: the required edge is always there, others mostly.
    assert set(report.edges) <= set(report.edge_frequency)
    assert report.edge_frequency[("policy", "click")] == 1.0
    assert all(0.0 < f <= 1.0 for f in report.edge_frequency.values())
    assert ("policy", "click") in report.edges
    cates = [e for e in report.estimates if e.estimand == "cate"]
    assert [e.segment for e in cates] == ["user_segment=s0", "user_segment=s1", "user_segment=s2"]
    for e, u in zip(
        cates, ("s0", "s1", "s2")
    ):  # within a segment the do-effect is the conditional contrast of the network
        p = {v: conditional_do_query(model, "policy", v, "click", {"user_segment": u}) for v in ("new", "old")}
        assert e.estimate == pytest.approx(p["old"] - p["new"], abs=1e-9)
        assert e.ci_low <= e.estimate <= e.ci_high
    for value in ("new", "old"):
        bn = pick(report.estimates, "bn_do", "interventional_mean", value)
        assert bn.estimate == pytest.approx(do_query(model, "policy", value, "click"), abs=1e-9)
        assert bn.ci_low <= bn.estimate <= bn.ci_high and bn.n_rows == 1500
        assert bn.adjustment_set == report.adjustment_set == ("user_segment",)
    ate = pick(report.estimates, "bn_do", "ate", "old")
    means = {v: pick(report.estimates, "bn_do", "interventional_mean", v).estimate for v in ("new", "old")}
    assert ate.estimate == pytest.approx(means["old"] - means["new"], abs=1e-15)


def test_same_seed_same_estimates_other_seed_other_intervals():
    df = SIM.simulate(1000, 11)
    first = estimate_effects(df, CausalConfig(n_bootstrap=25, seed=5, progress=False))
    again = estimate_effects(df.copy(), CausalConfig(n_bootstrap=25, seed=5, progress=False))
    other = estimate_effects(df, CausalConfig(n_bootstrap=25, seed=6, progress=False))
    assert first.estimates == again.estimates and first.edges == again.edges
    bn = [e for e in first.estimates if e.method == "bn_do"]
    bn_other = [e for e in other.estimates if e.method == "bn_do"]
    assert [e.estimate for e in bn] == [e.estimate for e in bn_other]  # points do not use the seed
    assert [e.ci_low for e in bn] != [e.ci_low for e in bn_other]  # intervals do


def test_baseline_choice_and_errors():
    df = SIM.simulate(400, 1)
    report = estimate_effects(df, CausalConfig(baseline="old", n_bootstrap=5, progress=False))
    assert [e.treatment_value for e in report.estimates if e.estimand == "ate"] == ["new"] * 3
    assert {e.baseline_value for e in report.estimates if e.estimand in ("ate", "cate")} == {"old"}
    n = df.policy.value_counts()
    with pytest.raises(
        TreatmentArmsError,
        match=rf"^baseline 'blue' is not a value of 'policy' in this log; its values: 'new' \({n['new']} rows\), "
        rf"'old' \({n['old']} rows\); pass one of them as the baseline",
    ):
        estimate_effects(df, CausalConfig(baseline="blue", n_bootstrap=5, progress=False))
    with pytest.raises(
        TreatmentArmsError,
        match=rf"^treatment 'policy' takes only the value\(s\) \['old' \({n['old']} rows\)\] in this log: there is "
        "nothing to compare; pass a treatment column that holds at least two values",
    ):
        estimate_effects(df[df.policy == "old"], CausalConfig(n_bootstrap=5, progress=False))
