"""A/B analysis: the OBD sample's 38 vs 42 clicks, a resolvable difference, and diagnostics on ab_diff rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from causal.ab import ab_test, with_ab_diagnostics
from causal.config import CausalConfig
from causal.effects import estimate_effects


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
    with pytest.raises(ValueError, match=r"y_control must hold at least 2 outcomes"):
        ab_test(clicks(1, 10), [1.0])


def test_ab_diff_rows_get_the_verdict(obd_slice):
    report = estimate_effects(obd_slice, CausalConfig(n_bootstrap=5, progress=False))
    rows = with_ab_diagnostics(report.estimates, obd_slice)
    (ate,) = [e for e in rows if e.method == "ab_diff" and e.estimand == "ate"]
    assert ate.diagnostics["verdict"].startswith("cannot tell the arms apart")
    assert ate.diagnostics["diff"] == pytest.approx(ate.estimate)
    json.dumps(ate.diagnostics)
    assert all("verdict" not in e.diagnostics for e in rows if e is not ate)  # only the A/B ATE gets one
