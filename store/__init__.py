"""DuckDB result store: schema, idempotent writes, reads."""

from store.db import TABLES, connect, now, read_table, replace_rows, replace_rows_from_parquet, upsert_run

__all__ = ["TABLES", "connect", "now", "read_table", "replace_rows", "replace_rows_from_parquet", "upsert_run"]
