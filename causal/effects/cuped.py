"""CUPED and CUPAC: narrower A/B intervals on per-user outcomes from a pre-period covariate or an ML prediction.

CUPED (Deng, Xu, Kohavi and Walker 2013) replaces each user's outcome y by y - theta (x - mean x), where x is
the same user's value of a pre-period covariate (their clicks before the experiment) and theta the pooled
within-arm slope of y on x. x was fixed before assignment, so under user-level randomisation its arm means
agree up to noise and the difference of adjusted means targets the same effect as the plain one, with the
variance that x explains taken out. CUPAC (DoorDash, Tang et al. 2020) is the same arithmetic with x an ML
prediction of y made from pre-period data only; a prediction that looks at the experiment period would let
the treatment leak into the covariate and bias the estimate.

`per_user_outcomes` turns an impression log into the one-row-per-user frame CUPED needs and refuses a log in
which a user was served two arms (impression-level randomisation: per-user outcomes are then not defined by
one arm); `pre_period_covariate` gives each of those users their pre-period value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import pandas as pd

from causal.values import Estimate
from common.values import jsonable


@dataclass(frozen=True)
class CupedResult:
    """One arm minus the baseline arm on a per-user outcome: CUPED-adjusted and plain, with what x bought."""

    value: str  # the arm compared with the baseline
    baseline: str
    estimate: float  # mean(y_adj | value) - mean(y_adj | baseline)
    ci_low: float
    ci_high: float
    plain_estimate: float  # mean(y | value) - mean(y | baseline), the plain A/B difference
    plain_low: float
    plain_high: float
    theta: float  # pooled within-arm slope of y on x, over every arm of the frame
    variance_reduction: float  # 1 - var(y_adj) / var(y), within-arm variances pooled over the two arms
    correlation: float  # pooled within-arm correlation of y and x over the two arms
    n_users: int  # users in the two arms
    n_t: int
    n_c: int

    @property
    def width_ratio(self) -> float:
        """Width of the CUPED interval over the plain one's (< 1: narrower)."""
        plain = self.plain_high - self.plain_low
        return (self.ci_high - self.ci_low) / plain if plain > 0 else float("nan")

    def as_diagnostics(self) -> dict:
        """JSON-safe dict for an Estimate's diagnostics."""
        return jsonable({**self.__dict__, "width_ratio": self.width_ratio})


def cuped(
    frame: pd.DataFrame,
    outcome: str,
    arm: str,
    covariate: str,
    baseline_arm: str,
    alpha: float = 0.05,
) -> tuple[CupedResult, ...]:
    """Each arm other than `baseline_arm` against it, on `outcome` adjusted by `covariate`; one row per user.

    theta = sum_a sum_u (y - ybar_a)(x - xbar_a) / sum_a sum_u (x - xbar_a)^2 over every arm a: the covariance
    over the variance of x pooled within arms, which is the OLS slope of y on x with one intercept per arm
    (centring within arms keeps the effect itself out of the slope). y_adj = y - theta (x - mean x) with the
    mean over all users, so adjusted arm means stay on the outcome's scale. Both intervals are the normal
    (Wald) ones of a difference of means with each arm's own variance, as `ab_test` gives; theta is treated as
    known, which costs O(1/n) in coverage. A covariate with no spread gives theta = 0 and the plain interval.
    Results come in the order the arms first appear in the frame.
    """
    y, x, labels = _checked(frame, outcome, arm, covariate, baseline_arm, alpha)
    arms = list(dict.fromkeys(labels))
    groups = {a: np.flatnonzero(labels == a) for a in arms}
    small = {a: len(rows) for a, rows in groups.items() if len(rows) < 2}
    if small:
        raise ValueError(
            f"every arm needs at least 2 users for a variance; got {small} in column {arm!r}; "
            "drop those arms or run the experiment longer"
        )
    yc = np.concatenate([y[rows] - y[rows].mean() for rows in groups.values()])
    xc = np.concatenate([x[rows] - x[rows].mean() for rows in groups.values()])
    sxx = float(xc @ xc)
    theta = float(xc @ yc) / sxx if sxx > 0 else 0.0
    y_adj = y - theta * (x - x.mean())
    z = NormalDist().inv_cdf(1 - alpha / 2)
    base = groups[str(baseline_arm)]
    results = []
    for a in arms:
        if a == str(baseline_arm):
            continue
        rows = groups[a]
        diff, se = _difference(y_adj[rows], y_adj[base])
        plain, se_plain = _difference(y[rows], y[base])
        ss_y, ss_adj, ss_x = (_within_cross(v, v, rows, base) for v in (y, y_adj, x))
        sxy = _within_cross(y, x, rows, base)
        results.append(
            CupedResult(
                value=a,
                baseline=str(baseline_arm),
                estimate=diff,
                ci_low=diff - z * se,
                ci_high=diff + z * se,
                plain_estimate=plain,
                plain_low=plain - z * se_plain,
                plain_high=plain + z * se_plain,
                theta=theta,
                variance_reduction=1.0 - ss_adj / ss_y if ss_y > 0 else float("nan"),
                correlation=sxy / math.sqrt(ss_x * ss_y) if ss_x > 0 and ss_y > 0 else 0.0,
                n_users=len(rows) + len(base),
                n_t=len(rows),
                n_c=len(base),
            )
        )
    return tuple(results)


def cuped_estimates(
    results: tuple[CupedResult, ...], treatment: str, outcome: str, method: Literal["cuped", "cupac"]
) -> list[Estimate]:
    """`interventions` rows (estimand `ate`, method `cuped` or `cupac`) to store beside the plain `ab_diff` rows.

    The outcome is named `<outcome>_per_user` because the rows compare per-user sums, not per-impression
    rates: they must not be read as the same quantity as the `ab_diff` rows of `outcome`.
    """
    return [
        Estimate(
            treatment=treatment,
            treatment_value=r.value,
            baseline_value=r.baseline,
            outcome=f"{outcome}_per_user",
            estimand="ate",
            method=method,  # type: ignore[arg-type]  # see the report: Method gains "cuped" and "cupac"
            estimate=r.estimate,
            ci_low=r.ci_low,
            ci_high=r.ci_high,
            n_rows=r.n_users,
            adjustment_set=(),
            diagnostics=r.as_diagnostics(),
        )
        for r in results
    ]


def per_user_outcomes(
    log: pd.DataFrame, outcome: str, arm: str, user: str = "user_id", users: pd.Index | None = None
) -> pd.DataFrame:
    """One row per user (index `user`): their arm, the sum of `outcome` over their impressions, and `impressions`.

    `users`, when given, fixes the rows and their order; a user of `users` absent from the log gets a row of
    missing values, for the caller to fill with their assigned arm and zeros. A user served more than one arm
    breaks user-level randomisation and raises: their clicks would mix two treatments.
    """
    missing = [c for c in (outcome, arm, user) if c not in log.columns]
    if missing:
        raise ValueError(f"the log lacks column(s) {missing}; it has {sorted(log.columns)}; name the right ones")
    arms_per_user = log.groupby(user, sort=False)[arm].nunique()
    mixed = arms_per_user[arms_per_user > 1]
    if len(mixed):
        first = mixed.index[0]
        served = sorted(log.loc[log[user] == first, arm].astype(str).unique())
        raise ValueError(
            f"CUPED needs user-level randomisation, but {len(mixed)} user(s) were served several arms, e.g. "
            f"{user}={first!r} got {served}; randomise users, not impressions, or keep each user's first arm"
        )
    grouped = log.groupby(user, sort=False)
    frame = pd.DataFrame(
        {
            arm: grouped[arm].first().astype(str),
            outcome: grouped[outcome].sum().astype(float),
            "impressions": grouped.size().astype(np.int64),
        }
    )
    return frame if users is None else frame.reindex(users)


def pre_period_covariate(
    pre_log: pd.DataFrame,
    users: pd.Index,
    outcome: str,
    user: str = "user_id",
    per: Literal["user", "impression"] = "user",
) -> pd.Series:
    """Each of `users`' pre-period `outcome`: their sum (`per="user"`) or their mean per impression.

    A user with no pre-period impression gets 0 as a sum and the pooled pre-period rate as a mean: any fill is
    valid (it was fixed before assignment, so it cannot carry the treatment), and these lose the least.
    """
    if per not in ("user", "impression"):
        raise ValueError(f"per must be 'user' or 'impression'; got {per!r}; 'user' is CUPED's own choice")
    missing = [c for c in (outcome, user) if c not in pre_log.columns]
    if missing:
        raise ValueError(f"the pre-period log lacks column(s) {missing}; it has {sorted(pre_log.columns)}")
    grouped = pre_log.groupby(user)[outcome]
    if per == "user":
        return grouped.sum().astype(float).reindex(users, fill_value=0.0).rename(f"pre_{outcome}")
    pooled = float(pre_log[outcome].mean()) if len(pre_log) else 0.0
    return grouped.mean().astype(float).reindex(users, fill_value=pooled).rename(f"pre_{outcome}_rate")


def _checked(
    frame: pd.DataFrame, outcome: str, arm: str, covariate: str, baseline_arm: str, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outcome, covariate and arm labels (as str) after the checks no number of users can fix."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1; got {alpha!r}; use 0.05 for a 95% interval")
    missing = [c for c in (outcome, arm, covariate) if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks column(s) {missing}; it has {sorted(frame.columns)}; one row per user")
    labels = frame[arm].astype(str).to_numpy()
    if str(baseline_arm) not in set(labels):
        raise ValueError(f"baseline arm {baseline_arm!r} is not in column {arm!r}; its arms are {sorted(set(labels))}")
    arrays = []
    for name in (outcome, covariate):
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise ValueError(
                f"column {name!r} holds {bad} missing or non-numeric value(s); fill them (e.g. 0 pre-period clicks "
                "for new users) or drop those users before CUPED"
            )
        arrays.append(values)
    return arrays[0], arrays[1], labels


def _difference(t: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """mean(t) - mean(c) and its standard error from each arm's own variance."""
    return float(t.mean() - c.mean()), math.sqrt(t.var(ddof=1) / t.size + c.var(ddof=1) / c.size)


def _within_cross(y: np.ndarray, x: np.ndarray, rows: np.ndarray, base: np.ndarray) -> float:
    """Sum of cross-products of y and x about their own arm's means, over the two arms (x = y: sum of squares)."""
    return float(sum(((y[r] - y[r].mean()) * (x[r] - x[r].mean())).sum() for r in (rows, base)))
