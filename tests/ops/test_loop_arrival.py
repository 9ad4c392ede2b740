"""The closed loop in the on-new-data flow: each partition's run reads the allocation before and writes the next."""

from __future__ import annotations

import json

import pytest

from causal.decide.allocation import SCHEMA
from flows.arrival import on_new_data
from flows.params import PipelineParams
from tests.helpers import LIGHT, query


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    """1,500 simulated impressions on each of 2024-03-01 and 02: every strategy arm has clicks in every activity."""
    from causal.sim.simulator import SimulatorConfig, simulate

    log = simulate(SimulatorConfig(users=200, impressions=3000, seed=0, days=2)).log
    path = tmp_path_factory.mktemp("loop") / "days.parquet"
    log.to_parquet(path, index=False)
    return path


def test_two_arrivals_chain_their_allocations(prefect_server, two_days, tmp_path):
    db, work = str(tmp_path / "r.duckdb"), str(tmp_path / "work")
    params = PipelineParams(**LIGHT)
    path = tmp_path / "work" / "allocation" / "strategy.json"
    first = on_new_data(file=str(two_days), partition="2024-03-01", db=db, work_dir=work, params=params)
    one = json.loads(path.read_text())
    assert (one["schema"], one["run_id"], one["previous_run_id"]) == (SCHEMA, first.run_id, None)

    second = on_new_data(file=str(two_days), partition="2024-03-02", db=db, work_dir=work, params=params)
    two = json.loads(path.read_text())
    assert second.run_id != first.run_id
    assert (two["run_id"], two["previous_run_id"]) == (second.run_id, first.run_id)  # the loop's chain
    assert (two["treatment"], two["outcome"], two["floor"]) == ("strategy", "click", 0.05)
    stored = set(
        query(db, "SELECT DISTINCT segment_value FROM replicates WHERE run_id = ?", (second.run_id,)).iloc[:, 0]
    )
    assert set(two["allocation"]) <= stored and two["allocation"]  # keyed by the run's segment values
    for row in [*two["allocation"].values(), two["default"]]:
        assert set(row) == {"popular", "collaborative", "content", "random"}
        assert sum(row.values()) == pytest.approx(1.0, abs=1e-12)
        assert min(row.values()) >= 0.05 / 4 - 1e-12  # the floor keeps every strategy logged
    assert not list(path.parent.glob(".*.tmp"))  # written by write-then-rename, nothing left behind

    # The same partition again (a retried event): the same run id, and its file still follows the first run's.
    again = on_new_data(file=str(two_days), partition="2024-03-02", db=db, work_dir=work, params=params)
    assert again.run_id == second.run_id
    assert json.loads(path.read_text())["previous_run_id"] == first.run_id

    # A named file that is no allocation fails the run before any work, and leaves the good one alone.
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "other"}')
    with pytest.raises(ValueError, match=r"bad.json is not one allocation of schema 'recdo.allocation/1'"):
        on_new_data(
            file=str(two_days), partition="2024-03-02", db=db, work_dir=work, allocation=str(bad), params=params
        )
    assert json.loads(path.read_text())["run_id"] == second.run_id
    runs = query(db, "SELECT count(*) n FROM runs")
    assert int(runs.n[0]) == 2  # the refused arrival started no run

    # Pooled: the second day with the first (pool_since). The previous allocation was keyed by the run's segment,
    # which the pooled network adjusts for, so the pooled run decides: twice the rows, one more link of the chain.
    pooled = on_new_data(
        file=str(two_days), partition="2024-03-02", pool_since="2024-03-01", db=db, work_dir=work, params=params
    )
    three = json.loads(path.read_text())
    assert pooled.run_id not in (first.run_id, second.run_id)
    assert pooled.n_in == first.n_in + second.n_in == 3000  # both days' rows, validated once
    assert (three["run_id"], three["previous_run_id"]) == (pooled.run_id, second.run_id)
    assert three["segment_column"] in pooled.adjustment_set  # what made the pooling allowed
    stored = query(db, "SELECT params FROM runs WHERE run_id = ?", (pooled.run_id,))
    assert json.loads(stored.params[0])["pool_since"] == "2024-03-01"
