"""CUPED and CUPAC: unbiased, never wider than plain with a correlated covariate, theta is the OLS slope, checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.effects.cuped import CupedResult, cuped, cuped_estimates, per_user_outcomes, pre_period_covariate

TAU = 1.5  # the true effect of arm "b" over arm "a" in the synthetic draws


def draw(seed: int, n: int = 400, slope: float = 2.0, noise: float = 1.0) -> pd.DataFrame:
    """n users, half in each arm; y = 3 + slope * x + TAU * [arm b] + noise, x drawn before assignment."""
    rng = np.random.default_rng(seed)
    x = rng.normal(5.0, 1.0, n)
    arm = np.where(rng.permutation(n) < n // 2, "a", "b")
    y = 3.0 + slope * x + TAU * (arm == "b") + rng.normal(0.0, noise, n)
    return pd.DataFrame({"y": y, "x": x, "arm": arm, "noise_x": rng.normal(0.0, 1.0, n)})


def one(frame: pd.DataFrame, covariate: str = "x", alpha: float = 0.05) -> CupedResult:
    (result,) = cuped(frame, "y", "arm", covariate, "a", alpha)
    return result


def test_cuped_is_unbiased_covers_and_is_never_wider_than_plain_with_a_correlated_covariate() -> None:
    results = [one(draw(seed)) for seed in range(300)]
    estimates = np.array([r.estimate for r in results])
    # mean over draws within 4 Monte Carlo standard errors of the truth
    assert abs(estimates.mean() - TAU) < 4 * estimates.std(ddof=1) / np.sqrt(len(estimates))
    plain = np.array([r.plain_estimate for r in results])
    assert estimates.std() < 0.5 * plain.std()  # x explains 80% of y's variance: the spread shrinks accordingly
    assert all(r.ci_high - r.ci_low <= r.plain_high - r.plain_low for r in results)
    coverage = np.mean([r.ci_low <= TAU <= r.ci_high for r in results])
    assert 0.91 <= coverage <= 0.99


def test_theta_is_the_ols_slope_of_y_on_x_with_one_intercept_per_arm() -> None:
    frame = draw(3, n=500, slope=-0.7)
    design = np.column_stack([frame["arm"] == "a", frame["arm"] == "b", frame["x"]]).astype(float)
    coef, *_ = np.linalg.lstsq(design, frame["y"].to_numpy(), rcond=None)
    result = one(frame)
    assert result.theta == pytest.approx(coef[2], rel=1e-10)
    # with one intercept per arm, the adjusted difference is the OLS coefficient of the arm (ANCOVA)
    assert result.estimate == pytest.approx(coef[1] - coef[0], rel=1e-10)
    assert result.plain_estimate == pytest.approx(
        frame.loc[frame.arm == "b", "y"].mean() - frame.loc[frame.arm == "a", "y"].mean()
    )


def test_an_independent_covariate_reduces_nothing() -> None:
    result = one(draw(5, n=4000), "noise_x")
    assert 0.0 <= result.variance_reduction < 0.005  # in-sample OLS never increases it; expected about 1/n
    assert abs(result.correlation) < 0.05
    assert result.width_ratio == pytest.approx(1.0, abs=0.005)


def test_cupac_with_a_perfect_predictor_removes_nearly_all_variance() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    z = rng.normal(size=(n, 3))
    arm = np.where(rng.permutation(n) < n // 2, "a", "b")
    signal = np.sin(2 * z[:, 0]) + z[:, 1] ** 2 + z[:, 0] * z[:, 2]  # nonlinear: x itself would not do
    frame = pd.DataFrame({"arm": arm, "y": signal + 0.5 * (arm == "b") + rng.normal(0, 0.1, n)})
    frame["prediction"] = signal  # what a perfect model of y from pre-period features would say
    frame["raw_feature"] = z[:, 0]
    perfect, raw = one(frame, "prediction"), one(frame, "raw_feature")
    assert perfect.variance_reduction > 0.95
    assert perfect.theta == pytest.approx(1.0, abs=0.02)
    assert perfect.ci_low <= 0.5 <= perfect.ci_high and perfect.width_ratio < 0.25
    assert raw.variance_reduction < 0.5 * perfect.variance_reduction


def test_several_arms_are_each_compared_with_the_baseline_with_one_pooled_theta() -> None:
    rng = np.random.default_rng(2)
    n = 900
    arm = np.array(["ctl", "t1", "t2"])[rng.permutation(n) % 3]
    x = rng.normal(size=n)
    y = x + np.select([arm == "t1", arm == "t2"], [1.0, -2.0], 0.0) + rng.normal(0, 0.3, n)
    results = cuped(pd.DataFrame({"arm": arm, "x": x, "y": y}), "y", "arm", "x", "ctl")
    assert {r.value for r in results} == {"t1", "t2"} and all(r.baseline == "ctl" for r in results)
    assert len({r.theta for r in results}) == 1
    by = {r.value: r for r in results}
    assert by["t1"].ci_low < 1.0 < by["t1"].ci_high and by["t2"].ci_low < -2.0 < by["t2"].ci_high
    assert all(r.n_users == r.n_t + r.n_c == 600 for r in results)


def test_a_covariate_without_spread_gives_the_plain_interval() -> None:
    frame = draw(1).assign(constant=4.0)
    result = one(frame, "constant")
    assert result.theta == 0.0
    assert (result.ci_low, result.ci_high) == pytest.approx((result.plain_low, result.plain_high))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.assign(x=f["x"].where(f.index > 2)), r"column 'x' holds 3 missing"),
        (lambda f: f.drop(columns="x"), r"lacks column\(s\) \['x'\]"),
        (lambda f: f.assign(arm="b"), r"baseline arm 'a' is not in column 'arm'"),
        (lambda f: f.assign(arm=np.where(f.index == 0, "c", f["arm"])), r"at least 2 users.*\{'c': 1\}"),
    ],
)
def test_bad_frames_name_the_rule_and_the_fix(change, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        one(change(draw(0)))


def test_alpha_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match=r"alpha must lie strictly between 0 and 1; got 1.5"):
        one(draw(0), alpha=1.5)


def test_per_user_outcomes_sums_each_users_impressions_and_refuses_a_user_in_two_arms() -> None:
    log = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u3", "u3", "u3"],
            "strategy": ["a", "a", "b", "a", "a", "a"],
            "click": [1, 0, 1, 1, 1, 0],
        }
    )
    frame = per_user_outcomes(log, "click", "strategy", users=pd.Index(["u3", "u1", "u2", "u4"]))
    assert frame["click"].tolist()[:3] == [2.0, 1.0, 1.0]
    assert frame["impressions"].tolist()[:3] == [3, 2, 1]
    assert frame["strategy"].tolist()[:3] == ["a", "a", "b"]
    assert frame.loc["u4"].isna().all()  # asked for, never shown anything: the caller decides its arm
    mixed = pd.concat([log, pd.DataFrame({"user_id": ["u2"], "strategy": ["a"], "click": [0]})])
    with pytest.raises(ValueError, match=r"user-level randomisation.*user_id='u2' got \['a', 'b'\]"):
        per_user_outcomes(mixed, "click", "strategy")


def test_pre_period_covariate_fills_users_without_a_pre_period() -> None:
    pre = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "click": [1, 1, 0]})
    users = pd.Index(["u1", "u2", "new"])
    assert pre_period_covariate(pre, users, "click").tolist() == [2.0, 0.0, 0.0]
    assert pre_period_covariate(pre, users, "click", per="impression").tolist() == [1.0, 0.0, pytest.approx(2 / 3)]
    with pytest.raises(ValueError, match=r"per must be 'user' or 'impression'; got 'row'"):
        pre_period_covariate(pre, users, "click", per="row")  # type: ignore[arg-type]


def test_cuped_estimates_are_per_user_ate_rows_with_the_result_as_diagnostics() -> None:
    results = cuped(draw(4), "y", "arm", "x", "a")
    (row,) = cuped_estimates(results, "strategy", "click", "cupac")
    assert (row.method, row.estimand, row.outcome) == ("cupac", "ate", "click_per_user")
    assert (row.treatment_value, row.baseline_value) == ("b", "a")
    assert (row.estimate, row.ci_low, row.ci_high) == (results[0].estimate, results[0].ci_low, results[0].ci_high)
    assert row.diagnostics["variance_reduction"] == results[0].variance_reduction
    assert row.diagnostics["width_ratio"] < 1
