"""Task: keep one date partition of the canonical log, so a run (event-driven or backfill) covers one day."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from common.files import atomic_path
from sources import partitions
from sources.duck import parquet_files
from tasks.refs import LogRef


@task(name="select partition", cache_policy=NO_CACHE)
def select_partition(log: LogRef, partition: str, since: str | None = None) -> LogRef:
    """The partition's rows (with `since`: every partition from it up to `partition`), parked beside the full log.

    data_hash stays the source's (the run id has the partition and `since`). The log is read batch by batch, so a
    backfill over a month of a large log holds one batch at a time.
    """
    span = f"{since}..{partition}" if since else partition
    out = Path(log.path).with_name(f"{Path(log.path).stem}-{span}.parquet")
    with atomic_path(out) as tmp:
        found = partitions.select_to_file(parquet_files(log.path), partition, tmp, since=since)
    note = f"partition {partition}: {found.n_kept} of {found.n_rows} rows"
    if since:
        note = f"partitions {span} pooled ({found.n_partitions} with rows): {found.n_kept} of {found.n_rows} rows"
    undated = found.n_undated
    if undated:  # no day of theirs is ever run: say so rather than lose them quietly
        note += (
            f"; {undated} rows have no parseable ts and so no partition: a run without a partition "
            "quarantines them with their rule"
        )
    return replace(log, path=str(out), n_rows=found.n_kept, notes="; ".join(n for n in (log.notes, note) if n))
