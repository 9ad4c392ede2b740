"""The pipeline's tasks on large logs: the network from DuckDB counts, scores and partitions streamed."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import causal
import store
from causal.config import CausalConfig
from causal.sim.simulator import SimulatorConfig, simulate
from sources import partitions
from tasks.causal import network_data, prepare_effects
from tasks.partition import select_partition
from tasks.refs import LogRef, ScoreRef
from tasks.store import store_scores

CONFIG = CausalConfig(treatment="strategy", baseline="random", n_bootstrap=20, progress=False)


@pytest.fixture(scope="module")
def scored_log(tmp_path_factory) -> Path:
    frame = simulate(SimulatorConfig(users=120, impressions=6000, seed=3)).log
    path = tmp_path_factory.mktemp("scored") / "scored.parquet"
    frame.assign(score=np.linspace(0.01, 0.99, len(frame)), split="train").to_parquet(path, index=False)
    return path


def test_the_task_learns_from_counts_and_answers_as_the_rows_do(scored_log: Path) -> None:
    cells = network_data(str(scored_log), CONFIG)
    assert isinstance(cells, causal.Discretized) and cells.weights is not None
    assert cells.weights.sum() == 6000 and len(cells.data) < 6000  # cells, each standing for its rows
    from_counts = prepare_effects.fn(str(scored_log), CONFIG)
    from_rows = causal.prepare_effects(pd.read_parquet(scored_log), CONFIG)
    assert from_counts.edges == from_rows.edges
    assert from_counts.identification.adjustment_set == from_rows.identification.adjustment_set
    np.testing.assert_allclose(from_counts.point_do, from_rows.point_do, rtol=0, atol=1e-12)
    np.testing.assert_allclose(from_counts.point_naive, from_rows.point_naive, rtol=0, atol=1e-12)
    # the bootstrap draws from the same cells either way, so the intervals are the same too
    a = causal.combine_effects(from_counts, [causal.bootstrap_chunk(from_counts, 0)])
    b = causal.combine_effects(from_rows, [causal.bootstrap_chunk(from_rows, 0)])
    for x, y in zip(a.estimates, b.estimates, strict=True):
        assert (x.method, x.estimand, x.treatment_value) == (y.method, y.estimand, y.treatment_value)
        if x.method == "bn_do":
            assert x.ci_low == pytest.approx(y.ci_low, abs=1e-12) and x.ci_high == pytest.approx(y.ci_high, abs=1e-12)


def test_resampling_rows_still_reads_the_rows(scored_log: Path) -> None:
    rows = network_data(str(scored_log), CausalConfig(treatment="strategy", resample="rows", progress=False))
    assert isinstance(rows, pd.DataFrame) and len(rows) == 6000


def test_scores_stream_into_the_store_and_a_retry_leaves_one_copy(scored_log: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ref = ScoreRef(scored_path=str(scored_log), backbone="tiny", metrics={"auc_val": 0.7, "seconds": 1.0})
    assert store_scores.fn(str(db), "run-a", ref) == 6000
    assert store_scores.fn(str(db), "run-a", ref) == 6000  # a retried task replaces, never duplicates
    with store.connect(db, read_only=True) as con:
        n, total = con.execute("SELECT count(*), sum(score) FROM scores WHERE run_id = 'run-a'").fetchone()
        metrics = dict(con.execute("SELECT split || '/' || metric, value FROM scorer_metrics").fetchall())
    assert n == 6000 and total == pytest.approx(pd.read_parquet(scored_log)["score"].sum())
    assert metrics == {"val/auc": 0.7, "all/seconds": 1.0}


def _log_folder(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Three part files, days spread over them, a few rows with no parseable time."""
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    rows = []
    for i in range(900):
        ts = f"{days[(i * 7) % 3]}T{i % 24:02d}:00:00Z" if i % 50 else "not a time"
        rows.append({"event_id": f"e{i:04d}", "ts": ts, "click": i % 2, "position": i % 3})
    frame = pd.DataFrame(rows)
    folder = tmp_path / "log"
    folder.mkdir()
    for k in range(3):
        frame.iloc[k * 300 : (k + 1) * 300].to_parquet(folder / f"part-{k:05d}.parquet", index=False)
    return folder, frame


def test_a_partition_is_copied_batch_by_batch_in_order_with_its_types(tmp_path: Path) -> None:
    folder, frame = _log_folder(tmp_path)
    log = LogRef(path=str(folder), n_rows=900, data_hash="h", source="table:log", notes="")
    part = select_partition.fn(log, "2024-03-02")
    expected = partitions.select(frame, "2024-03-02")
    got = pd.read_parquet(part.path)
    pd.testing.assert_frame_equal(got, expected)
    assert (
        pq.read_schema(part.path).field("position").type
        == pq.read_schema(folder / "part-00000.parquet").field("position").type
    )
    assert part.n_rows == len(expected) and f"partition 2024-03-02: {len(expected)} of 900 rows" in part.notes
    assert "18 rows have no parseable ts" in part.notes
    # small batches cross the file and batch edges: the same rows
    small = partitions.select_to_file([str(p) for p in sorted(folder.iterdir())], "2024-03-02", tmp_path / "s.pq", 7)
    assert asdict(small) == {"n_kept": len(expected), "n_rows": 900, "n_undated": 18, "n_partitions": 1}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.pq"), expected)


def test_pooling_keeps_every_partition_from_since_to_the_partition(tmp_path: Path) -> None:
    folder, frame = _log_folder(tmp_path)
    files = [str(p) for p in sorted(folder.iterdir())]
    days = partitions.partition_of(frame)
    expected = frame[days.isin(["2024-03-01", "2024-03-02"])].reset_index(drop=True)
    found = partitions.select_to_file(files, "2024-03-02", tmp_path / "p.pq", 7, since="2024-03-01")
    assert (found.n_kept, found.n_partitions, found.n_undated) == (len(expected), 2, 18)  # undated rows stay out
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "p.pq"), expected)
    # the run is of its partition: one without rows is refused even when the earlier days have some
    with pytest.raises(partitions.PartitionError, match="partition '2024-03-05' has no rows"):
        partitions.select_to_file(files, "2024-03-05", tmp_path / "q.pq", since="2024-03-01")
    assert not (tmp_path / "q.pq").exists()
    with pytest.raises(partitions.PartitionError, match="since 2024-03-03 is after partition 2024-03-02"):
        partitions.select_to_file(files, "2024-03-02", tmp_path / "r.pq", since="2024-03-03")


def test_a_missing_partition_names_the_days_there_are(tmp_path: Path) -> None:
    folder, frame = _log_folder(tmp_path)
    files = [str(p) for p in sorted(folder.iterdir())]
    assert partitions.dated_partitions(files, batch_rows=64) == partitions.partitions_in(frame)
    with pytest.raises(partitions.PartitionError, match=r"holds \['2024-03-01', '2024-03-02', '2024-03-03'\]"):
        partitions.select_to_file(files, "2024-04-01", tmp_path / "none.parquet")
    assert not (tmp_path / "none.parquet").exists()


def test_a_log_without_a_date_column_cannot_be_partitioned(tmp_path: Path) -> None:
    pd.DataFrame({"event_id": ["a"], "click": [1]}).to_parquet(tmp_path / "x.parquet", index=False)
    with pytest.raises(partitions.PartitionError, match=r"has \['click', 'event_id'\]"):
        partitions.dated_partitions([str(tmp_path / "x.parquet")])


def test_off_policy_from_a_thin_logged_arm_is_withheld_with_the_reason(tmp_path, obd_log):
    """1,500 random rows hold 4 clicks: every off-policy row says so instead of an interval from 4 clicks."""
    from causal.config import OffPolicyConfig
    from causal.policy.estimators import OPE_METHODS
    from tasks.causal import evaluate_target_policy
    from tests.conftest import OBD

    log = obd_log.groupby("policy", group_keys=False).head(1500)
    path = tmp_path / "scored.parquet"
    log.to_parquet(path, index=False)
    config = OffPolicyConfig(prior=str(OBD / "bts_prior.yaml"))
    rows = evaluate_target_policy.fn(str(path), config, CausalConfig(treatment="policy", outcome="click"))
    assert [r.method for r in rows] == [*OPE_METHODS, "bn_policy"]
    for row in rows:
        assert np.isnan(row.estimate) and np.isnan(row.ci_low) and row.n_rows == 1500
        assert row.explanation.startswith("off-policy evaluation from the random log: the logged policy policy=random")
        assert "4 with click=1" in row.explanation
