"""Loader for a user's own log in the canonical schema, as CSV or Parquet, with a column mapping."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa

from sources.base import LoadedLog, SourceError, hash_files

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


SIMULATION_LOG = "log.parquet"


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
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise SourceError(f"cannot read {str(path)!r}: unknown suffix {path.suffix!r}; use one of {sorted(READERS)}")
    try:
        frame = reader(path)
    except pd.errors.EmptyDataError as exc:
        raise SourceError(f"{str(path)!r} is empty: no header and no rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"cannot read {str(path)!r} as {path.suffix[1:]}: {exc}") from exc
    if frame.empty:
        raise SourceError(f"{str(path)!r} holds a header but no rows")
    column_map = dict(column_map or {})
    missing = sorted(set(column_map) - set(frame.columns))
    if missing:
        raise SourceError(
            f"column mapping names {missing}, which {str(path)!r} does not have; its columns are {list(frame.columns)}"
        )
    frame = frame.rename(columns=column_map)
    return LoadedLog(frame=frame, source=f"table:{path.name}", data_hash=hash_files([path]))
