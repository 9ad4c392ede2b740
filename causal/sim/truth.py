"""The simulator's exact interventional truth: E[outcome | do(treatment = v)] and ATEs, from probabilities only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from causal.sim.model import OUTCOMES, STRATEGIES, sigmoid


@dataclass(frozen=True)
class TruthRow:
    """One exact interventional quantity, in the shape of the interventions table."""

    treatment: str
    treatment_value: str
    baseline_value: str | None
    outcome: str
    estimand: Literal["interventional_mean", "ate"]
    value: float


def exact_truth(
    p_imp: np.ndarray,
    a_of: np.ndarray,
    ret_base: np.ndarray,
    rho: np.ndarray,
    pi: np.ndarray | None,
    *,
    n_positions: int,
    click_on_return: float,
    policy: np.ndarray | None = None,
) -> tuple[TruthRow, ...]:
    """Exact E[Y | do(X=v)] averaged over the impressions' contexts; p_imp is (M, S, P, R) click probabilities.

    `a_of` is each impression's activity index, `ret_base` its returned logit without the click, `rho` is
    P(reason_shown = 1 | activity) and `pi` the logging policy; slots are uniform over `n_positions`.
    `policy` (M, S), when given, is each impression's own π(strategy | user) and takes the place of pi[a_of]
    (the logging policy follows more than activity under taste_following or an allocation).

    Exact truth.  For treatment X ∈ {strategy, reason_shown} and value v, the simulator forces X = v for
    every impression and averages the *probabilities* — never sampled outcomes — over the same impression
    contexts (the impression's user; the item draw, slot and, for do(strategy), the reason are integrated
    out exactly with their known distributions; for do(reason_shown) the strategy is integrated over π):

        E[C | do(X=v)] = (1/M) Σ_m E[C | do(X=v), u_m],   E[Y | do(X=v)] likewise (linear in P(C=1)).

    This is exact for the simulated population (the M impressions' users), which is what an estimator run
    on the log targets; no estimator is involved.  ATE rows are differences of these means against
    baseline ``random`` (strategy) and 0 (reason_shown).
    """
    p_pos = np.full(n_positions, 1.0 / n_positions)
    q0, q1 = sigmoid(ret_base), sigmoid(ret_base + click_on_return)  # P(returned | click=0/1), (M,)
    p_reason = np.stack([1.0 - rho[a_of], rho[a_of]], axis=1)  # (M, 2) under the logging mechanism
    per_strategy = np.einsum("msrp,p,mr->ms", p_imp.transpose(0, 1, 3, 2), p_pos, p_reason)  # (M, S)
    pi_imp = pi[a_of] if policy is None else policy  # (M, S)
    per_reason = np.einsum("msrp,p,ms->mr", p_imp.transpose(0, 1, 3, 2), p_pos, pi_imp)  # (M, 2)
    rows: list[TruthRow] = []
    for treatment, values, probs, baseline in (
        ("strategy", STRATEGIES, per_strategy, "random"),
        ("reason_shown", ("0", "1"), per_reason, "0"),
    ):
        means = {}
        for outcome in OUTCOMES:
            for j, v in enumerate(values):
                pc = probs[:, j]
                value = float(pc.mean() if outcome == "click" else (q0 + (q1 - q0) * pc).mean())
                means[(outcome, v)] = value
                rows.append(TruthRow(treatment, v, None, outcome, "interventional_mean", value))
            for v in values:
                if v != baseline:
                    ate = means[(outcome, v)] - means[(outcome, baseline)]
                    rows.append(TruthRow(treatment, v, baseline, outcome, "ate", ate))
    return tuple(rows)
