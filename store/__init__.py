"""DuckDB result store: schema, idempotent writes, reads."""

from store.db import TABLES, connect, now, read_table, replace_rows, upsert_run

__all__ = ["TABLES", "connect", "now", "read_table", "replace_rows", "upsert_run"]
