"""A/B analysis of a randomised log: difference, relative lift, interval, minimum detectable effect, a plain verdict.

`ab_estimates` makes the effect report's `ab_diff` rows from the arms' outcomes with `ab_test` itself, so a
stored interval and the verdict beside it are one computation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from causal.config import MIN_ARM_EVENTS
from causal.effects.arms import Arm, shortfall, thin_arms
from causal.values import Estimand, Estimate
from common.values import jsonable


@dataclass(frozen=True)
class ArmCounts:
    """An arm's 0/1 outcomes as counts, as a contingency table holds them: `n` rows, `hits` of them 1."""

    n: int
    hits: int

    def __len__(self) -> int:
        return self.n


Outcomes = Iterable[float] | ArmCounts  # an arm's outcomes, one per row, or their counts


@dataclass(frozen=True)
class ABResult:
    """Treatment minus control, with what the sample size could and could not have detected."""

    diff: float  # mean(treatment) - mean(control)
    relative_lift: float  # diff / mean(control); nan when the control mean is 0
    ci_low: float
    ci_high: float
    mde: float  # smallest true difference detected with the given power at this sample size
    n_t: int
    n_c: int
    mean_t: float
    mean_c: float
    p_value: float
    n_per_arm_to_detect_observed: float  # rows per arm to detect a true difference of |diff| with that power
    verdict: str

    def as_diagnostics(self) -> dict:
        """JSON-safe dict for an Estimate's diagnostics."""
        return jsonable(self.__dict__)


def ab_test(
    y_treatment: Outcomes,
    y_control: Outcomes,
    alpha: float = 0.05,
    power: float = 0.8,
    min_events: int = MIN_ARM_EVENTS,
) -> ABResult:
    """Two-sample comparison of means of 0/1 outcomes (e.g. click rates) with a normal-approximation (Wald) interval.

    The interval uses each arm's own variance; the minimum detectable effect is the two-sided
    z-test's at level `alpha` and `power` with the pooled variance under "no difference":
    (z_{1-alpha/2} + z_{power}) * sqrt(s^2 (1/n_t + 1/n_c)). The verdict says plainly whether the
    interval excludes 0 and, when it does not, how far the sample is from resolving the observed gap.

    An arm with fewer than `min_events` positive (nonzero) or negative (zero) outcomes, or fewer than two rows,
    gets no test: the numbers are nan and the verdict says which arm fell short and what it would take.
    """
    t = _as_arm(y_treatment, "y_treatment")
    c = _as_arm(y_control, "y_control")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1; got {alpha!r}; use 0.05 for a 95% interval")
    if not 0 < power < 1:
        raise ValueError(f"power must lie strictly between 0 and 1; got {power!r}; 0.8 is customary")
    n_t, n_c = len(t), len(c)
    reasons = [
        shortfall(f"the {name} arm", len(arm), _positives(arm), "outcome", min_events, f"the {name} arm")
        for name, arm in (("treatment", t), ("control", c))
    ]
    if any(reasons):
        nan = float("nan")
        means = [_positives(arm) / len(arm) if len(arm) else nan for arm in (t, c)]
        verdict = "no verdict: " + " ".join(r for r in reasons if r)
        return ABResult(nan, nan, nan, nan, nan, n_t, n_c, means[0], means[1], nan, nan, verdict)
    (m_t, v_t), (m_c, v_c) = _mean_var(t), _mean_var(c)
    diff = m_t - m_c
    lift = diff / m_c if m_c != 0 else float("nan")
    z_a = NormalDist().inv_cdf(1 - alpha / 2)
    z_b = NormalDist().inv_cdf(power)
    se = math.sqrt(v_t + v_c)
    lo, hi = diff - z_a * se, diff + z_a * se
    s2 = _pooled_var(t, c)
    se0 = math.sqrt(s2 * (1 / n_t + 1 / n_c))
    mde = (z_a + z_b) * se0
    p_value = 2 * (1 - NormalDist().cdf(abs(diff) / se0)) if se0 > 0 else (0.0 if diff != 0 else 1.0)
    # Balanced arms of n each: se0 = sqrt(2 s2 / n), so n = 2 s2 (z_a + z_b)^2 / diff^2.
    n_needed = 2 * s2 * (z_a + z_b) ** 2 / diff**2 if diff != 0 else float("inf")
    level = f"{1 - alpha:.0%}"
    if lo <= 0 <= hi:
        ratio = mde / abs(diff) if diff != 0 else float("inf")
        times = f"{ratio:.1f}x" if math.isfinite(ratio) else "infinitely many times"
        verdict = (
            f"cannot tell the arms apart: the {level} interval [{lo:.4g}, {hi:.4g}] includes 0 and the minimum "
            f"detectable effect ({mde:.2g}) is {times} the observed difference ({diff:.2g}); detecting a true "
            f"difference that small with {power:.0%} power would take about {_rows(n_needed)} rows per arm "
            f"(this log has {n_t:,} and {n_c:,})"
        )
    else:
        direction = "higher" if diff > 0 else "lower"
        verdict = (
            f"treatment is {direction}: the {level} interval [{lo:.4g}, {hi:.4g}] excludes 0 "
            f"(difference {diff:.4g}, relative lift {lift:+.1%}, p = {p_value:.2g})"
        )
    return ABResult(
        diff=diff,
        relative_lift=lift,
        ci_low=lo,
        ci_high=hi,
        mde=mde,
        n_t=n_t,
        n_c=n_c,
        mean_t=m_t,
        mean_c=m_c,
        p_value=p_value,
        n_per_arm_to_detect_observed=n_needed,
        verdict=verdict,
    )


def arm_interval(y: Outcomes, alpha: float = 0.05) -> tuple[float, float, float]:
    """One arm's mean and its Wald interval (mean, low, high), with the variance `ab_test` gives that arm."""
    arr = _as_arm(y, "y")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1; got {alpha!r}; use 0.05 for a 95% interval")
    if len(arr) < 2:
        raise ValueError(f"y must hold at least 2 outcomes for a variance; got {len(arr)}; check the arm rule first")
    mean, var = _mean_var(arr)
    half = NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(var)
    return mean, mean - half, mean + half


def ab_estimates(
    treatment: str,
    outcome: str,
    values: Sequence[str],
    baseline: str,
    outcomes: Sequence[np.ndarray | ArmCounts],
    level: float,
    power: float = 0.8,
    min_events: int = MIN_ARM_EVENTS,
) -> list[Estimate]:
    """The `ab_diff` rows: each arm's mean, then each arm minus the baseline arm, the latter straight from `ab_test`.

    `outcomes[i]` holds the 0/1 outcomes of the rows served `values[i]`, or their `ArmCounts` when the log
    came as counts (the same numbers up to float rounding). An ATE row's interval is the test's
    and its diagnostics are the test's result, verdict included, so the two cannot disagree. A row involving
    an arm below the arm rule (`min_events` positives and negatives, two rows) carries nan and says why.
    """
    alpha = 1 - level
    base = list(values).index(baseline)
    arms = tuple(Arm(v, len(y), _positives(y)) for v, y in zip(values, outcomes))
    short = thin_arms(arms, treatment, outcome, baseline, min_events)
    rows: list[Estimate] = []

    def row(
        i: int,
        estimand: Estimand,
        point: float,
        lo: float,
        hi: float,
        n: int,
        diagnostics: dict | None = None,
        explanation: str | None = None,
    ) -> Estimate:
        return Estimate(
            treatment=treatment,
            treatment_value=values[i],
            baseline_value=baseline if estimand != "interventional_mean" else None,
            outcome=outcome,
            estimand=estimand,
            method="ab_diff",
            estimate=float(point),
            ci_low=float(lo),
            ci_high=float(hi),
            n_rows=int(n),
            adjustment_set=(),
            diagnostics=diagnostics or {},
            explanation=explanation,
        )

    def thin(*arms: int) -> str | None:
        reasons = [short[values[i]] for i in dict.fromkeys(arms) if values[i] in short]
        return " ".join(reasons) if reasons else None

    nan = float("nan")
    for i in range(len(values)):
        reason = thin(i)
        mean, lo, hi = (nan, nan, nan) if reason else arm_interval(outcomes[i], alpha)
        rows.append(row(i, "interventional_mean", mean, lo, hi, len(outcomes[i]), explanation=reason))
    for i in range(len(values)):
        if i == base:
            continue
        n = len(outcomes[i]) + len(outcomes[base])
        reason = thin(i, base)
        if reason:
            rows.append(row(i, "ate", nan, nan, nan, n, explanation=reason))
            continue
        res = ab_test(outcomes[i], outcomes[base], alpha, power, min_events)
        rows.append(row(i, "ate", res.diff, res.ci_low, res.ci_high, n, diagnostics=res.as_diagnostics()))
    return rows


def _mean_var(arm: np.ndarray | ArmCounts) -> tuple[float, float]:
    """An arm's mean and the variance of that mean, var(ddof=1) / n."""
    if isinstance(arm, ArmCounts):
        mean = arm.hits / arm.n
        # var(ddof=1) of n 0/1 values is n p (1 - p) / (n - 1); the mean's variance is that over n.
        return mean, mean * (1 - mean) / (arm.n - 1)
    return float(arm.mean()), float(arm.var(ddof=1)) / arm.size


def _pooled_var(t: np.ndarray | ArmCounts, c: np.ndarray | ArmCounts) -> float:
    """var(ddof=1) of both arms' outcomes together."""
    if isinstance(t, np.ndarray) and isinstance(c, np.ndarray):
        return float(np.concatenate([t, c]).var(ddof=1))
    # From the arms' summaries: within-arm sums of squares plus the between-arm part.
    (m_t, vm_t), (m_c, vm_c) = _mean_var(t), _mean_var(c)
    n_t, n_c = len(t), len(c)
    n = n_t + n_c
    within = vm_t * n_t * (n_t - 1) + vm_c * n_c * (n_c - 1)
    return (within + n_t * n_c / n * (m_t - m_c) ** 2) / (n - 1)


def _positives(arm: np.ndarray | ArmCounts) -> int:
    """An arm's outcomes that are 1 (nonzero): its clicks."""
    return int(arm.hits) if isinstance(arm, ArmCounts) else int(np.count_nonzero(arm))


def _as_arm(y: Outcomes, name: str) -> np.ndarray | ArmCounts:
    """The arm checked for what no count of rows can fix (shape, missing values); its size is the arm rule's."""
    if not isinstance(y, ArmCounts):
        return _as_array(y, name)
    if not (isinstance(y.n, (int, np.integer)) and isinstance(y.hits, (int, np.integer)) and 0 <= y.hits <= y.n):
        raise ValueError(f"{name} counts must be integers with 0 <= hits <= n; got n={y.n!r}, hits={y.hits!r}")
    return y


def _as_array(y: Iterable[float], name: str) -> np.ndarray:
    arr = np.asarray(list(y) if not isinstance(y, (np.ndarray, pd.Series)) else y, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one outcome per row (1-D); got shape {arr.shape}; flatten it")
    if np.isnan(arr).any():
        raise ValueError(f"{name} holds {int(np.isnan(arr).sum())} missing outcomes; drop them first")
    return arr


def _rows(n: float) -> str:
    if not math.isfinite(n):
        return "infinitely many"
    return f"{int(round(n, -3 if n >= 10_000 else 0)):,}"
