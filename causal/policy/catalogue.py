"""The scorer's own policies over the logged catalogue (greedy, softmax) valued off-policy from item propensities."""

# A log that records each impression's item-level propensity (the logger's P(item | user), e.g. the simulator's
# `item_propensity`) can value any policy over items. The two asked of the scorer are the ones a team would ship
# from it: greedy (each user context gets its highest-scored item) and softmax (items drawn with probability
# proportional to exp(logit / temperature)). A policy can depend on a user only through what the scorer sees of
# them (the user context), so the (N, I) matrices of causal.policy.item_level are (G contexts, I items) here.
# MIPS's cluster weights need the logger's P(cluster | context): the log's own cluster shares per context, a
# consistent estimate; IPW's item weights use the recorded propensities themselves.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from causal.policy.estimators import PolicyEstimate
from causal.policy.item_level import ITEM_METHODS, evaluate_items
from causal.policy.item_support import ItemLevelLog
from causal.policy.text_reward import ScoreItemRewardModel
from causal.values import Estimate

TREATMENT = "item_policy"  # the `treatment` of the rows: a policy over items, not a column of the log
TEMPERATURE = 0.5  # softmax target: exp(logit / 0.5), as bench/text_causal.py's softmax_text


@dataclass(frozen=True)
class ScoredCatalogue:
    """The scorer's P(outcome) for each (context, item), each item's cluster and what the clusters came from."""

    scores: np.ndarray  # (G, I)
    clusters: np.ndarray  # (I,) int
    cluster_basis: str


def scorer_targets(scores: np.ndarray, temperature: float = TEMPERATURE) -> dict[str, np.ndarray]:
    """{"greedy_scorer": one-hot argmax per context, "softmax_scorer": softmax(logit(score) / temperature)}."""
    s = np.clip(np.asarray(scores, dtype=float), 1e-9, 1 - 1e-9)
    greedy = np.zeros_like(s)
    greedy[np.arange(s.shape[0]), s.argmax(axis=1)] = 1.0
    z = (np.log(s) - np.log1p(-s)) / temperature
    z -= z.max(axis=1, keepdims=True)
    soft = np.exp(z)
    return {"greedy_scorer": greedy, "softmax_scorer": soft / soft.sum(axis=1, keepdims=True)}


def logged_cluster_shares(log: ItemLevelLog, clusters: np.ndarray, n_contexts: int) -> np.ndarray:
    """(G, C) share of each context's logged rows in each cluster: the logger's P(cluster | context), estimated."""
    n_c = int(clusters.max()) + 1
    counts = np.bincount(log.user * n_c + clusters[log.item], minlength=n_contexts * n_c).reshape(n_contexts, n_c)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def catalogue_values(
    log: ItemLevelLog,
    catalogue: ScoredCatalogue,
    outcome: str,
    *,
    ci_level: float = 0.95,
    seed: int = 0,
    methods: Sequence[str] = ITEM_METHODS,
) -> tuple[Estimate, ...]:
    """`interventions` rows: each target's value by each estimator, reward model = the scorer (cross-fitted Platt).

    A row without a number (a support failure, a self-normalised 0/0) says why in `explanation`; the diagnostics
    carry the weights' effective sample size, support in item and cluster space, and how the clusters were made.
    """
    scores = np.asarray(catalogue.scores, dtype=float)
    q_logged, predict = ScoreItemRewardModel(scores).fit_predict_folds(log, n_folds=2, seed=seed)
    shares = logged_cluster_shares(log, catalogue.clusters, scores.shape[0])
    n_g, n_i = scores.shape
    never = np.bincount(log.user * n_i + log.item, minlength=n_g * n_i).reshape(n_g, n_i) == 0
    rows: list[Estimate] = []
    for name, target in scorer_targets(scores).items():
        # The logger's item support per user is not in the log (only P at the logged item): items never logged in
        # a context are the visible part of what IPW's weights cannot see.
        unlogged = float((target * never).sum(axis=1)[log.user].mean())
        found = evaluate_items(
            log,
            target,
            q_logged=q_logged,
            q_target=predict(target),
            clusters=catalogue.clusters,
            logging_clusters=shares,
            methods=methods,
            alpha=1 - ci_level,
        )
        numbers = [e.estimate for e in found.values() if np.isfinite(e.estimate) and 0 <= e.estimate <= 1]
        # How far the estimators are apart: where the target leaves the logger's support they answer different
        # questions (the weights see nothing there, the model extrapolates), and the spread is the visible sign.
        spread = float(max(numbers) - min(numbers)) if len(numbers) > 1 else float("nan")
        for method, e in found.items():
            diagnostics = {k: v for k, v in e.diagnostics.items() if k != "explanation"}
            diagnostics.update(
                target=name,
                reward_model="the run's scorer, Platt-calibrated on held-out folds (2-fold cross-fit)",
                logging_clusters="each context's logged cluster shares (estimated)",
                cluster_basis=catalogue.cluster_basis,
                n_contexts=int(scores.shape[0]),
                share_of_target_mass_on_items_never_logged_in_the_context=unlogged,
                spread_of_the_estimators=spread,
                item_support_assumption=(
                    "IPW, SNIPW and MIPS assume the target serves each user only items the logger could have "
                    "shown them (the log holds the logger's P only at the logged item, so this is not checked); "
                    "DM, DR and SNDR cover the rest with the scorer's predictions"
                ),
            )
            rows.append(_row(name, method, e, outcome, diagnostics))
    return tuple(rows)


def _row(target: str, method: str, e: PolicyEstimate, outcome: str, diagnostics: dict) -> Estimate:
    """One `interventions` row; a value outside [0, 1] for a 0/1 outcome is withheld with the reason."""
    explanation = e.diagnostics.get("explanation")
    estimate, low, high = e.estimate, e.ci_low, e.ci_high
    if explanation is None and np.isfinite(estimate) and not 0 <= estimate <= 1:
        explanation = (
            f"{method} gave {estimate:.4g}, outside [0, 1] for a rate: its weights (max "
            f"{diagnostics.get('max_weight', float('nan')):.3g}, ESS {diagnostics.get('ess', float('nan')):.0f} of "
            f"{e.n_rows}) multiply the reward model's errors beyond what the log supports; read the rows that agree"
        )
        estimate = low = high = float("nan")
    return Estimate(
        treatment=TREATMENT,
        treatment_value=target,
        baseline_value=None,
        outcome=outcome,
        estimand="interventional_mean",
        method=method,  # type: ignore[arg-type]  # the item estimators' names are Method values
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        n_rows=e.n_rows,
        adjustment_set=(),
        diagnostics=diagnostics,
        explanation=explanation,
    )
