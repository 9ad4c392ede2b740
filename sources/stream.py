"""Any detected log to the canonical log, batch by batch: a Parquet dataset of part files, written then renamed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common.values import check_int
from expectations.config import TS
from expectations.epoch import count_units, decide
from sources.base import Dropped, SourceError, hash_named
from sources.csvread import read_csv_batches
from sources.detect import HIVE_DATE, Layout
from sources.obd import load_obd
from sources.parquetread import read_parquet_batches

BATCH_ROWS = 500_000  # rows per part file (and at most per batch read): what memory holds at a time
FORMAT = 2  # the canonical conversion's version; a change makes new folder names, never reuses old ones
# 2: CSV delimiters detected (a ;-delimited file was one column in 1), notes on epoch ts
META = "_canonical.json"  # beside the parts; '_' keeps it out of every Parquet reader's file list
PARTITION = "partition"


@dataclass(frozen=True)
class CanonicalLog:
    """A canonical log on disk: the folder of part files, its rows, the input data's identity and the notes."""

    path: str
    n_rows: int
    data_hash: str
    source: str
    notes: str
    parts: int


def write_canonical(
    layout: Layout,
    column_map: Mapping[str, str] | None,
    out_dir: str | Path,
    batch_rows: int = BATCH_ROWS,
    campaign: str = "all",
) -> CanonicalLog:
    """Write the log at `layout` as out_dir/<hash>-<key>/part-NNNNNN.parquet, each part at most `batch_rows` rows.

    The rows are read and written in record batches, never the whole log at once (the Open Bandit
    layout, small by nature, is read by its own loader and written the same way). `column_map` renames
    columns, as the table loader does; nothing else changes a value: the validation gate judges rows.
    The folder's name comes from the input's bytes and the settings, so a re-run with the same input
    finds the folder another run already wrote complete (write-then-rename) and returns it unchanged.
    """
    check_int("batch_rows", batch_rows, 1, "write at least one row per part file")
    column_map = dict(column_map or {})
    out_dir = Path(out_dir)
    if layout.format == "obd":
        loaded = load_obd(layout.root, campaign=campaign)
        data_hash, source, column_map = loaded.data_hash, loaded.source, {}  # OBD maps its own columns
    else:
        data_hash, source = hash_named(zip(layout.names, layout.files)), layout.source
    settings = {"format": FORMAT, "read": layout.format, "map": sorted(column_map.items()), "batch_rows": batch_rows}
    if layout.format == "obd":
        settings["campaign"] = campaign
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    folder = out_dir / f"{data_hash[:16]}-{key}"
    done = _finished(folder)
    if done is not None:
        return done

    if layout.format == "obd":
        table = pa.Table.from_pandas(loaded.frame, preserve_index=False).replace_schema_metadata(None)
        schema, batches, dropped = table.schema, iter(table.to_batches(max_chunksize=batch_rows)), loaded.dropped
        keys: tuple[str, ...] = ()
    elif layout.format == "csv":
        schema, batches, dropped = read_csv_batches(layout.files[0])
        keys = ()
    else:
        schema, batches, dropped, keys = read_parquet_batches(layout, batch_rows)
    schema = _mapped_schema(schema, column_map, layout, keys)
    epochs = _EpochCounts(schema)

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{folder.name}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        tmp.mkdir()
        n_rows, parts = _write_parts((epochs.seen(_renamed(b, schema)) for b in batches), schema, tmp, batch_rows)
        if n_rows == 0:
            raise SourceError(_no_rows(layout))
        notes = "; ".join(str(d) for d in (*dropped, *epochs.note()))
        log = CanonicalLog(str(folder), n_rows, data_hash, source, notes, parts)
        (tmp / META).write_text(json.dumps({"format": FORMAT, **asdict(log)}, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:
            if _finished(folder) is None:  # not another writer's complete copy of the same log
                raise
        return log
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


class _EpochCounts:
    """A numeric ts column's numbers per epoch unit, counted as the batches pass (expectations.epoch)."""

    def __init__(self, schema: pa.Schema) -> None:
        kind = schema.field(TS).type if TS in schema.names else None
        self.index = (
            schema.get_field_index(TS) if kind and (pa.types.is_integer(kind) or pa.types.is_floating(kind)) else -1
        )
        self.counts: dict[str, int] = {}

    def seen(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.index >= 0:
            values = batch.column(self.index).to_numpy(zero_copy_only=False)  # a null is NaN here
            for unit, n in count_units(np.asarray(values, dtype=np.float64))[0].items():
                self.counts[unit] = self.counts.get(unit, 0) + n
        return batch

    def note(self) -> tuple[Dropped, ...]:
        """What the loader says about a ts of epoch numbers; nothing when ts is not numeric or of no one unit."""
        verdict = decide(self.counts) if self.index >= 0 else None
        if verdict is None or verdict.unit is None:
            return ()  # no numbers, or numbers the gate refuses with its own message
        return (Dropped(f"{TS} as numbers", f"{verdict.note} by the gate"),)


def _finished(folder: Path) -> CanonicalLog | None:
    """The log a complete earlier write left in `folder` (its META is written last, inside the renamed folder)."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.pop("format", None) != FORMAT:
        return None
    try:
        return CanonicalLog(**{**meta, "path": str(folder)})
    except TypeError:
        return None


def _where(layout: Layout) -> str:
    """The path an error names: the file itself for one file, else the folder or pattern given."""
    return str(layout.files[0]) if layout.kind in ("parquet-file", "csv-file", "simulate") else layout.given


def _no_rows(layout: Layout) -> str:
    if len(layout.files) == 1:
        return f"{_where(layout)!r} holds a header but no rows"
    return f"{_where(layout)!r} holds {len(layout.files)} Parquet files but no rows; pass a log with rows"


def _mapped_schema(schema: pa.Schema, column_map: dict[str, str], layout: Layout, keys: tuple[str, ...]) -> pa.Schema:
    """The schema after `column_map`, and the hive `date` key (in `keys`) as `partition` when the log has none."""
    missing = sorted(set(column_map) - set(schema.names))
    if missing:
        raise SourceError(
            f"column mapping names {missing}, which {_where(layout)!r} does not have; its columns are {schema.names}; "
            "pass --map FILE_COL=CANONICAL_COL with FILE_COL one of those columns"
        )
    names = [column_map.get(name, name) for name in schema.names]
    if HIVE_DATE in keys and HIVE_DATE not in column_map and PARTITION not in names:
        names[schema.names.index(HIVE_DATE)] = PARTITION
    for name in names:
        if names.count(name) > 1:
            sources = [old for old, new in zip(schema.names, names) if new == name]
            raise SourceError(
                f"column mapping gives {sources} the one name {name!r}; map only one column to {name!r} "
                "(or rename the other one elsewhere)"
            )
    return pa.schema([pa.field(new, field.type) for new, field in zip(names, schema)])


def _renamed(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def _write_parts(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, folder: Path, batch_rows: int
) -> tuple[int, int]:
    """Write the batches as part files of exactly `batch_rows` rows (the last one fewer): (rows, parts)."""
    pending: list[pa.RecordBatch] = []
    held = rows = parts = 0

    def flush() -> None:
        nonlocal held, parts
        pq.write_table(pa.Table.from_batches(pending, schema=schema), folder / f"part-{parts:06d}.parquet")
        pending.clear()
        held, parts = 0, parts + 1

    for batch in batches:
        start = 0
        while start < batch.num_rows:
            take = min(batch_rows - held, batch.num_rows - start)
            pending.append(batch.slice(start, take))
            held, rows, start = held + take, rows + take, start + take
            if held == batch_rows:
                flush()
    if pending:
        flush()
    return rows, parts
