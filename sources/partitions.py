"""Date partitions of a canonical log: which partition each row is in, one partition's rows, date ranges."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from expectations.epoch import count_units, decide, epoch_numbers, epoch_timestamps, is_epoch_dtype

PARTITION = "partition"
TS = "ts"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PartitionError(ValueError):
    """A partition name or a log that cannot be partitioned by date."""


def check_partition(name: str) -> str:
    """A partition is an event date, YYYY-MM-DD; anything else is refused with the fix."""
    if not isinstance(name, str) or not _DATE.match(name):
        raise PartitionError(f"partition {name!r} is not a date; write partitions as YYYY-MM-DD, e.g. 2024-03-01")
    try:
        date.fromisoformat(name)
    except ValueError as exc:
        raise PartitionError(f"partition {name!r} is not a calendar date ({exc}); write it as YYYY-MM-DD") from exc
    return name


def partition_of(frame: pd.DataFrame) -> pd.Series:
    """Each row's partition: the log's `partition` column when it has one, else the UTC date of `ts`."""
    if PARTITION in frame.columns:
        return frame[PARTITION].astype(str)
    if TS not in frame.columns:
        raise PartitionError(
            f"cannot partition a log without a {PARTITION!r} or {TS!r} column; its columns are {list(frame.columns)}"
        )
    if is_epoch_dtype(frame[TS].dtype):  # epoch numbers, in the unit the gate reads them in (expectations.epoch)
        unit = decide(*count_units(epoch_numbers(frame[TS]))).unit
        ts = (
            epoch_timestamps(frame[TS], unit)
            if unit
            else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
        )
    else:
        # ISO 8601 only, as the gate reads ts (expectations.custom.parse_timestamps): a row the gate refuses
        # ('01/02/2024' is ambiguous) must not be dated here either, and pandas then has no format to guess.
        ts = pd.to_datetime(frame[TS], utc=True, errors="coerce", format="ISO8601")
    # Rows with an unparseable ts get no partition here; the validation gate quarantines them.
    return ts.dt.strftime("%Y-%m-%d").fillna("unknown")


def partitions_in(frame: pd.DataFrame) -> list[str]:
    """The dated partitions a log holds, in date order."""
    return sorted(p for p in partition_of(frame).unique() if _DATE.match(p))


def select(frame: pd.DataFrame, partition: str) -> pd.DataFrame:
    """The rows of one partition, index reset; an empty result is an error naming the partitions there are."""
    check_partition(partition)
    keep = partition_of(frame) == partition
    if not keep.any():
        raise PartitionError(
            f"partition {partition!r} has no rows in this log; it holds {partitions_in(frame) or 'no dated rows'}"
        )
    return frame[keep].reset_index(drop=True)


def dated_partitions(files: Sequence[str], batch_rows: int = 1_000_000) -> list[str]:
    """partitions_in over a log's Parquet files, read batch by batch and only the column that dates a row."""
    seen: set[str] = set()
    for path in files:
        reader = pq.ParquetFile(path)
        names = set(reader.schema_arrow.names)
        column = PARTITION if PARTITION in names else TS
        if column not in names:
            raise PartitionError(
                f"cannot partition a log without a {PARTITION!r} or {TS!r} column; {path} has {sorted(names)}"
            )
        for batch in reader.iter_batches(batch_size=batch_rows, columns=[column]):
            seen.update(partitions_in(batch.to_pandas()))
    return sorted(seen)


@dataclass(frozen=True)
class Selected:
    """What select_to_file kept: the range's rows, out of how many, how many had no date, the dates pooled."""

    n_kept: int
    n_rows: int
    n_undated: int
    n_partitions: int = 1  # dated partitions with rows in the range (1: the partition alone)


def select_to_file(
    files: Sequence[str], partition: str, out: str | Path, batch_rows: int = 256_000, since: str | None = None
) -> Selected:
    """The rows of one partition (or of every partition from `since` to it), copied batch by batch into one file.

    Memory holds one batch, whatever the log's size; the rows keep their Arrow types and their order. A
    partition without rows is an error naming the partitions there are (and `out` is then not written), also
    when earlier partitions of the range have rows: the run is of that partition.
    """
    check_partition(partition)
    first = check_partition(since) if since else partition
    if first > partition:
        raise PartitionError(f"since {since} is after partition {partition}; pool from an earlier date")
    writer: pq.ParquetWriter | None = None
    kept = own = total = undated = 0
    seen: set[str] = set()
    try:
        for path in files:
            reader = pq.ParquetFile(path)
            for batch in reader.iter_batches(batch_size=batch_rows):
                where = partition_of(batch.to_pandas())
                total += batch.num_rows
                undated += int((where == "unknown").sum())
                seen.update(p for p in where.unique() if _DATE.match(p))
                dated = where.str.match(_DATE.pattern)  # "unknown" sorts after every date: keep it out of the range
                mask = (dated & (where >= first) & (where <= partition)).to_numpy()
                own += int((where == partition).sum())
                if mask.any():
                    writer = writer or pq.ParquetWriter(out, batch.schema)
                    writer.write_batch(batch.filter(pa.array(mask)))
                    kept += int(mask.sum())
    finally:
        if writer is not None:
            writer.close()
    if not own:
        if writer is not None:
            Path(out).unlink(missing_ok=True)
        raise PartitionError(
            f"partition {partition!r} has no rows in this log; it holds {sorted(seen) or 'no dated rows'}"
        )
    return Selected(
        n_kept=kept, n_rows=total, n_undated=undated, n_partitions=len({p for p in seen if first <= p <= partition})
    )


def date_range(start: str, end: str) -> list[str]:
    """Every partition from start to end, both included."""
    first, last = date.fromisoformat(check_partition(start)), date.fromisoformat(check_partition(end))
    if last < first:
        raise PartitionError(f"end {end} is before start {start}; pass --start <= --end")
    return [(first + timedelta(days=k)).isoformat() for k in range((last - first).days + 1)]
