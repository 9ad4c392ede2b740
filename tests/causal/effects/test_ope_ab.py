"""A/B analysis: the OBD sample's 38 vs 42 clicks, a resolvable difference, and the ab_diff rows made by ab_test."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from causal.config import CausalConfig
from causal.effects.ab import ab_estimates, ab_test, arm_interval
from causal.effects.estimate import estimate_effects


def clicks(k: int, n: int) -> np.ndarray:
    return np.r_[np.ones(k), np.zeros(n - k)]


def test_obd_sample_cannot_tell_the_arms_apart():
    res = ab_test(clicks(42, 10_000), clicks(38, 10_000))  # Bernoulli-TS vs Random
    assert res.diff == pytest.approx(0.0004)
    assert res.relative_lift == pytest.approx(0.105, abs=5e-4)  # 0.0004 / 0.0038
    assert res.ci_low < 0 < res.ci_high
    # Wald half-width: 1.96 * sqrt(0.0042*0.9958/10^4 + 0.0038*0.9962/10^4) (ddof=1 moves it by 1e-4 of itself)
    half = 1.959964 * np.sqrt((0.0042 * 0.9958 + 0.0038 * 0.9962) / 10_000)
    assert (res.ci_low, res.ci_high) == pytest.approx((0.0004 - half, 0.0004 + half), rel=1e-3)
    # MDE: (1.96 + 0.8416) * sqrt(0.004 * 0.996 * 2 / 10^4) = 0.0025, about 6x the observed 0.0004
    assert res.mde == pytest.approx(2.8016 * np.sqrt(0.004 * 0.996 * 2 / 10_000), rel=1e-3)
    assert res.verdict.startswith("cannot tell the arms apart: the 95% interval")
    assert "minimum detectable effect (0.0025) is 6.3x the observed difference (0.0004)" in res.verdict
    assert res.n_per_arm_to_detect_observed == pytest.approx(391_000, rel=0.01)
    assert res.p_value > 0.5


def test_a_large_difference_is_called():
    res = ab_test(clicks(100, 1000), clicks(50, 1000))
    assert res.ci_low > 0
    assert res.verdict.startswith("treatment is higher: the 95% interval")
    assert res.p_value < 0.001
    lower = ab_test(clicks(50, 1000), clicks(100, 1000))
    assert lower.verdict.startswith("treatment is lower")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, r"alpha must lie strictly between 0 and 1"),
        ({"power": 1.0}, r"power must lie strictly between 0 and 1"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ab_test(clicks(1, 10), clicks(2, 10), **kwargs)
    with pytest.raises(ValueError, match=r"y_control must be one outcome per row \(1-D\); got shape \(2, 2\)"):
        ab_test(clicks(1, 10), [[1.0, 0.0], [0.0, 1.0]])


def test_an_arm_below_the_rule_gets_no_verdict():
    # A one-row arm used to raise "y_control must hold at least 2 outcomes"; now the test says why it has no answer.
    res = ab_test(clicks(30, 100), [1.0])
    assert np.isnan([res.diff, res.ci_low, res.ci_high, res.mde, res.p_value]).all()
    assert (res.n_t, res.n_c, res.mean_t, res.mean_c) == (100, 1, 0.3, 1.0)
    assert res.verdict == (
        "no verdict: the control arm has 1 row (1 with outcome=1, 0 with outcome=0): fewer than 5 positives and "
        "5 negatives (min_arm_events=5), so no estimate: its interval would come from the prior or collapse to a "
        "point, not from the data; log more rows of the control arm, or lower min_arm_events."
    )
    # The rule's edge: 4 clicks withhold the test, 5 give it; so do 4 and 5 non-clicks.
    for k, tested in ((4, False), (5, True), (96, False), (95, True)):
        res = ab_test(clicks(k, 100), clicks(50, 100))
        assert np.isfinite(res.diff) == tested and res.verdict.startswith("no verdict") != tested, k
    json.dumps(ab_test(clicks(0, 100), clicks(0, 100)).as_diagnostics())  # nan is stored as "nan"


def test_ab_diff_rows_get_the_verdict(obd_slice):
    # obd_slice: 2,500 rows of each policy, 9 clicks under bts, 7 under random.
    report = estimate_effects(obd_slice, CausalConfig(n_bootstrap=5, progress=False))
    rows = report.estimates
    (ate,) = [e for e in rows if e.method == "ab_diff" and e.estimand == "ate"]
    assert ate.diagnostics["verdict"].startswith("cannot tell the arms apart")
    assert ate.diagnostics["diff"] == pytest.approx(ate.estimate)
    json.dumps(ate.diagnostics)
    assert all("verdict" not in e.diagnostics for e in rows if e is not ate)  # only the A/B ATE gets one


def test_real_arm_with_four_clicks_gets_no_number(obd_log):
    # The first 1,500 Open Bandit rows of each policy: bts has 7 clicks, random 4, below the arm rule's 5.
    log = obd_log.groupby("policy", group_keys=False).head(1500).reset_index(drop=True)
    report = estimate_effects(log, CausalConfig(n_bootstrap=5, progress=False))
    why = "policy=random has 1,500 rows (4 with click=1, 1,496 with click=0): fewer than 5 positives (min_arm_events=5)"
    for e in report.estimates:
        involves_random = "random" in (e.treatment_value, e.baseline_value)
        assert np.isnan(e.estimate) == involves_random and np.isnan(e.ci_low) == involves_random, e
        assert (e.explanation or "").startswith(why) == involves_random, e
        assert "verdict" not in e.diagnostics  # the one A/B ATE involves random: no verdict from 4 clicks
    assert report.refutations == {}


def known_table(seed: int = 0) -> pd.DataFrame:
    """40 clicks in 10,000 rows served "new" and 30 in 10,000 served "old", shuffled, with one user feature."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "policy": ["new"] * 10_000 + ["old"] * 10_000,
            "click": np.r_[clicks(40, 10_000), clicks(30, 10_000)].astype(int),
            "user_feature_0": rng.choice(["a", "b"], size=20_000),
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_stored_ab_interval_is_the_one_its_verdict_quotes():
    config = CausalConfig(baseline="old", n_bootstrap=5, refute=False, progress=False)
    table = known_table()
    report = estimate_effects(table, config)
    (ate,) = [e for e in report.estimates if e.method == "ab_diff" and e.estimand == "ate"]
    arm = {v: table.loc[table["policy"] == v, "click"] for v in ("new", "old")}
    res = ab_test(arm["new"], arm["old"], alpha=1 - config.ci_level)
    assert ate.treatment_value == "new" and ate.baseline_value == "old" and ate.n_rows == 20_000
    assert (ate.estimate, ate.ci_low, ate.ci_high) == (res.diff, res.ci_low, res.ci_high)  # the same numbers, exactly
    assert ate.diagnostics == res.as_diagnostics()
    # The table in another row order: the same test to the last few bits (sums in another order).
    ordered = ab_test(clicks(40, 10_000), clicks(30, 10_000))
    assert (ate.ci_low, ate.ci_high) == pytest.approx((ordered.ci_low, ordered.ci_high), rel=1e-12)
    assert f"interval [{ate.ci_low:.4g}, {ate.ci_high:.4g}]" in ate.diagnostics["verdict"]
    assert ate.diagnostics["verdict"].startswith("cannot tell the arms apart")
    means = {
        e.treatment_value: e for e in report.estimates if e.method == "ab_diff" and e.estimand == "interventional_mean"
    }
    for value, k in (("new", 40), ("old", 30)):
        expected = arm_interval(arm[value], alpha=1 - config.ci_level)
        assert (means[value].estimate, means[value].ci_low, means[value].ci_high) == expected
        assert expected == pytest.approx(arm_interval(clicks(k, 10_000)), rel=1e-12)
        assert means[value].n_rows == 10_000 and "verdict" not in means[value].diagnostics


def test_an_arm_of_one_row_has_no_ab_interval():
    rows = ab_estimates("policy", "click", ["a", "b"], "a", [clicks(30, 100), clicks(1, 1)], level=0.95)
    assert [(e.estimand, e.treatment_value) for e in rows] == [
        ("interventional_mean", "a"),
        ("interventional_mean", "b"),
        ("ate", "b"),
    ]
    assert np.isfinite(rows[0].ci_low) and rows[0].explanation is None
    for row in rows[1:]:
        assert np.isnan(row.estimate) and np.isnan(row.ci_low) and np.isnan(row.ci_high)
        assert row.explanation == (
            "policy=b has 1 row (1 with click=1, 0 with click=0): fewer than 5 positives and 5 negatives "
            "(min_arm_events=5), so no estimate: its interval would come from the prior or collapse to a point, "
            "not from the data; log more rows of policy=b, or lower min_arm_events."
        )
    # Without the event rule a one-row arm still has no variance, and says so.
    (*_, ate) = ab_estimates("policy", "click", ["a", "b"], "a", [clicks(3, 10), clicks(1, 1)], 0.95, min_events=0)
    assert np.isnan(ate.estimate) and "policy=b has 1 row" in ate.explanation
    assert "fewer than 2 rows (a variance needs 2), so no estimate" in ate.explanation
    assert ate.explanation.endswith("not from the data; log more rows of policy=b.")  # no rule left to lower
