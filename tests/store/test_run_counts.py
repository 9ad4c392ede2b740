"""The gate's row counts land in `runs`, its quarantine streams into DuckDB, and older databases gain the columns."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import store
from expectations import GateConfig
from tests.expectations.synthetic_log import CONFIG, write_log

OLD_RUNS = """
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY, flow_run_id VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
    status VARCHAR, params JSON, data_hash VARCHAR, code_version VARCHAR, source VARCHAR, message VARCHAR
);
INSERT INTO runs (run_id, status) VALUES ('old', 'completed');
"""
COUNTS = "SELECT rows_in, rows_processed, rows_quarantined FROM runs WHERE run_id = ?"


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 rows in 3 part files, 18 of them quarantined by the gate."""
    return write_log(tmp_path_factory.mktemp("log") / "log", n_rows=20_000, n_files=3)[0].parent


def test_store_validation_records_the_counts_and_replaces_the_quarantine(log_folder: Path, tmp_path: Path) -> None:
    from tasks.refs import LogRef
    from tasks.store import start_run, store_validation
    from tasks.validate import validate_log

    db = str(tmp_path / "r.duckdb")
    log = LogRef(path=str(log_folder), n_rows=20_000, data_hash="h", source="synthetic", notes="")
    start_run.fn(db, "r1", {}, log, None)
    gate = validate_log.fn(str(log_folder), CONFIG, str(tmp_path / "run"), "r1")
    assert store_validation.fn(db, "r1", gate) == gate.n_quarantined == 18
    assert store_validation.fn(db, "r1", gate) == 18  # a retry replaces the run's rows
    with store.connect(db) as con:
        assert con.execute(COUNTS, ["r1"]).fetchone() == (20_000, 19_982, 18)
        rows = con.execute("SELECT row_number, rule, row_json FROM quarantine ORDER BY row_number").fetchall()
        assert len(rows) == 18 and rows[0][:2] == (500, "user_id not null")
        assert json.loads(rows[0][2])["user_id"] is None
        assert con.execute("SELECT count(*) FROM validation_results WHERE run_id = 'r1'").fetchone()[0] > 0

    start_run.fn(db, "r1", {}, log, None)  # a rerun starts without the last attempt's counts and rows
    with store.connect(db) as con:
        assert con.execute(COUNTS, ["r1"]).fetchone() == (None, None, None)
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


def test_an_empty_quarantine_is_stored_as_no_rows(tmp_path: Path) -> None:
    from tasks.store import store_validation
    from tasks.validate import validate_log

    clean = write_log(tmp_path / "log", n_rows=400, n_files=2)[0].parent  # the first bad row is row 500
    gate = validate_log.fn(str(clean), GateConfig(treatment="strategy"), str(tmp_path / "run"), "r2")
    assert store_validation.fn(str(tmp_path / "r.duckdb"), "r2", gate) == 0
    with store.connect(tmp_path / "r.duckdb") as con:
        assert con.execute(COUNTS, ["r2"]).fetchone() == (400, 400, 0)


def test_a_database_made_before_the_counts_gains_their_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(OLD_RUNS)
    for _ in range(2):  # idempotent: every later connection runs the schema again
        with store.connect(db) as con:
            assert con.execute(COUNTS, ["old"]).fetchone() == (None, None, None)
    with store.connect(db) as con:
        store.upsert_run(con, "old", rows_in=10, rows_processed=9, rows_quarantined=1)
        assert con.execute(COUNTS, ["old"]).fetchone() == (10, 9, 1)
        assert con.execute("SELECT status FROM runs WHERE run_id = 'old'").fetchone() == ("completed",)
