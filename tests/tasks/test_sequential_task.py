"""The `store sequential` task writes the run's looks once, however often it runs, and refuses an unknown run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import store
from store.sequential import read_sequential, sequential_rows
from tasks._retry import BAD_INPUT
from tasks.sequential import store_sequential
from tests.store.sequential_log import DAYS, fill_experiment

COLUMNS = ["treatment_value", "look", "partition", "n_rows", "estimate", "cs_low", "cs_high", "fixed_low", "fixed_high"]


def test_the_task_stores_the_runs_looks_and_a_retry_replaces_them(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill_experiment(db)
    run = f"r-{DAYS[2]}"
    assert store_sequential.fn(str(db), run) == 6  # two contrasts (content, popular vs random) at three looks
    assert store_sequential.fn(str(db), run) == 6
    with store.connect(db) as con:
        stored = read_sequential(con, run)
        expected = sequential_rows(con, run)
        assert con.execute("SELECT count(*) FROM sequential_looks").fetchone()[0] == 6
    # DuckDB reads INTEGER looks back as int32: the values, not the integer widths, are the contract.
    pd.testing.assert_frame_equal(stored[COLUMNS], expected[COLUMNS], check_dtype=False)
    assert stored.created_at.notna().all()


def test_an_unknown_run_is_a_bad_input_never_retried(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill_experiment(db, DAYS[:1])
    with pytest.raises(BAD_INPUT, match="run 'missing' is not in the runs table"):
        store_sequential.fn(str(db), "missing")
