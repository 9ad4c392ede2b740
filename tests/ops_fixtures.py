"""Shared pieces of the operations tests (issue 6): a week of simulated log, light run settings, DuckDB reads."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

WEEK = [f"2024-03-0{d}" for d in range(1, 8)]
# A few hundred rows per partition, one pair, few replicates: each run takes seconds here.
LIGHT = dict(
    treatments=["strategy"],
    outcomes=["click"],
    baselines={"strategy": "random"},
    n_bootstrap=10,
    max_epochs=1,
    batch_size=128,
    off_policy=False,
    progress=False,
    io_retry_delay_s=0.5,
)


@pytest.fixture(scope="session")
def week_log(tmp_path_factory) -> Path:
    """2,800 simulated impressions over 2024-03-01..07 (a `partition` column, ~400 rows a day)."""
    from causal.simulator import SimulatorConfig, simulate

    sim = simulate(SimulatorConfig(users=200, impressions=2800, seed=0, days=7))
    path = tmp_path_factory.mktemp("week") / "week.parquet"
    sim.log.to_parquet(path, index=False)
    return path


def query(db: str | Path, sql: str, args: tuple = ()) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(args)).df()
    finally:
        con.close()


def row_counts(db: str | Path) -> dict[str, int]:
    import store

    return {t: int(query(db, f"SELECT count(*) n FROM {t}").n[0]) for t in store.TABLES}
