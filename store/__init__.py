"""DuckDB result store: schema, idempotent writes, reads."""

from store.db import (
    TABLES,
    DatabaseError,
    connect,
    now,
    read_table,
    replace_rows,
    replace_rows_from_parquet,
    upsert_run,
)
from store.liveness import mark_interrupted, process_owner

__all__ = [
    "TABLES",
    "DatabaseError",
    "connect",
    "mark_interrupted",
    "now",
    "process_owner",
    "read_table",
    "replace_rows",
    "replace_rows_from_parquet",
    "upsert_run",
]
