"""Task: keep one date partition of the canonical log, so a run (event-driven or backfill) covers one day."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from common.files import atomic_path
from sources import partitions
from tasks.refs import LogRef


@task(name="select partition", cache_policy=NO_CACHE)
def select_partition(log: LogRef, partition: str) -> LogRef:
    """The partition's rows, parked beside the full log; data_hash stays the source's (the run id has the partition)."""
    frame = pd.read_parquet(log.path)
    part = partitions.select(frame, partition)
    out = Path(log.path).with_name(f"{Path(log.path).stem}-{partition}.parquet")
    with atomic_path(out) as tmp:
        part.to_parquet(tmp, index=False)
    note = f"partition {partition}: {len(part)} of {len(frame)} rows"
    undated = int((partitions.partition_of(frame) == "unknown").sum())
    if undated:  # no day of theirs is ever run: say so rather than lose them quietly
        note += (
            f"; {undated} rows have no parseable ts and so no partition: a run without a partition "
            "quarantines them with their rule"
        )
    return replace(log, path=str(out), n_rows=len(part), notes="; ".join(n for n in (log.notes, note) if n))
