"""A Parquet log (one file or a folder of part files) as DuckDB reads it, held to a memory limit."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from expectations.gate import DatasetError
from expectations.sql_rules import ROW_NUMBER, literal, register_pandas_readers

DEFAULT_MEMORY_LIMIT = "2GB"
SOURCE = "__recdo_src"  # the view over the log's files, with ROW_NUMBER
_OFFSETS = "__recdo_offsets"  # a session variable: each file's first row number
_RESERVED = "__recdo_"  # prefix of the gate's own columns, tables and variables
_VIRTUAL = ("file_row_number", "file_index")  # DuckDB's columns of every Parquet scan
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


def log_files(log_path: str | Path) -> list[Path]:
    """The log's Parquet files: the file itself, or every *.parquet under a folder, in path order.

    Hidden or _-prefixed entries (a writer's .tmp files, _SUCCESS markers) are skipped.
    """
    path = Path(log_path).resolve()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"no log at {str(path)!r}; pass the Parquet file or the folder of part files ingest wrote")
    files = [
        p
        for p in path.rglob("*.parquet")
        if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    ]
    if not files:
        raise DatasetError(
            f"the log folder {str(path)!r} holds no Parquet part files (*.parquet); point the gate at the "
            f"folder ingest wrote, or at one .parquet file"
        )
    return sorted(files, key=lambda p: p.relative_to(path).as_posix())


def row_counts(files: list[Path]) -> list[int]:
    """Rows of each file, from its footer; refuses files the gate cannot read column by column."""
    counts = []
    for path in files:
        meta = pq.read_metadata(path)
        names = meta.schema.to_arrow_schema().names
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DatasetError(
                f"{path} has more than one column named {repeated[0]!r}; a column is read by its name: rewrite the "
                f"file with each column named once (rename one of them, e.g. {repeated[0] + '_2'!r})"
            )
        own = sorted(n for n in names if n.startswith(_RESERVED) or n in _VIRTUAL)
        if own:
            raise DatasetError(
                f"{path} has column(s) {own}, names the file gate keeps for itself; rename them on the command line "
                f"with --map {own[0]}=renamed (column_map={{{own[0]!r}: 'renamed'}} in Python)"
            )
        counts.append(meta.num_rows)
    return counts


@contextmanager
def session(tmp_dir: Path, memory_limit: str, threads: int | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB held to `memory_limit`, spilling to `tmp_dir` (removed afterwards)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        try:
            con.execute(f"SET memory_limit = {literal(memory_limit)}")
        except duckdb.Error as exc:
            raise ValueError(f"memory_limit {memory_limit!r} is not a DuckDB size ({exc}); write e.g. '2GB'") from exc
        con.execute(f"SET temp_directory = {literal(str(tmp_dir))}")
        con.execute("SET preserve_insertion_order = true")  # the clean rows stream out in log order
        con.execute("SET TimeZone = 'UTC'")  # naive timestamps are UTC, as in the pandas gate
        con.execute("SET enable_progress_bar = false")  # it would print into the flow's logs
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        register_pandas_readers(con)
        yield con
    finally:
        con.close()
        shutil.rmtree(tmp_dir, ignore_errors=True)


def source_view(
    con: duckdb.DuckDBPyConnection, log_path: str | Path, files: list[Path], counts: list[int]
) -> tuple[list[str], dict[str, str]]:
    """View SOURCE over the files, with each row's 0-based position in the whole log; its columns and types.

    The position is the file's offset (a list in a session variable, no join: a join would lose the
    row order the clean file is written in) plus the row's number in its file. Folders named key=value
    under the log folder add a column `key`, as when pandas reads the folder.
    """
    root = Path(log_path).resolve()
    hive = root.is_dir() and any("=" in part for f in files for part in f.relative_to(root).parent.parts)
    offsets = [0, *accumulate(counts)][:-1]
    con.execute(f"SET VARIABLE {_OFFSETS} = ?", [offsets])
    listed = "[" + ", ".join(literal(str(p)) for p in files) + "]"
    con.execute(
        f"CREATE TEMP VIEW {SOURCE} AS SELECT *, "
        f"getvariable({literal(_OFFSETS)})[(file_index + 1)::BIGINT] + file_row_number AS {ROW_NUMBER} "
        f"FROM read_parquet({listed}, union_by_name = true, hive_partitioning = {str(hive).lower()}, "
        f"hive_types_autocast = false)"  # key=2024-03-01 stays the text pandas reads, not a DATE
    )
    described = con.execute(f"DESCRIBE {SOURCE}").fetchall()
    kinds = {str(row[0]): str(row[1]) for row in described if row[0] != ROW_NUMBER}
    return list(kinds), kinds


def size_bytes(size: str) -> int:
    """A size as DuckDB reads it ('2GB', '512 MiB') in bytes; one it cannot read counts as no limit."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*", size, flags=re.IGNORECASE)
    return int(float(match[1]) * _UNITS[(match[2] or "b").lower()]) if match else 2**62
