"""Task: the Great Expectations gate; splits the log into clean rows and quarantined rows."""

from __future__ import annotations

from dataclasses import asdict

from prefect import task
from prefect.cache_policies import NO_CACHE

import expectations
from tasks.refs import GateRef


@task(name="validate", cache_policy=NO_CACHE)
def validate_log(log_path: str, config: expectations.GateConfig, run_dir: str, run_id: str) -> GateRef:
    """Gate the log (a Parquet file or a folder of part files) with DuckDB, never loading it whole.

    Writes run_dir/clean.parquet, quarantine.parquet and validation.parquet (expectations.run_file_gate).
    """
    result = expectations.run_file_gate(log_path, config, run_dir)
    try:
        expectations.enforce(result, config, run_id=run_id)
        failure = None
    except expectations.GateFailed as exc:
        # Not raised here: the flow stores the quarantine first, then fails, so nothing is lost.
        failure = str(exc)
    # GateRef is the gate's result plus the verdict and the gate's notes
    return GateRef(**asdict(result), failure=failure, notes=result.notes)
