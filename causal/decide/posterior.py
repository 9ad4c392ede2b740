"""From bootstrap replicates of interventional means to a decision: P(best), expected loss, lift, a recommendation.

The replicates relearn the structure, so they are draws from (in effect) a posterior over the do-means;
GrowthBook's "chance to win" is P(best) here and its "risk" is the expected loss of choosing a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.values import percentile_interval

ALL = "all"  # the segment (and segment value) of the whole population
MIN_REPLICATES = 2  # fewer complete replicates than this give no distribution to decide from


@dataclass(frozen=True)
class ValueDecision:
    """One treatment value of one (pair, segment): how likely it is best and what choosing it risks."""

    value: str
    mean: float  # the replicates' mean of P(outcome=1 | do(value))
    p_best: float  # share of replicates where it has the highest mean (ties split)
    expected_loss: float  # E[max_j mu_j - mu_value]: what choosing it gives up, on average
    lift: float  # E[mu_value - mu_baseline]
    lift_low: float
    lift_high: float
    recommended: bool


@dataclass(frozen=True)
class Decision:
    """The decision of one (treatment, outcome) in one segment value; `values` is empty when there is none."""

    treatment: str
    outcome: str
    segment: str  # the segment node, or "all"
    segment_value: str  # the node's state, or "all"
    baseline: str
    values: tuple[ValueDecision, ...]
    replicates_used: int
    replicates: int
    explanation: str | None = None  # why there is no decision

    @property
    def recommended(self) -> ValueDecision | None:
        return next((v for v in self.values if v.recommended), None)

    @property
    def baseline_mean(self) -> float:
        return next((v.mean for v in self.values if v.value == self.baseline), float("nan"))

    def sentence(self) -> str:
        """The recommendation in one sentence that states the risk, or why there is none."""
        where = "" if self.segment == ALL else f"In {self.segment}={self.segment_value}: "
        best = self.recommended
        if best is None:
            return f"{where}no decision for {self.treatment} on {self.outcome}: {self.explanation}"
        base = self.baseline_mean
        share = f" ({best.expected_loss / base:.1%} of baseline)" if base > 0 else ""
        used = (
            "" if self.replicates_used == self.replicates else f", {self.replicates_used}/{self.replicates} replicates"
        )
        return (
            f"{where}Deploy {best.value} for {self.outcome}: P(best)={best.p_best:.2f}, expected loss "
            f"{best.expected_loss:.4f}{share} if wrong{used}"
        )


def p_best(means: np.ndarray) -> np.ndarray:
    """(values,) share of replicates in which each value has the highest mean; a tie of m values gives each 1/m.

    `means` is (replicates, values) without nan.
    """
    top = means.max(axis=1, keepdims=True)
    winners = np.isclose(means, top, rtol=0.0, atol=1e-12)  # exact ties (e.g. identical replicates) share the win
    return (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)


def expected_loss(means: np.ndarray) -> np.ndarray:
    """(values,) E[max_j mu_j - mu_v] over the replicates: the risk of choosing each value."""
    return (means.max(axis=1, keepdims=True) - means).mean(axis=0)


def decide(
    means: np.ndarray,
    values: tuple[str, ...],
    baseline: str,
    *,
    treatment: str,
    outcome: str,
    segment: str = ALL,
    segment_value: str = ALL,
    level: float = 0.95,
) -> Decision:
    """The decision from (replicates, values) interventional means; nan marks a replicate without that number.

    Replicates with any nan are left out (a structure that did not identify the effect answers nothing); a value
    with no finite replicate at all gives no decision, since choosing among the others would hide it.
    """
    means = np.asarray(means, dtype=float)
    if means.ndim != 2 or means.shape[1] != len(values):
        raise ValueError(
            f"replicate means must be (replicates, {len(values)} values) for values {list(values)}; got shape "
            f"{means.shape}; pass one column per treatment value"
        )
    if baseline not in values:
        raise ValueError(f"baseline {baseline!r} is not a treatment value; choose one of {list(values)}")
    where = dict(treatment=treatment, outcome=outcome, segment=segment, segment_value=segment_value)
    total = means.shape[0]
    missing = [v for v, col in zip(values, means.T) if not np.isfinite(col).any()]
    complete = means[np.isfinite(means).all(axis=1)]
    reason = None
    if missing:
        reason = (
            f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no replicates (the run withheld the "
            "estimate; `recdo effects` says why)"
        )
    elif len(complete) < MIN_REPLICATES:
        reason = (
            f"only {len(complete)} of {total} replicates identified every value (need {MIN_REPLICATES}); "
            "run with more bootstrap replicates or a log that identifies the effect"
        )
    if reason:
        return Decision(
            **where, baseline=baseline, values=(), replicates_used=len(complete), replicates=total, explanation=reason
        )
    win, loss = p_best(complete), expected_loss(complete)
    pick = int(np.argmin(loss))  # the smallest risk; np.argmin keeps the first of equal losses
    base = complete[:, values.index(baseline)]
    rows = []
    for i, v in enumerate(values):
        lift = complete[:, i] - base
        lo, hi = percentile_interval(lift, level)
        rows.append(
            ValueDecision(
                value=v,
                mean=float(complete[:, i].mean()),
                p_best=float(win[i]),
                expected_loss=float(loss[i]),
                lift=float(lift.mean()),
                lift_low=lo,
                lift_high=hi,
                recommended=i == pick,
            )
        )
    return Decision(**where, baseline=baseline, values=tuple(rows), replicates_used=len(complete), replicates=total)
