"""The replicates and policy_values tables: a run's rows round-trip, and a second write replaces, never appends."""

from __future__ import annotations

import numpy as np
import pandas as pd

import store
from causal.decide.policy import PolicyValue
from causal.decide.replicates import ReplicateSet, frame_of, replicate_sets
from causal.decide.run import PairReplicates
from tasks.store import store_replicates


def _pair(shift: float = 0.0) -> PairReplicates:
    rng = np.random.default_rng(1)
    means = rng.uniform(0.1, 0.5, size=(7, 3)) + shift
    means[2, 1] = np.nan  # a replicate whose structure did not identify the effect: stored as NULL
    sets = (
        ReplicateSet("strategy", "click", "random", "all", "all", 500, ("popular", "random", "zeta"), means),
        ReplicateSet("strategy", "click", "random", "act", "high", 200, ("popular", "random", "zeta"), means / 2),
    )
    value = PolicyValue("strategy", "click", "act", "dr", {"high": "popular"}, 0.3, 0.25, 0.35, 500)
    return PairReplicates(frame=frame_of(sets), policy_values=(value,))


def test_replicates_round_trip_and_rewrite_replaces(tmp_path):
    db = str(tmp_path / "r.duckdb")
    pair = _pair()
    assert store_replicates.fn(db, "run-a", (pair,)) == 2 * 7 * 3
    assert store_replicates.fn(db, "run-b", (_pair(0.1),)) == 42
    assert store_replicates.fn(db, "run-a", (pair,)) == 42  # the retried run: same rows once
    back = store.read_table(db, "replicates", run_id="run-a")
    assert len(back) == 42 and back["mean"].isna().sum() == 2
    sets = replicate_sets(back.drop(columns=["run_id"]))
    original = replicate_sets(pair.frame)
    assert [(s.segment, s.segment_value, s.n_rows, s.values) for s in sets] == [
        (s.segment, s.segment_value, s.n_rows, s.values) for s in original
    ]
    for got, want in zip(sets, original):
        np.testing.assert_array_equal(got.means, want.means)
    values = store.read_table(db, "policy_values")
    assert sorted(values.run_id) == ["run-a", "run-b"]
    assert values.policy.iloc[0] == '{"high": "popular"}' and values.estimate.iloc[0] == 0.3


def test_start_of_a_run_clears_its_replicates(tmp_path):
    db = str(tmp_path / "r.duckdb")
    store_replicates.fn(db, "run-a", (_pair(),))
    with store.connect(db) as con:  # what start_run does for every table of a run it starts again
        for table in store.TABLES:
            if table != "runs":
                store.replace_rows(con, table, pd.DataFrame(), "run-a")
    assert store.read_table(db, "replicates").empty and store.read_table(db, "policy_values").empty
