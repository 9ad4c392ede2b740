"""DuckDB writes are idempotent per run id and go through one transaction."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import store


def _rows(n: int, value: float) -> pd.DataFrame:
    return pd.DataFrame({"event_id": [f"e{i}" for i in range(n)], "score": [value] * n, "split": ["val"] * n})


def test_rewriting_a_run_replaces_its_rows(tmp_path):
    db = tmp_path / "r.duckdb"
    with store.connect(db) as con:
        store.replace_rows(con, "scores", _rows(5, 0.1), "a")
        store.replace_rows(con, "scores", _rows(3, 0.2), "b")
        store.replace_rows(con, "scores", _rows(5, 0.3), "a")  # a re-run of run a
        counts = dict(con.execute("SELECT run_id, count(*) FROM scores GROUP BY run_id").fetchall())
        assert counts == {"a": 5, "b": 3}
        assert con.execute("SELECT DISTINCT score FROM scores WHERE run_id='a'").fetchall() == [(0.3,)]


def test_failed_write_leaves_the_old_rows(tmp_path):
    db = tmp_path / "r.duckdb"
    with store.connect(db) as con:
        store.replace_rows(con, "scores", _rows(4, 0.1), "a")
        bad = _rows(2, 0.5).assign(no_such_column=1)
        with pytest.raises(duckdb.Error, match="no_such_column"):
            store.replace_rows(con, "scores", bad, "a")
        assert con.execute("SELECT count(*), min(score) FROM scores WHERE run_id='a'").fetchone() == (4, 0.1)


def test_unknown_table_and_missing_database_are_explained(tmp_path):
    with store.connect(tmp_path / "r.duckdb") as con:
        with pytest.raises(ValueError, match="unknown table 'score'"):
            store.replace_rows(con, "score", _rows(1, 0.1), "a")
    with pytest.raises(FileNotFoundError, match="run `recdo run --db"):
        store.read_table(tmp_path / "absent.duckdb", "interventions")


def test_upsert_run_updates_in_place(tmp_path):
    db = tmp_path / "r.duckdb"
    with store.connect(db) as con:
        store.upsert_run(con, "a", status="running", params={"seed": 0})
        store.upsert_run(con, "a", status="completed")
        assert con.execute("SELECT status, params::VARCHAR FROM runs").fetchall() == [("completed", '{"seed": 0}')]
