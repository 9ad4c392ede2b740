"""Loader for a user's own log in the canonical schema, CSV or Parquet, read whole into pandas; a column mapping."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa

from sources.base import Dropped, LoadedLog, SourceError, hash_files
from sources.csvread import read_csv_batches
from sources.detect import Layout
from sources.parquetread import read_parquet_batches

SUFFIXES = (".csv", ".parquet", ".pq")
SIMULATION_LOG = "log.parquet"
_BATCH_ROWS = 500_000


def read_frame(path: Path) -> tuple[pd.DataFrame, tuple[Dropped, ...]]:
    """A CSV or Parquet file as one DataFrame, read as the pipeline's streaming loader reads it; and its notes.

    CSV: only an empty field is missing ("None", "NA", "null" are labels), the delimiter is detected, a
    header naming a column twice is refused (sources.csvread). Parquet: a file naming a column twice is
    refused, a pandas index written into the file is left out (sources.parquetread).
    """
    if path.suffix.lower() == ".csv":
        schema, batches, notes = read_csv_batches(path)
    else:
        layout = Layout(kind="parquet-file", root=path.parent, files=(path,), names=(path.name,), given=str(path))
        schema, batches, notes, _ = read_parquet_batches(layout, _BATCH_ROWS)
    try:
        table = pa.Table.from_batches(list(batches), schema=schema)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"cannot read {str(path)!r} as {path.suffix[1:]}: {exc}") from exc
    if table.num_rows == 0:
        raise SourceError(f"{str(path)!r} holds a header but no rows")
    return table.to_pandas(), notes


def load_table(path: str | Path, column_map: Mapping[str, str] | None = None) -> LoadedLog:
    """Read a CSV or Parquet log (or a `recdo simulate` folder's log.parquet); `column_map` renames columns.

    Only renaming happens here: the validation gate decides what is acceptable, so a bad row is
    quarantined with its rule instead of vanishing in the loader.
    """
    path = Path(path)
    if path.is_dir() and (path / SIMULATION_LOG).is_file():  # a `recdo simulate` folder: its log, truth beside it
        path = path / SIMULATION_LOG
    if not path.is_file():
        raise SourceError(f"log file {str(path)!r} not found; pass the path of a .csv or .parquet file")
    if path.suffix.lower() not in SUFFIXES:
        raise SourceError(f"cannot read {str(path)!r}: unknown suffix {path.suffix!r}; use one of {sorted(SUFFIXES)}")
    frame, notes = read_frame(path)
    column_map = dict(column_map or {})
    missing = sorted(set(column_map) - set(frame.columns))
    if missing:
        raise SourceError(
            f"column mapping names {missing}, which {str(path)!r} does not have; its columns are "
            f"{list(frame.columns)}; pass --map FILE_COL=CANONICAL_COL with FILE_COL one of those columns"
        )
    frame = frame.rename(columns=column_map)
    return LoadedLog(frame=frame, source=f"table:{path.name}", data_hash=hash_files([path]), dropped=notes)
