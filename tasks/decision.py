"""Task: the run's decision (`recdo decide`'s sentences and rows) as a Prefect markdown artifact with key `decision`."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

import store
from report.data import run_rows
from report.decision import decision_markdown

KEY = "decision"  # Prefect artifact keys: lowercase letters, digits and dashes


def decision_text(db: str, run_id: str) -> str:
    """The artifact's markdown for `run_id`, read from its stored replicates and policy values."""
    # Opened read-write on purpose, as publish_report does: DuckDB refuses a read-only connection in a process
    # that also holds read-write ones (a backfill's other partitions), and this only reads.
    with store.connect(db) as con:
        replicates = run_rows(con, "replicates", run_id)
        policy_values = run_rows(con, "policy_values", run_id)
    return decision_markdown(run_id, replicates, policy_values)


@task(name="publish decision", cache_policy=NO_CACHE)
def publish_decision(db: str, run_id: str) -> str | None:
    """The `decision` artifact; a decision that cannot be read is logged, never fails a stored run."""
    try:
        markdown = decision_text(db, run_id)
    except Exception as exc:  # noqa: BLE001 - the replicates are stored; `recdo decide` reads them any time
        get_run_logger().warning("decision artifact for %s not made: %s: %s", run_id, type(exc).__name__, exc)
        return None
    create_markdown_artifact(key=KEY, markdown=markdown, description=f"recdo decide of run {run_id}")
    return markdown
