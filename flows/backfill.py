"""The backfill flow: the pipeline over a range of date partitions, a few at a time, skipping finished ones."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

import store
from flows.defaults import choose, columns_of
from flows.params import PipelineParams
from flows.runners import RunnerConfig, make_runner
from sources import partitions
from sources.duck import parquet_files
from tasks.ingest import load_log
from tasks.report import publish_report, report_path


@dataclass(frozen=True)
class BackfillSummary:
    """What a backfill did with each partition of its range."""

    partitions: tuple[str, ...]  # the range asked for
    run_ids: dict[str, str]  # partition -> its run id (data hash + parameters + partition)
    skipped: tuple[str, ...]  # already had a completed run with that id
    ran: tuple[str, ...]  # completed now
    empty: tuple[str, ...]  # no rows in the log


def partition_params(params: PipelineParams, partition: str) -> PipelineParams:
    """The pipeline's parameters for one partition (validated again, unlike model_copy).

    With a Dask backfill the partitions are what goes to the cluster; inside one, the pairs run on the
    worker's threads (a cluster started from inside a Dask task would wait on itself).
    """
    return params.with_changes(partition=partition, run_id=None, task_runner="thread", dask_address=None)


def completed_run_ids(db: str, run_ids: list[str]) -> set[str]:
    """Which of these run ids have a completed run row: a partition counts as done only then."""
    try:
        with store.connect(db) as con:
            marks = ",".join("?" * len(run_ids))
            rows = con.execute(f"SELECT run_id FROM runs WHERE status = 'completed' AND run_id IN ({marks})", run_ids)
            return {r[0] for r in rows.fetchall()}
    except FileNotFoundError:
        return set()


@task(name="partition run", cache_policy=NO_CACHE)
def run_partition(params: PipelineParams) -> str:
    """One partition: the whole pipeline as a subflow, so each partition is its own run in the UI."""
    # Imported here, not captured: a Dask worker unpickles this function with a copy of its globals,
    # and a copied Flow object cannot resolve its own (string) annotation PipelineParams.
    from flows.pipeline import pipeline

    return pipeline(params).run_id


class BackfillFailed(RuntimeError):
    """Some partitions failed; the others are stored, and the same backfill again runs only what is missing."""


@flow(name="recdo-backfill", log_prints=True)
def backfill(
    start: str,
    end: str,
    treatments: list[str] | None = None,
    concurrency: int = 2,
    force: bool = False,
    params: PipelineParams = PipelineParams(),
) -> BackfillSummary:
    """Run the pipeline on every date partition from start to end (both included), `concurrency` at a time.

    Idempotent: each partition's run id comes from the data, the parameters and the partition, and a
    run replaces its own rows; partitions that already completed are skipped unless `force`.
    """
    logger = get_run_logger()
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}; pass --concurrency 1 or more")
    dates = partitions.date_range(start, end)
    log = load_log.with_options(retries=params.io_retries, retry_delay_seconds=params.io_retry_delay_s)(
        params.data, params.resolved_source(), params.campaign, dict(params.column_map), params.work_dir
    )
    # What to estimate: `treatments` if given, else what the deployment's params name, else derived from the
    # log's columns as `recdo run` derives them (before any with_changes, which would mark every field given).
    choice = choose(params, columns_of(parquet_files(log.path)[0]), list(treatments) if treatments else None)
    logger.info("backfill estimates %s", choice.describe())
    params = params.with_changes(**choice.fields())
    present = set(partitions.dated_partitions(parquet_files(log.path)))
    empty = [d for d in dates if d not in present]
    per_partition = {d: partition_params(params, d) for d in dates if d in present}
    run_ids = {d: p.run_id_for(log.data_hash) for d, p in per_partition.items()}
    done = set() if force else completed_run_ids(params.db, list(run_ids.values()))
    skipped = [d for d in per_partition if run_ids[d] in done]
    todo = [d for d in per_partition if run_ids[d] not in done]
    logger.info(
        "backfill %s..%s: %d to run, %d already completed, %d without rows (%s)",
        start,
        end,
        len(todo),
        len(skipped),
        len(empty),
        ", ".join(empty) or "none",
    )
    for d in skipped:  # a run stopped between "finish run" and "publish report" is completed but has no page
        if not report_path(params.work_dir, run_ids[d]).exists():
            logger.info("partition %s: completed, but its report was missing (stopped before it); writing it", d)
            publish_report(params.db, run_ids[d], params.work_dir, d)

    failed: dict[str, str] = {}
    ran: list[str] = []
    if todo:
        config = RunnerConfig(params.task_runner, params.dask_address, concurrency)
        with make_runner(config) as runner:
            futures = {d: runner.submit(run_partition, parameters={"params": per_partition[d]}) for d in todo}
            for d, future in futures.items():
                future.wait()
                state = future.state
                if state.is_completed():
                    ran.append(d)
                else:
                    failed[d] = state.message or state.name
    summary = BackfillSummary(
        partitions=tuple(dates), run_ids=run_ids, skipped=tuple(skipped), ran=tuple(ran), empty=tuple(empty)
    )
    create_markdown_artifact(
        key="backfill-summary",
        markdown=(
            f"# recdo backfill {start} .. {end}\n\n"
            f"- ran: {', '.join(ran) or 'none'}\n- already completed: {', '.join(skipped) or 'none'}\n"
            f"- no rows: {', '.join(empty) or 'none'}\n- failed: {', '.join(failed) or 'none'}\n"
            f"- results: `{params.db}`, `SELECT * FROM interventions WHERE \"partition\" BETWEEN '{start}' AND "
            f"'{end}'`\n"
        ),
    )
    if failed:
        raise BackfillFailed(
            f"backfill {start}..{end}: partitions {sorted(failed)} failed "
            f"({'; '.join(f'{d}: {m}' for d, m in sorted(failed.items()))}); "
            f"{len(ran)} completed now and {len(skipped)} before. Fix the cause and run the same backfill again: "
            "it runs only the partitions that are not completed."
        )
    return summary
