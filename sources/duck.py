"""DuckDB for logs larger than memory: Parquet files of a log, a memory-capped connection, SQL quoting."""

from __future__ import annotations

import glob
import math
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from sources.base import SourceError

DEFAULT_MEMORY_LIMIT = "2GB"
# DuckDB (2.0 seen) folds isnan(x) to false where a Parquet file's min/max statistics, which leave NaN out,
# bound the column: a column holding NaN then reads as NaN-free. Without this optimizer each row is looked at.
_NAN_BLIND = "statistics_propagation"
_GLOB_CHARS = ("*", "?", "[")

LogPaths = str | Path | Sequence[str | Path]


def parquet_files(log: LogPaths) -> list[str]:
    """The Parquet files of a log: a file, a folder (hive `key=value/` folders too), a glob, or a list of those.

    The list is expanded here, sorted within each entry, so that DuckDB and Dask read the same files.
    """
    entries = [log] if isinstance(log, (str, Path)) else list(log)
    if not entries:
        raise SourceError("no log given; pass a Parquet file, a folder of Parquet files, a glob or a list of files")
    files: list[str] = []
    for entry in entries:
        text = str(entry)
        if Path(text).is_dir():
            found = sorted(glob.glob(str(Path(text) / "**" / "*.parquet"), recursive=True))
            where = f"folder {text!r} holds no *.parquet file (searched its subfolders too)"
        elif any(ch in text for ch in _GLOB_CHARS):
            found = sorted(p for p in glob.glob(text, recursive=True) if Path(p).is_file())
            where = f"glob {text!r} matches no file"
        else:
            found = [text] if Path(text).is_file() else []
            where = f"log file {text!r} not found"
        if not found:
            raise SourceError(
                f"{where}; pass a Parquet file, a folder of Parquet files or a glob such as 'logs/*.parquet'"
            )
        files.extend(found)
    return files


def parquet_source(files: Sequence[str]) -> str:
    """The FROM clause reading the files as one table: hive keys in folder names become columns, columns by name."""
    listed = ", ".join(literal(f) for f in files)
    return f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"


def connect(
    spill_dir: str | Path, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB capped at memory_limit that spills sorts and aggregates to spill_dir."""
    config: dict[str, str | bool | int] = {
        "memory_limit": memory_limit,
        "temp_directory": str(spill_dir),
        # Order is not needed by an aggregate; keeping it would make DuckDB buffer rows.
        "preserve_insertion_order": False,
    }
    if threads is not None:
        config["threads"] = threads
    return duckdb.connect(config=config)


@contextmanager
def spilling(
    work_dir: str | Path | None, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """connect() with its own spill folder under work_dir (the system's temporary folder when None), removed after."""
    with tempfile.TemporaryDirectory(prefix="recdo-duckdb-", dir=work_dir) as spill:
        with connect(spill, memory_limit) as con:
            yield con


@contextmanager
def nan_safe(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """The connection with the optimizer that misreads NaN switched off, restored afterwards."""
    before = str(rows(con, "SELECT current_setting('disabled_optimizers')")[0][0])
    disabled = ",".join(sorted({*filter(None, before.split(",")), _NAN_BLIND}))
    con.execute(f"SET disabled_optimizers = {literal(disabled)}")
    try:
        yield con
    finally:
        con.execute(f"SET disabled_optimizers = {literal(before)}")


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    """All rows of a query, read to the end (DuckDB 2 refuses a new query while a result is unfinished)."""
    try:
        return con.execute(sql).fetchall()
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:  # missing, unreadable or not Parquet
        raise SourceError(f"DuckDB cannot read the log: {exc}") from exc


def ident(name: str) -> str:
    """A column name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    """A Python str, bool, int or float as a SQL literal that DuckDB reads back as the same value."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr is the shortest string that reads back as the same double; inf/nan need a cast from text.
        text = repr(value) if math.isfinite(value) else str(value)
        return f"CAST('{text}' AS DOUBLE)"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as a SQL literal")
