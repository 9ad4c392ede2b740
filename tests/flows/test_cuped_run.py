"""A real `recdo run --partition D` of a user-randomised day stores CUPED rows beside its plain A/B rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.cuped import PRE_OFFSET, experiment
from causal.sim.simulator import DEFAULT_DATA, SimulatorConfig, simulate
from tests.helpers import query

DAY1, DAY2 = "2024-03-01", "2024-03-02"
IMPRESSIONS = 10_000  # per day, over all 610 users: enough clicks for every arm's ab_diff row


def run_log(db) -> str:
    """The messages the run's flow and tasks logged, as the Prefect API holds them."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # logs go to the API in the background: send what is queued first
    flow_run_id = UUID(query(db, "SELECT flow_run_id FROM runs").flow_run_id.iloc[0])
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return "\n".join(log.message for log in logs)


def test_a_partition_run_stores_cuped_rows_beside_the_ab_rows(prefect_server, tmp_path):
    from recdo.cli import main

    pre = simulate(SimulatorConfig(impressions=IMPRESSIONS, seed=1 + PRE_OFFSET, days=1)).log  # day 1: logging policy
    users = pd.Index(sorted(pre.user_id.unique()), name="user_id")
    day2, truth = experiment(1, IMPRESSIONS, DEFAULT_DATA, users)  # day 2: each user one strategy (bench/cuped.py)
    start = pd.Timestamp(DAY2, tz="UTC")
    day2 = day2.assign(ts=start + (day2.ts - day2.ts.dt.floor("D")), partition=DAY2)
    data = tmp_path / "log.parquet"
    pd.concat([pre, day2], ignore_index=True).to_parquet(data, index=False)

    db, work = tmp_path / "r.duckdb", tmp_path / "work"
    argv = ["run", "--data", str(data), "--db", str(db), "--work-dir", str(work), "--backbone", "tiny-bert"]
    argv += ["--treatment", "strategy", "--outcome", "click", "--baseline", "random", "--bootstrap", "20"]
    argv += ["--user-history", "none", "--partition", DAY2, "--epochs", "1", "--retry-delay", "0", "--no-progress"]
    assert main(argv) == 0
    said = run_log(db)
    assert "cuped: strategy on click_per_user vs random over 610 users, pre-period 2024-03-01" in said, said

    rows = query(db, "SELECT * FROM interventions WHERE estimand = 'ate' ORDER BY method, treatment_value")
    ab, cuped = rows[rows.method == "ab_diff"], rows[rows.method == "cuped"]
    assert sorted(cuped.treatment_value) == sorted(ab.treatment_value) == sorted(truth)
    assert set(cuped.outcome) == {"click_per_user"} and set(ab.outcome) == {"click"}
    assert set(cuped.baseline_value) == set(ab.baseline_value) == {"random"}
    assert set(cuped.partition) == {DAY2} and cuped.run_id.nunique() == 1 == ab.run_id.nunique()
    assert set(cuped.run_id) == set(ab.run_id)
    for row in cuped.itertuples():
        d = json.loads(row.diagnostics)
        assert {"theta", "variance_reduction", "plain_low", "plain_high", "width_ratio"} <= set(d)
        assert d["width_ratio"] == pytest.approx((row.ci_high - row.ci_low) / (d["plain_high"] - d["plain_low"]))
        assert (d["pre_period"], d["n_t"] + d["n_c"]) == (DAY1, row.n_rows)
        assert d["plain_low"] < row.estimate < d["plain_high"]
        assert d["width_ratio"] < 1 and row.ci_low <= truth[row.treatment_value] <= row.ci_high
