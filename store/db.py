"""DuckDB access for recdo: open the result database, write a run's rows idempotently, read them back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

TABLES = (
    "runs",
    "quarantine",
    "validation_results",
    "scores",
    "scorer_metrics",
    "bn_edges",
    "interventions",
    "replicates",
    "policy_values",
    "sequential_looks",
)
MEMORY_LIMIT = "2GB"


def _schema_sql() -> str:
    return resources.files("store").joinpath("schema.sql").read_text()


@contextmanager
def connect(path: str | Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database (creating its tables on first write) and close it afterwards.

    DuckDB allows one writing process per file, so callers hold a connection only as long as
    one write takes; the error below says what to do when another process holds it.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"no recdo database at {str(path)!r}; run `recdo run --db {path}` first or pass the right --db"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Capped: writing ten million scores must not hold them all in memory (DuckDB spills beyond the cap).
        con = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": MEMORY_LIMIT})
    except duckdb.Error as exc:
        raise DatabaseError(_open_failure(path, read_only, exc)) from exc
    try:
        if not read_only:
            con.execute(_schema_sql())
        yield con
    finally:
        con.close()


class DatabaseError(RuntimeError):
    """The result database cannot be opened; the message says why (a directory, read-only, locked) and the fix."""


def _open_failure(path: Path, read_only: bool, exc: Exception) -> str:
    """Why DuckDB refused `path`, told apart by what the path is, not guessed from the message."""
    text = " ".join(str(exc).split())
    if path.is_dir():
        return f"--db {str(path)!r} is a directory; pass a file path inside it, e.g. --db {path / 'recdo.duckdb'}"
    if not read_only and path.exists() and not os.access(path, os.W_OK):
        return f"--db {str(path)!r} is read-only here; pass a writable --db or make it writable (chmod u+w)"
    if not read_only and not os.access(path.parent, os.W_OK):
        return f"cannot create --db {str(path)!r}: its folder is not writable; pass --db in a writable folder"
    if "lock" in text.lower():
        holder = text[text.find("PID") :].split(")")[0] if "PID" in text else "another process"
        return (
            f"--db {str(path)!r} is held by {holder} (a running recdo run or a DuckDB shell; DuckDB allows one "
            "writing process per file); wait for it to finish or close it, then retry"
        )
    return f"cannot open --db {str(path)!r}: {text}; is it a DuckDB file made by recdo?"


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, run_id: str) -> int:
    """Replace every row of `run_id` in `table` by `frame`, atomically; returns rows written.

    Delete-then-insert in one transaction makes writes idempotent: a retried task or a re-run of
    the same run id leaves exactly one copy of each row.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; known tables: {list(TABLES)}")
    frame = frame.assign(run_id=run_id)
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
        if len(frame):
            con.register("_recdo_rows", arrow)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _recdo_rows")
            con.unregister("_recdo_rows")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return len(frame)


def replace_rows_from_parquet(
    con: duckdb.DuckDBPyConnection, table: str, path: str | Path, columns: tuple[str, ...], run_id: str
) -> int:
    """replace_rows with the rows read by DuckDB from a Parquet file: they never pass through Python.

    A scored log of ten million rows streams from the file into the table, out of core, in one transaction.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; known tables: {list(TABLES)}")
    selected = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
        written = con.execute(
            f"INSERT INTO {table} BY NAME SELECT ? AS run_id, {selected} FROM read_parquet(?)", [run_id, str(path)]
        ).fetchone()[0]
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return int(written)


def upsert_run(con: duckdb.DuckDBPyConnection, run_id: str, **fields: object) -> None:
    """Insert or update the `runs` row of `run_id` with the given fields."""
    if "params" in fields and not isinstance(fields["params"], str):
        fields["params"] = json.dumps(fields["params"], sort_keys=True, default=str)
    known = {
        "flow_run_id",
        "started_at",
        "finished_at",
        "status",
        "params",
        "data_hash",
        "code_version",
        "source",
        "message",
        "rows_in",
        "rows_processed",
        "rows_quarantined",
        "owner",
    }
    unknown = set(fields) - known
    if unknown:
        raise ValueError(f"unknown runs columns {sorted(unknown)}; known: {sorted(known)}")
    exists = con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    if not exists:
        con.execute("INSERT INTO runs (run_id) VALUES (?)", [run_id])
    for name, value in fields.items():
        con.execute(f"UPDATE runs SET {name} = ? WHERE run_id = ?", [value, run_id])


def read_table(path: str | Path, table: str, run_id: str | None = None) -> pd.DataFrame:
    """Read a result table (all runs, or one) from a database file, read-only."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; known tables: {list(TABLES)}")
    with connect(path, read_only=True) as con:
        if run_id is None:
            return con.execute(f"SELECT * FROM {table}").df()
        return con.execute(f"SELECT * FROM {table} WHERE run_id = ?", [run_id]).df()


def now() -> datetime:
    return datetime.now(UTC)
