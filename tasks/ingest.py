"""Task: read the raw log into the canonical schema and park it as a Parquet dataset for the next stages."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

import sources
from tasks._retry import retry_unless_bad_input
from tasks.refs import LogRef


@task(name="load log", cache_policy=NO_CACHE, retry_condition_fn=retry_unless_bad_input)
def load_log(data: str, source: str, campaign: str, column_map: dict[str, str], work_dir: str) -> LogRef:
    """Detect the layout of `data` and write its canonical log, batch by batch, as a folder of Parquet part files.

    The folder (LogRef.path) is written then renamed and named by the input's bytes and the settings: a
    backfill loading the same log for several partitions at once writes it once per racer at most, and
    every racer returns the same complete folder; a killed run never leaves a half-written log behind.
    """
    layout = sources.layout_for(data, source)
    log = sources.write_canonical(layout, column_map, Path(work_dir) / "logs", campaign=campaign)
    return LogRef(path=log.path, n_rows=log.n_rows, data_hash=log.data_hash, source=log.source, notes=log.notes)
