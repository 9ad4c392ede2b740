"""Task: write the run's HTML report and point to it from the Prefect UI (link and markdown artifacts)."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

import store
from common.files import inside
from report import write_report


def report_path(work_dir: str, run_id: str) -> Path:
    """WORK_DIR/reports/<run_id>.html, where the run's page is written; a run id never leaves the work dir."""
    return inside(Path(work_dir) / "reports", f"{run_id}.html").resolve()


@task(name="publish report", cache_policy=NO_CACHE)
def publish_report(db: str, run_id: str, work_dir: str, partition: str | None) -> str | None:
    """WORK_DIR/reports/<run_id>.html; a report that cannot be written is logged, never fails a stored run."""
    out = report_path(work_dir, run_id)
    try:
        # Opened read-write on purpose: DuckDB refuses a read-only connection in a process that also
        # holds read-write ones (a backfill's other partitions), and the report only reads.
        with store.connect(db) as con:
            write_report(db, out, run_id, con=con)
    except Exception as exc:  # noqa: BLE001 - the estimates are stored; the page is a convenience
        get_run_logger().warning("report for %s not written: %s: %s", run_id, type(exc).__name__, exc)
        return None
    create_link_artifact(
        key="report", link=out.as_uri(), link_text=f"recdo report of {run_id}", description="HTML report of this run"
    )
    create_markdown_artifact(
        key="report-location",
        markdown=(
            f"# recdo report of `{run_id}`\n\n"
            f"- file: `{out}` (self-contained HTML; open it in a browser)\n"
            f"- partition: {partition or 'all rows'}\n"
            f"- the whole database, every partition over time: `recdo report --db {db} --out report.html`\n"
        ),
    )
    return str(out)
