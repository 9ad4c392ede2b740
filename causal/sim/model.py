"""The simulator's named values and assignment mechanisms: strategies, activity, outcomes, logging policy, reason."""

from __future__ import annotations

import numpy as np

STRATEGIES: tuple[str, ...] = ("popular", "collaborative", "content", "random")
ACTIVITY: tuple[str, ...] = ("low", "mid", "high")
OUTCOMES: tuple[str, ...] = ("click", "returned")

# π_A: the confounded part of the logging policy (rows: low, mid, high activity; columns: STRATEGIES)
_POLICY_BY_ACTIVITY = np.array(
    [
        [0.70, 0.10, 0.10, 0.10],
        [0.25, 0.25, 0.25, 0.25],
        [0.05, 0.50, 0.35, 0.10],
    ]
)


def logging_policy(confounding: float) -> np.ndarray:
    """π(strategy | activity) as a (3 activity × 4 strategy) array, rows in ACTIVITY order, columns in STRATEGIES."""
    return (1.0 - confounding) / len(STRATEGIES) + confounding * _POLICY_BY_ACTIVITY


def reason_probability(reason_confounding: float) -> np.ndarray:
    """P(reason_shown = 1 | activity) in ACTIVITY order."""
    return 0.5 + 0.4 * reason_confounding * np.array([-1.0, 0.0, 1.0])


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function σ, elementwise."""
    return 1.0 / (1.0 + np.exp(-x))


# π_T: the taste part of the logging policy under ``taste_following`` (rows: the catalogue's taste buckets by
# rank, most common genre first and "other" last; columns: STRATEGIES). The two tastes that click most (ranks 0
# and 1) are sent to collaborative/content and to popular, the two that click least to random, so hiding taste
# inflates every strategy-vs-random contrast (bn_do with taste hidden: +0.03 to +0.05 at λ = 0.5, 50k rows).
_POLICY_BY_TASTE = np.array(
    [
        [0.05, 0.45, 0.45, 0.05],
        [0.60, 0.15, 0.15, 0.10],
        [0.20, 0.20, 0.20, 0.40],
        [0.15, 0.10, 0.10, 0.65],
    ]
)
# θ_C: click logit of each taste bucket by rank (times ``taste_click_effect``), only when taste_following > 0
_TASTE_CLICK = np.array([0.5, 0.5, -0.2, -0.8])


def taste_rank(taste: np.ndarray, buckets: tuple[str, ...]) -> np.ndarray:
    """Each user's taste bucket as its rank in `buckets` (the catalogue's buckets, "other" last); (N,) int."""
    rank = {name: k for k, name in enumerate(buckets)}
    # "other" always takes the last row, however many common genres the data had
    return np.array([len(_TASTE_CLICK) - 1 if t == "other" else rank[t] for t in taste], dtype=np.int64)


def taste_click(rank: np.ndarray, effect: float) -> np.ndarray:
    """θ_C of each user: the taste term of the click logit; (N,)."""
    return effect * _TASTE_CLICK[rank]


def user_policy(
    act: np.ndarray, rank: np.ndarray, confounding: float, taste_following: float, allocation: np.ndarray | None
) -> np.ndarray:
    """π(strategy | user) as (N, S): (1 − λ)·π(· | activity) + λ·π_T(· | taste), λ = taste_following.

    An `allocation` (3 activity × S) replaces the whole assignment: the strategy is drawn from its row.
    """
    if allocation is not None:
        return allocation[act]
    by_activity = logging_policy(confounding)[act]
    if taste_following == 0:
        return by_activity  # the log before taste_following existed, bit for bit
    return (1.0 - taste_following) * by_activity + taste_following * _POLICY_BY_TASTE[rank]


def allocation_array(allocation: object) -> np.ndarray:
    """An allocation as a (3 activity × S) array of probabilities; a mapping activity -> {strategy: prob} or an array.

    Strategies a mapping leaves out get probability 0; every row must sum to 1.
    """
    if isinstance(allocation, dict):
        unknown = sorted(set(map(str, allocation)) - set(ACTIVITY))
        missing = sorted(set(ACTIVITY) - set(map(str, allocation)))
        if unknown or missing:
            raise ValueError(
                f"allocation must have one row per activity {list(ACTIVITY)}; unknown {unknown}, missing {missing}"
            )
        rows = []
        for a in ACTIVITY:
            row = dict(allocation[a])
            bad = sorted(set(map(str, row)) - set(STRATEGIES))
            if bad:
                raise ValueError(f"allocation[{a!r}] names {bad}, not strategies; use keys among {list(STRATEGIES)}")
            rows.append([float(row.get(s, 0.0)) for s in STRATEGIES])
        allocation = rows
    arr = np.asarray(allocation, dtype=np.float64)
    if arr.shape != (len(ACTIVITY), len(STRATEGIES)):
        raise ValueError(
            f"allocation must be {len(ACTIVITY)} x {len(STRATEGIES)} (activity x strategy); got {arr.shape}"
        )
    if not np.isfinite(arr).all() or (arr < 0).any() or not np.allclose(arr.sum(axis=1), 1.0, atol=1e-9):
        raise ValueError(
            f"allocation rows must be probabilities summing to 1; got row sums {arr.sum(axis=1).round(6).tolist()}; "
            "normalise each activity's row"
        )
    return arr


def item_probability(
    served: np.ndarray, pools: dict[str, np.ndarray], n_unseen: np.ndarray, u_of: np.ndarray, item: np.ndarray
) -> np.ndarray:
    """P(item[m] | user u_of[m]) under each impression's strategy distribution `served` (M, S); (M,).

    Σ_s π(s | u)·P(item | s, u): uniform 1/k on each strategy's top-k pool (pools may overlap) and 1/n_unseen
    for random. `pools` are (N, k) per user and `n_unseen` (N,) counts each user's unrated items.
    """
    prob = served[:, STRATEGIES.index("random")] / n_unseen[u_of]
    for name, pool in pools.items():
        in_pool = (pool[u_of] == item[:, None]).any(axis=1)
        prob = prob + served[:, STRATEGIES.index(name)] * in_pool / pool.shape[1]
    return prob
