"""The segment policy (the recommended value in each segment) and its value: by the network and by DR on the log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from causal.decide.posterior import Decision
from causal.decide.replicates import ReplicateSet
from common.values import percentile_interval

CELL_COLUMNS = ("segment_value", "value", "y", "propensity", "n")  # the log counted for DR (sources.decision_cells)


@dataclass(frozen=True)
class PolicyValue:
    """P(outcome=1) if each segment were served its policy value, by one method; nan with a reason when none."""

    treatment: str
    outcome: str
    segment: str
    method: str  # "bn_do": the network's replicates; "dr": doubly robust on the logged rows
    policy: dict[str, str]  # segment value -> treatment value
    estimate: float
    ci_low: float
    ci_high: float
    n_rows: int
    explanation: str | None = None


def _float(v: object) -> float:
    return float("nan") if v is None or v is pd.NA else float(v)  # type: ignore[arg-type]


def policy_values_from_rows(frame: pd.DataFrame) -> tuple[PolicyValue, ...]:
    """`policy_values` table rows back to `PolicyValue`s; NULL numbers become nan, as they were written."""
    out = []
    for r in frame.to_dict("records"):
        policy = r["policy"] or {}  # JSON text as written; NULL or "" (never written, but readable) is no policy
        why = r.get("explanation")
        out.append(
            PolicyValue(
                treatment=str(r["treatment"]),
                outcome=str(r["outcome"]),
                segment=str(r["segment"]),
                method=str(r["method"]),
                policy=json.loads(policy) if isinstance(policy, str) else dict(policy),
                estimate=_float(r["estimate"]),
                ci_low=_float(r["ci_low"]),
                ci_high=_float(r["ci_high"]),
                n_rows=0 if pd.isna(r["n_rows"]) else int(r["n_rows"]),
                explanation=why if isinstance(why, str) and why else None,
            )
        )
    return tuple(out)


def segment_policy(decisions: tuple[Decision, ...]) -> dict[str, str] | None:
    """Segment value -> recommended value, from the decisions of one pair's segments; None when one has none."""
    policy = {d.segment_value: d.recommended.value for d in decisions if d.recommended is not None}
    return policy if len(policy) == len(decisions) and policy else None


def network_value(sets: tuple[ReplicateSet, ...], policy: dict[str, str], level: float = 0.95) -> PolicyValue:
    """sum_s P(s) * mu_b(policy(s), s) in each replicate b: its mean and percentile interval.

    P(s) is the segment's share of the log's rows, the population the policy would serve.
    """
    first = sets[0]
    n = sum(r.n_rows for r in sets)
    draws = sum((r.n_rows / n) * r.means[:, r.values.index(policy[r.segment_value])] for r in sets)
    draws = np.asarray(draws, dtype=float)
    common = dict(treatment=first.treatment, outcome=first.outcome, segment=first.segment, policy=dict(policy))
    if not np.isfinite(draws).any():
        return PolicyValue(
            **common,
            method="bn_do",
            estimate=np.nan,
            ci_low=np.nan,
            ci_high=np.nan,
            n_rows=n,
            explanation="no replicate has every segment's policy value",
        )
    lo, hi = percentile_interval(draws, level)
    return PolicyValue(**common, method="bn_do", estimate=float(np.nanmean(draws)), ci_low=lo, ci_high=hi, n_rows=n)


def dr_value(
    cells: pd.DataFrame,
    policy: dict[str, str],
    *,
    treatment: str,
    outcome: str,
    segment: str,
    level: float = 0.95,
) -> PolicyValue:
    """Doubly robust value of the deterministic segment policy on the logged rows, counted as `CELL_COLUMNS`.

    V = mean_i [ q(s_i, pi(s_i)) + 1{a_i = pi(s_i)} / p_i * (y_i - q(s_i, a_i)) ], with p_i the logged
    propensity of the served value and q the outcome rate of (segment value, value) in the log. The logged
    propensities make it unbiased whatever q misses (confounders beyond the segment); q only cuts its variance.
    The interval is the normal one from the rows' terms (they are independent given the log's rows).
    """
    common = dict(treatment=treatment, outcome=outcome, segment=segment, method="dr", policy=dict(policy))
    nan = float("nan")
    n = int(cells["n"].sum()) if len(cells) else 0
    missing = set(CELL_COLUMNS) - set(cells.columns)
    if missing:
        raise ValueError(f"DR cells lack columns {sorted(missing)}; count the log as {list(CELL_COLUMNS)}")
    bad = cells[~((cells["propensity"] > 0) & (cells["propensity"] <= 1))]
    unknown = sorted(set(cells["segment_value"].astype(str)) - set(policy))
    reason = None
    if n == 0:
        reason = "the log has no rows with a segment value, a treatment value and a propensity"
    elif len(bad):
        reason = f"{int(bad['n'].sum())} logged rows have a propensity outside (0, 1]; DR needs the logging probability"
    elif unknown:
        reason = f"segment values {unknown[:5]} of the log have no policy value (binned segment?)"
    if reason:
        return PolicyValue(**common, estimate=nan, ci_low=nan, ci_high=nan, n_rows=n, explanation=reason)
    c = cells.assign(segment_value=cells["segment_value"].astype(str), value=cells["value"].astype(str))
    grouped = c.assign(yn=c["y"] * c["n"]).groupby(["segment_value", "value"])[["yn", "n"]].sum()
    q = (grouped["yn"] / grouped["n"]).to_dict()  # outcome rate of (segment value, value)
    target = c["segment_value"].map(policy)
    q_target = np.array([q.get((s, a), np.nan) for s, a in zip(c["segment_value"], target)])
    no_rows = sorted({f"{segment}={s}: {a}" for s, a, qt in zip(c["segment_value"], target, q_target) if np.isnan(qt)})
    if no_rows:
        return PolicyValue(
            **common,
            estimate=nan,
            ci_low=nan,
            ci_high=nan,
            n_rows=n,
            explanation=f"the log never served the policy's value in {no_rows[:3]}: no support",
        )
    wrong = _not_treatment_propensity(c, treatment, n)
    if wrong:
        return PolicyValue(**common, estimate=nan, ci_low=nan, ci_high=nan, n_rows=n, explanation=wrong)
    q_served = np.array([q[(s, a)] for s, a in zip(c["segment_value"], c["value"])])
    match = (c["value"].to_numpy() == target.to_numpy()).astype(float)
    term = q_target + match / c["propensity"].to_numpy(float) * (c["y"].to_numpy(float) - q_served)
    w = c["n"].to_numpy(float)
    mean = float((w * term).sum() / n)
    var = float((w * (term - mean) ** 2).sum() / max(n - 1, 1))
    half = NormalDist().inv_cdf((1 + level) / 2) * float(np.sqrt(var / n))
    return PolicyValue(**common, estimate=mean, ci_low=mean - half, ci_high=mean + half, n_rows=n)


def _not_treatment_propensity(cells: pd.DataFrame, treatment: str, n: int) -> str | None:
    """Why the log's `propensity` column is not P(treatment = served value | context), or None when it can be.

    A log records one logging probability per row, of one decision (the simulator's is the strategy's); asked
    about another treatment (reason_shown), DR would weight by the wrong probability and answer wrongly. A true
    propensity passes a necessary check: for every value v, sum over rows served v of 1/p estimates the number of
    rows (Horvitz-Thompson); off by more than 4 of its standard errors (and 5%), the column is of something else.
    """
    for value, group in cells.groupby(cells["value"].astype(str)):
        p, k = group["propensity"].to_numpy(float), group["n"].to_numpy(float)
        count = float((k / p).sum())
        spread = 4.0 * float(np.sqrt((k * (1.0 - p) / p**2).sum()))
        if abs(count - n) > max(spread, 0.05 * n):
            return (
                f"the log's propensity column is not P({treatment} | context): over the rows served {treatment}="
                f"{value} its inverse weights count {count:,.0f} rows of {n:,}; DR needs the probability that the "
                f"logger chose {treatment} (a log records one such column, here likely of another treatment)"
            )
    return None
