"""A confounded click-log simulator (segment -> policy, segment -> click, policy -> click) with exact truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ConfoundedLog:
    """User segment U drives both which policy served the row and the click; the policy drives the click.

    The defaults make the naive difference in click rates 2.5 times the true effect.
    """

    p_segment: dict[str, float] = field(default_factory=lambda: {"s0": 0.5, "s1": 0.3, "s2": 0.2})
    p_new_given_segment: dict[str, float] = field(default_factory=lambda: {"s0": 0.2, "s1": 0.5, "s2": 0.8})
    p_click: dict[tuple[str, str], float] = field(  # P(click=1 | policy, segment)
        default_factory=lambda: {
            ("old", "s0"): 0.10,
            ("old", "s1"): 0.30,
            ("old", "s2"): 0.50,
            ("new", "s0"): 0.20,
            ("new", "s1"): 0.40,
            ("new", "s2"): 0.60,
        }
    )

    def __post_init__(self) -> None:
        total = sum(self.p_segment.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"p_segment must sum to 1; got {total!r}; rescale the probabilities")
        for segment in self.p_segment:
            if segment not in self.p_new_given_segment:
                raise ValueError(f"segment {segment!r} has no P(new | segment); add it to p_new_given_segment")
            for policy in ("old", "new"):
                if (policy, segment) not in self.p_click:
                    raise ValueError(f"P(click | {policy!r}, {segment!r}) is missing from p_click; add it")

    def interventional_mean(self, policy: str) -> float:
        """P(click=1 | do(policy)) = sum_u P(click=1 | policy, u) P(u) (back-door formula on the true graph)."""
        return sum(self.p_click[(policy, u)] * p for u, p in self.p_segment.items())

    def ate(self, value: str = "new", baseline: str = "old") -> float:
        return self.interventional_mean(value) - self.interventional_mean(baseline)

    def naive_limit(self, value: str = "new", baseline: str = "old") -> float:
        """E[click | value] - E[click | baseline] with infinite data: where an unadjusted comparison lands."""
        return self._observed_mean(value) - self._observed_mean(baseline)

    def _observed_mean(self, policy: str) -> float:
        weight = {
            u: p * (self.p_new_given_segment[u] if policy == "new" else 1 - self.p_new_given_segment[u])
            for u, p in self.p_segment.items()
        }
        total = sum(weight.values())
        return sum(self.p_click[(policy, u)] * w / total for u, w in weight.items())

    def simulate(self, n: int, seed: int) -> pd.DataFrame:
        """n impressions in the canonical log's shape (ids, a user feature, policy, click)."""
        rng = np.random.default_rng(seed)
        segments = np.array(list(self.p_segment))
        u = rng.choice(segments, size=n, p=list(self.p_segment.values()))
        p_new = np.array([self.p_new_given_segment[s] for s in u])
        t = np.where(rng.random(n) < p_new, "new", "old")
        p_click = np.array([self.p_click[(a, b)] for a, b in zip(t, u)])
        y = (rng.random(n) < p_click).astype(int)
        return pd.DataFrame(
            {
                "event_id": [f"e{i}" for i in range(n)],
                "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
                "user_id": [f"u{i}" for i in range(n)],  # an id, never a node
                "item_id": rng.integers(0, 5, size=n),
                "user_segment": u,
                "user_item_affinity": rng.random(n),  # user x item, not a feature of the user
                "policy": t,
                "click": y,
            }
        )
