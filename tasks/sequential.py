"""Task: store the run's always-valid monitor (confidence sequences over its experiment's partitions) in DuckDB."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

import store
from store.sequential import sequential_rows, write_sequential
from tasks._retry import retry_unless_bad_input


@task(name="store sequential", cache_policy=NO_CACHE, retry_condition_fn=retry_unless_bad_input)
def store_sequential(db: str, run_id: str, alpha: float = 0.05) -> int:
    """Compute the run's looks from the stored ab_diff rows and replace its `sequential_looks` rows; rows written.

    Runs after the run's effects are stored: the run's own partition is its last look.
    """
    with store.connect(db) as con:
        return write_sequential(con, run_id, sequential_rows(con, run_id, alpha, created_at=store.now()))
