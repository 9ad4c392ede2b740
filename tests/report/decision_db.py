"""A results database with one run's replicates of known best values, written through the store's writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import store
from causal.decide.replicates import ReplicateSet, frame_of
from causal.decide.run import PairReplicates, pair_policy_values
from tasks.store import store_replicates

RUN = "r1"
VALUES = ("a", "b", "c")
# P(click=1 | do(value)) per segment: b is best overall (c close behind: P(best) is split) and in 'high', c in 'low'.
MEANS = {("all", "all"): (0.10, 0.20, 0.19), ("act", "high"): (0.12, 0.30, 0.18), ("act", "low"): (0.08, 0.10, 0.14)}
ROWS = {"all": 1000, "high": 600, "low": 400}


def replicate_sets(withheld: bool = False, n: int = 40) -> tuple[ReplicateSet, ...]:
    """Replicates around MEANS; `withheld` leaves c without replicates in 'low' (no decision there)."""
    rng = np.random.default_rng(0)
    out = []
    for (segment, segment_value), means in MEANS.items():
        draws = np.column_stack([rng.normal(m, 0.01, n) for m in means])  # (replicates, values)
        if withheld and segment_value == "low":
            draws[:, 2] = np.nan
        out.append(ReplicateSet("strategy", "click", "a", segment, segment_value, ROWS[segment_value], VALUES, draws))
    return tuple(out)


def cells() -> pd.DataFrame:
    """The log counted for DR: every value served in each segment with propensity 1/3, clicks at MEANS' rates."""
    rows = []
    for (segment, segment_value), means in MEANS.items():
        if segment == "all":
            continue
        per_value = ROWS[segment_value] // 3
        for value, m in zip(VALUES, means):
            clicks = round(per_value * m)
            rows += [(segment_value, value, 1, 1 / 3, clicks), (segment_value, value, 0, 1 / 3, per_value - clicks)]
    return pd.DataFrame(rows, columns=["segment_value", "value", "y", "propensity", "n"])


def fill(db: Path, *, withheld: bool = False, with_replicates: bool = True) -> tuple[ReplicateSet, ...]:
    """A completed run RUN with the replicates (and segment-policy values) of `replicate_sets(withheld)`."""
    sets = replicate_sets(withheld)
    with store.connect(db) as con:
        store.upsert_run(con, RUN, status="completed", started_at=store.now(), finished_at=store.now(), params={})
    if with_replicates:
        values = pair_policy_values(sets, cells())
        store_replicates.fn(str(db), RUN, (PairReplicates(frame=frame_of(sets), policy_values=values),))
    return sets
