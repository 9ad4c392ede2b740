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
