"""The simulator's exact per-segment truth: E[click | do(strategy), user_activity] and each activity's share of users.

`truth.exact_truth` averages over a log's sampled impressions; a closed loop compares allocations per segment,
so it needs the expectation itself: users are drawn uniformly from the sampled ones, so segment `a` holds the
share of users with activity `a`, and its do-mean is their average of the exact click probabilities with the
slot uniform and the reason drawn as the logging mechanism draws it for `a` (it never depends on the strategy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causal.sim.model import ACTIVITY, STRATEGIES, reason_probability
from causal.sim.simulator import SimulatorConfig, World


@dataclass(frozen=True, eq=False)
class SegmentTruth:
    """mu[a, s] = E[click | do(strategy = s), user_activity = a]; share[a] = P(user_activity = a)."""

    segments: tuple[str, ...]  # ACTIVITY order
    strategies: tuple[str, ...]  # STRATEGIES order
    share: np.ndarray  # (segments,) sums to 1
    mu: np.ndarray  # (segments, strategies)

    def best(self) -> dict[str, str]:
        """The oracle: each segment's truly best strategy."""
        return {a: self.strategies[int(np.argmax(row))] for a, row in zip(self.segments, self.mu)}

    def value(self, segment: str, strategy: str) -> float:
        return float(self.mu[self.segments.index(segment), self.strategies.index(strategy)])


def segment_truth(world: World, config: SimulatorConfig) -> SegmentTruth:
    """The exact per-activity do-means of the users in `world` (`simulator.sampled_world(config)`).

    Only `config.reason_confounding` matters here: slot and reason enter through `world.p_table`, and the
    strategy is set by do(), so neither the logging policy nor an allocation changes the answer.
    """
    p_table = world.p_table  # (N, S, P, R)
    rho = reason_probability(config.reason_confounding)[world.act]  # (N,) P(reason shown | the user's activity)
    p_reason = np.stack([1.0 - rho, rho], axis=1)  # (N, R)
    per_user = np.einsum("nspr,nr->ns", p_table, p_reason) / p_table.shape[2]  # (N, S), slots uniform
    n_users = len(world.act)
    share = np.array([(world.act == a).sum() / n_users for a in range(len(ACTIVITY))])
    empty = [ACTIVITY[a] for a in range(len(ACTIVITY)) if share[a] == 0]
    if empty:
        raise ValueError(
            f"activity {empty} has no sampled user, so its do-means are undefined; sample more users (users >= 3 "
            "covers every tercile only by chance; 100 or more does in practice)"
        )
    mu = np.stack([per_user[world.act == a].mean(axis=0) for a in range(len(ACTIVITY))])  # (A, S)
    return SegmentTruth(segments=ACTIVITY, strategies=STRATEGIES, share=share, mu=mu)
