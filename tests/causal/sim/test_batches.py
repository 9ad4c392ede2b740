"""The simulator in batches: a one-batch log as before batching, a long log the same whole or streamed to disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from causal.sim.batches import combine_truth
from causal.sim.simulator import BATCH_IMPRESSIONS, SimulatorConfig, simulate, simulate_to, write
from causal.sim.truth import TruthRow

DATA = Path(__file__).resolve().parents[3] / "data" / "ml-latest-small"
CONFIG = SimulatorConfig(users=60, impressions=1_500, seed=7)
# sha256 of these columns of CONFIG's log as CSV, and two truth values, from the simulator before batching
PINNED = "77133df1d6a9cba27728f11da6dded703b3b97d4564bba62a7d7e3d7fbd610a9"
PINNED_COLUMNS = ["event_id", "ts", "user_id", "item_id", "strategy", "position", "reason_shown", "click", "returned"]


def test_a_log_of_one_batch_is_the_log_of_before_batching():
    assert CONFIG.impressions <= BATCH_IMPRESSIONS
    sim = simulate(CONFIG, DATA)
    text = sim.log[PINNED_COLUMNS].astype(str).to_csv(index=False)
    assert hashlib.sha256(text.encode()).hexdigest() == PINNED
    assert sim.truth_value("strategy", "content") == pytest.approx(0.3582201033050877, rel=1e-12)
    assert sim.truth_value("reason_shown", "1", "returned") == pytest.approx(0.452248454319159, rel=1e-12)


@pytest.mark.slow
def test_streamed_log_and_truth_equal_the_log_made_whole(tmp_path):
    for batch in (400, 10_000):  # several batches, then one
        sim = simulate(CONFIG, DATA, batch_impressions=batch)
        out = simulate_to(CONFIG, tmp_path / str(batch), DATA, batch_impressions=batch)
        pd.testing.assert_frame_equal(pd.read_parquet(out.log_path), sim.log)
        assert out.truth == sim.truth and out.impressions == CONFIG.impressions
        naive = sim.log.groupby("strategy")["click"].mean()
        assert out.naive_click == pytest.approx(naive.to_dict())
    assert pq.ParquetFile(tmp_path / "400" / "log.parquet").metadata.num_row_groups == 4  # a row group a batch


@pytest.mark.slow
def test_batched_log_is_a_log_of_the_same_model():
    whole = simulate(CONFIG, DATA)
    log = simulate(CONFIG, DATA, batch_impressions=400).log
    assert len(log) == CONFIG.impressions and log["event_id"].is_unique
    assert list(log["event_id"].iloc[[0, -1]]) == ["sim7-0000000", "sim7-0001499"]
    assert log["ts"].is_monotonic_increasing and log["partition"].nunique() == CONFIG.days
    assert (log["partition"] == log["ts"].dt.strftime("%Y-%m-%d")).all()
    assert list(log.columns) == list(whole.log.columns) and (log.dtypes == whole.log.dtypes).all()
    assert set(log["user_id"]) <= set(whole.log["user_id"])  # the same sampled users, other draws
    again = simulate(CONFIG, DATA, batch_impressions=400)
    pd.testing.assert_frame_equal(again.log, log)
    # the seconds come from per-day counts, not from the batches: any batch size gives the same ts
    other = simulate(CONFIG, DATA, batch_impressions=700).log
    assert (other["ts"].to_numpy() == log["ts"].to_numpy()).all()


@pytest.mark.slow
def test_batched_truth_is_the_size_weighted_truth_of_the_batches():
    truth = simulate(CONFIG, DATA, batch_impressions=400).truth
    whole = simulate(CONFIG, DATA).truth
    for row, ref in zip(truth, whole):
        assert (row.treatment, row.treatment_value, row.estimand) == (ref.treatment, ref.treatment_value, ref.estimand)
        assert row.value == pytest.approx(ref.value, abs=0.02)  # other users drawn, the same population
    mean = {(r.treatment, r.treatment_value, r.outcome): r.value for r in truth if r.estimand == "interventional_mean"}
    for r in truth:
        if r.estimand == "ate":
            diff = mean[(r.treatment, r.treatment_value, r.outcome)] - mean[(r.treatment, r.baseline_value, r.outcome)]
            assert r.value == pytest.approx(diff, abs=1e-12)


def test_combine_truth_weights_by_batch_size():
    row = TruthRow("strategy", "content", None, "click", "interventional_mean", 0.0)
    parts = [(3, (TruthRow(**{**row.__dict__, "value": 0.2}),)), (1, (TruthRow(**{**row.__dict__, "value": 0.6}),))]
    (combined,) = combine_truth(parts)
    assert combined.value == pytest.approx(0.3) and combined.treatment_value == "content"
    assert combine_truth(parts[:1]) == parts[0][1]


def test_write_of_a_simulation_writes_row_groups_and_no_temporary_file(tmp_path):
    sim = simulate(CONFIG, DATA)
    log_path, truth_path = write(sim, tmp_path)
    pd.testing.assert_frame_equal(pd.read_parquet(log_path), sim.log)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.parquet", "truth.json"]
    assert np.isfinite([r["value"] for r in pd.read_json(truth_path).to_dict("records")]).all()


def test_batch_size_is_checked():
    with pytest.raises(ValueError, match=r"batch_impressions must be an integer >= 1; got 0"):
        simulate(CONFIG, DATA, batch_impressions=0)
