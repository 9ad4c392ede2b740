"""Task: the Great Expectations gate; splits the log into clean rows and quarantined rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

import expectations
from tasks.refs import GateRef


@task(name="validate", cache_policy=NO_CACHE)
def validate_log(log_path: str, config: expectations.GateConfig, run_dir: str, run_id: str) -> GateRef:
    result = expectations.run_gate(pd.read_parquet(log_path), config)
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.parquet" for name in ("clean", "quarantine", "validation")}
    result.clean.to_parquet(paths["clean"], index=False)
    result.quarantine.to_parquet(paths["quarantine"], index=False)
    result.results.to_parquet(paths["validation"], index=False)
    try:
        expectations.enforce(result, config, run_id=run_id)
        failure = None
    except expectations.GateFailed as exc:
        # Not raised here: the flow stores the quarantine first, then fails, so nothing is lost.
        failure = str(exc)
    return GateRef(
        clean_path=str(paths["clean"]),
        quarantine_path=str(paths["quarantine"]),
        results_path=str(paths["validation"]),
        n_in=result.n_in,
        n_clean=result.n_clean,
        n_quarantined=result.n_quarantined,
        rule_counts=dict(result.rule_counts),
        failure=failure,
    )
