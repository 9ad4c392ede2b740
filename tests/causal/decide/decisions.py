"""A decision over three values "a", "b", "c" (baseline "a") from given replicate means: the decide tests' input."""

from __future__ import annotations

import numpy as np

from causal.decide.posterior import Decision, decide

VALUES = ("a", "b", "c")


def decision(means, segment: str = "all", segment_value: str = "all") -> Decision:
    """`decide` on replicate means of shape (B, 3), treatment t and outcome y."""
    return decide(
        np.asarray(means, dtype=float),
        VALUES,
        "a",
        treatment="t",
        outcome="y",
        segment=segment,
        segment_value=segment_value,
    )
