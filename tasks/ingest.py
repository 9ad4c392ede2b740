"""Task: read the raw log into the canonical schema and park it as Parquet for the next stages."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

import sources
from common.files import atomic_path
from tasks._retry import retry_unless_bad_input
from tasks.refs import LogRef


@task(name="load log", cache_policy=NO_CACHE, retry_condition_fn=retry_unless_bad_input)
def load_log(data: str, source: str, campaign: str, column_map: dict[str, str], work_dir: str) -> LogRef:
    if source == "obd":
        loaded = sources.load_obd(data, campaign=campaign)
    else:
        loaded = sources.load_table(data, column_map=column_map)
    out = Path(work_dir) / "logs" / f"{loaded.data_hash[:16]}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write-then-rename, a temporary name per thread: a backfill loads the same log for several partitions
    # at once, and a killed run never leaves a half-written log behind.
    with atomic_path(out) as tmp:
        loaded.frame.to_parquet(tmp, index=False)
    return LogRef(
        path=str(out), n_rows=len(loaded.frame), data_hash=loaded.data_hash, source=loaded.source, notes=loaded.notes
    )
