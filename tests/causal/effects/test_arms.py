"""The arm rule (issue 16): no number from an arm short of clicks or non-clicks, and no crash from a stray arm."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from causal.config import CausalConfig
from causal.effects.arms import TreatmentArmsError, check_arms
from causal.effects.estimate import EffectReport, estimate_effects
from causal.network.discretize import Discretized, discretize
from causal.sim.confounded import ConfoundedLog
from common.errors import InputError

FAST = CausalConfig(n_bootstrap=10, refute=False, progress=False)
LONELY = (
    "policy=lonely has 1 row (0 with click=1, 1 with click=0): fewer than 5 positives and 5 negatives "
    "(min_arm_events=5), so no estimate: its interval would come from the prior or collapse to a point, "
    "not from the data; log more rows of policy=lonely, or lower min_arm_events."
)


def by_key(report: EffectReport) -> dict:
    return {(e.method, e.estimand, e.treatment_value, e.segment): e for e in report.estimates}


def as_counts(disc: Discretized) -> Discretized:
    """The contingency table of a discretised log: its distinct rows weighted by how often each occurs."""
    cells = disc.data.groupby(list(disc.data.columns), sort=False).size().reset_index(name="_n")
    return replace(disc, data=cells.drop(columns="_n"), weights=cells["_n"].to_numpy(dtype=float))


def arms_log(clicks: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """A randomised log with {policy: (rows, clicks)}, clicks first within each arm."""
    policy = [v for v, (n, _) in clicks.items() for _ in range(n)]
    click = [int(i < k) for n, k in clicks.values() for i in range(n)]
    return pd.DataFrame({"policy": policy, "click": click})


# -- the rule itself --------------------------------------------------------------------------------------


def test_the_rule_has_one_home_and_is_checked():
    assert CausalConfig().min_arm_events == 5 and CausalConfig(min_arm_events=0).min_arm_events == 0
    for bad in (-1, 2.5, True, None):
        with pytest.raises(ValueError, match=rf"min_arm_events must be an integer >= 0; got {bad!r}; an arm needs"):
            CausalConfig(min_arm_events=bad)


def test_check_arms_picks_the_baseline_and_names_the_thin_arms():
    counts = {"c": (300, 60), "a": (np.int64(100), np.int64(4)), "b": (50, 45)}
    check = check_arms(counts, CausalConfig())
    assert [a.value for a in check.arms] == ["a", "b", "c"] and check.arms[0].negatives == 96
    # No baseline given: "a" sorts first but fails the rule, so the first value that passes is the baseline.
    assert check.baseline == "b" and check.passing == ("b", "c") and set(check.thin) == {"a"}
    assert check.thin["a"].startswith("policy=a has 100 rows (4 with click=1, 96 with click=0): fewer than 5 positives")
    assert check.why("c", "b") is None and check.why("a", "b", "a") == check.thin["a"]
    # A baseline that fails the rule is named as the baseline, with the other fix.
    thin_base = check_arms(counts, CausalConfig(baseline="a"))
    assert thin_base.baseline == "a" and thin_base.thin["a"].startswith("the baseline policy=a has 100 rows")
    assert "log more rows of policy=a (or pass another baseline), or lower min_arm_events" in thin_base.thin["a"]
    assert check_arms(counts, CausalConfig(min_arm_events=4)).thin == {}
    # Every value failing: no error here (the rows say why); the first value is the baseline.
    assert check_arms({"x": (9, 0), "y": (9, 0)}, CausalConfig()).baseline == "x"


@pytest.mark.parametrize(
    ("counts", "baseline", "message"),
    [
        ({"old": (800, 40)}, None, r"^treatment 'policy' takes only the value\(s\) \['old' \(800 rows\)\] in this log"),
        ({"old": (800, 40), "new": (0, 0)}, None, r"takes only the value\(s\) \['old' \(800 rows\)\]"),
        ({}, None, r"takes only the value\(s\) \[no rows\] in this log: there is nothing to compare; pass a treatment"),
        (
            {"old": (800, 40), "new": (700, 30)},
            "blue",
            r"^baseline 'blue' is not a value of 'policy' in this log; its values: 'new' \(700 rows\), "
            r"'old' \(800 rows\); pass one of them as the baseline",
        ),
        ({"old": (800, 40), "new": (700, 30), "gone": (0, 0)}, "gone", r"^baseline 'gone' is not a value of 'policy'"),
    ],
)
def test_a_treatment_that_cannot_be_compared_is_one_clear_error(counts, baseline, message):
    with pytest.raises(TreatmentArmsError, match=message) as caught:
        check_arms(counts, CausalConfig(baseline=baseline))
    assert isinstance(caught.value, InputError) and isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("counts", [{"a": (5, 6), "b": (9, 1)}, {"a": (5.0, 1), "b": (9, 1)}, {"a": (True, 0)}])
def test_check_arms_refuses_counts_that_cannot_be(counts):
    with pytest.raises(ValueError, match=r"^arm policy=a counts must be whole numbers with 0 <= positives <= rows"):
        check_arms(counts, CausalConfig())


# -- known answers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", [0, 1])
def test_a_constant_outcome_gives_no_number_anywhere(outcome):
    # Every click 0 (or 1): bn_do's numbers would be the BDeu prior's alone, naive's [0, 0]. Nothing is reported.
    log = ConfoundedLog().simulate(800, 1).assign(click=outcome)
    short = "positives" if outcome == 0 else "negatives"
    for data in (log, as_counts(discretize(log, FAST))):
        report = estimate_effects(data, replace(FAST, refute=True))
        assert {e.method for e in report.estimates} == {"bn_do", "naive", "ab_diff"}
        assert not any(e.estimand == "cate" for e in report.estimates)  # no CATE against a thin baseline
        for e in report.estimates:
            assert math.isnan(e.estimate) and math.isnan(e.ci_low) and math.isnan(e.ci_high), e
            assert f"policy={e.treatment_value} has " in e.explanation and f"fewer than 5 {short} " in e.explanation
            assert "verdict" not in e.diagnostics and "refutations_passed" not in e.diagnostics
        ate = by_key(report)[("bn_do", "ate", "old", None)]
        assert "the baseline policy=new has " in ate.explanation  # every ATE names the thin baseline
        assert report.refutations == {}


def test_a_one_row_arm_is_withheld_and_the_others_match_the_log_without_it():
    log = ConfoundedLog().simulate(2000, 0)
    stray = pd.concat([log, log.iloc[[0]].assign(policy="lonely", click=0)], ignore_index=True)
    config = CausalConfig(baseline="old", n_bootstrap=200, progress=False)  # refutations on: they must cope too
    without, with_stray = by_key(estimate_effects(log, config)), estimate_effects(stray, config)
    got = by_key(with_stray)
    assert {k for k in got if k[2] != "lonely"} == set(without)
    lonely = [e for k, e in got.items() if k[2] == "lonely"]
    assert {(e.method, e.estimand) for e in lonely} == {
        (m, q) for m in ("bn_do", "naive", "ab_diff") for q in ("interventional_mean", "ate")
    }
    for e in lonely:
        assert math.isnan(e.estimate) and math.isnan(e.ci_low) and e.explanation.startswith(LONELY)
    assert set(with_stray.refutations) == {"new"}  # no placebo of an arm that has no number
    for key, e in without.items():
        f = got[key]
        assert f.explanation is None and np.isfinite([f.estimate, f.ci_low, f.ci_high]).all(), key
        if e.method == "ab_diff":  # the arms' own rows: exactly the same test
            assert (f.estimate, f.ci_low, f.ci_high) == (e.estimate, e.ci_low, e.ci_high), key
            continue
        # naive points are the arms' rates, exactly; bn_do's move by about 1/n (the one row in P(segment) and in
        # the prior's spread over one more treatment state): measured at most 1.1e-4 over seeds 0..5.
        assert f.estimate == pytest.approx(e.estimate, abs=0 if e.method == "naive" else 3e-4), key
        # The intervals come from other multinomial draws (one more cell): Monte Carlo error. Two B = 200
        # percentile endpoints differ by about 0.07 of the width; measured at most 0.2 over seeds 0..5.
        width = e.ci_high - e.ci_low
        assert abs(f.ci_low - e.ci_low) < 0.25 * width and abs(f.ci_high - e.ci_high) < 0.25 * width, key


@pytest.mark.parametrize("resample", ["cells", "rows"])
def test_a_stray_arm_that_sorts_first_does_not_become_the_baseline(resample):
    log = ConfoundedLog().simulate(600, 2)
    stray = pd.concat([log, log.iloc[[0]].assign(policy="a_stray")], ignore_index=True)
    data = as_counts(discretize(stray, FAST)) if resample == "cells" else stray
    report = estimate_effects(data, replace(FAST, n_bootstrap=4, refute=True, resample=resample))
    got = by_key(report)
    assert got[("bn_do", "ate", "old", None)].baseline_value == "new"  # the first value that passes
    assert np.isfinite(got[("bn_do", "ate", "old", None)].estimate) and set(report.refutations) == {"old"}
    assert got[("ab_diff", "ate", "a_stray", None)].explanation.startswith("policy=a_stray has 1 row (")


@pytest.mark.parametrize(
    ("rows", "clicks", "withheld"),
    [(100, 4, "fewer than 5 positives "), (100, 5, None), (100, 96, "fewer than 5 negatives "), (100, 95, None)],
)
def test_four_events_are_withheld_and_five_kept(rows, clicks, withheld):
    report = estimate_effects(arms_log({"a": (200, 40), "b": (rows, clicks)}), FAST)
    counts = f"policy=b has 100 rows ({clicks} with click=1, {100 - clicks} with click=0): "
    for e in report.estimates:
        involves_b = "b" in (e.treatment_value, e.baseline_value)
        if withheld and involves_b:
            assert math.isnan(e.estimate) and math.isnan(e.ci_low) and math.isnan(e.ci_high), e
            assert e.explanation.startswith(counts + withheld), e
        else:
            assert e.explanation is None and np.isfinite([e.estimate, e.ci_low, e.ci_high]).all(), e
    naive_a = by_key(report)[("naive", "interventional_mean", "a", None)]
    assert naive_a.estimate == 0.2 and naive_a.n_rows == 200
    if withheld:  # the rule is the config's: lowered to 4, the same arm gets its numbers
        lowered = estimate_effects(arms_log({"a": (200, 40), "b": (rows, clicks)}), replace(FAST, min_arm_events=4))
        assert all(e.explanation is None and np.isfinite(e.estimate) for e in lowered.estimates)


def test_a_thin_baseline_withholds_every_effect_and_names_itself():
    log = arms_log({"a": (100, 4), "b": (200, 40), "c": (300, 90)})
    got = by_key(estimate_effects(log, replace(FAST, baseline="a")))
    for method in ("bn_do", "naive", "ab_diff"):
        for value in ("b", "c"):
            ate = got[(method, "ate", value, None)]
            assert math.isnan(ate.estimate) and ate.baseline_value == "a"
            assert ate.explanation.startswith("the baseline policy=a has 100 rows (4 with click=1, 96 with click=0)")
            mean = got[(method, "interventional_mean", value, None)]
            assert mean.explanation is None and np.isfinite(mean.estimate)
    # Left to choose, the baseline is "b": the first value that passes; only "a"'s rows are withheld.
    chosen = by_key(estimate_effects(log, FAST))
    assert chosen[("ab_diff", "ate", "c", None)].baseline_value == "b"
    assert chosen[("ab_diff", "ate", "c", None)].estimate == pytest.approx(0.3 - 0.2, abs=1e-12)
    assert chosen[("ab_diff", "ate", "a", None)].explanation.startswith("policy=a has 100 rows")


def test_a_thin_arm_within_one_segment_withholds_that_cate_only():
    log = ConfoundedLog().simulate(3000, 4)
    cell = (log.policy == "new") & (log.user_segment == "s2")
    keep = np.flatnonzero(cell & (log.click == 1))[:3]  # 3 clicks left to policy=new within s2
    log.loc[cell, "click"] = 0
    log.loc[keep, "click"] = 1
    config = replace(FAST, baseline="old", segment="user_segment")
    got = by_key(estimate_effects(log, config))
    n_cell = int(cell.sum())
    s2 = got[("bn_do", "cate", "new", "user_segment=s2")]
    assert math.isnan(s2.estimate) and math.isnan(s2.ci_low) and s2.n_rows == int((log.user_segment == "s2").sum())
    assert s2.explanation.startswith(
        f"policy=new within user_segment=s2 has {n_cell} rows (3 with click=1, {n_cell - 3} with click=0): "
        "fewer than 5 positives (min_arm_events=5)"
    )
    for s in ("s0", "s1"):
        cate = got[("bn_do", "cate", "new", f"user_segment={s}")]
        assert cate.explanation is None and np.isfinite([cate.estimate, cate.ci_low, cate.ci_high]).all()
    for key in (("bn_do", "ate", "new", None), ("ab_diff", "ate", "new", None)):  # the arm passes overall
        assert got[key].explanation is None and np.isfinite(got[key].estimate)
