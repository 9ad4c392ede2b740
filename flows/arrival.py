"""The event-driven flow: a `recdo.data.arrived` event (file, partition) runs the pipeline, then the next allocation."""

from __future__ import annotations

import re
from pathlib import Path

from prefect import flow

from causal.decide.allocation import check_floor
from common.errors import InputError
from flows.defaults import choose, columns_of
from flows.params import PipelineParams
from flows.pipeline import RunSummary, pipeline
from tasks.decide import check_pooling, read_previous_allocation, write_next_allocation

HIVE_DATE = re.compile(r"^date=\d{4}-\d{2}-\d{2}$")  # a hive partition folder of a dataset
PARQUET_SUFFIXES = (".parquet", ".pq")  # what `recdo watch` announces besides CSV
ALLOCATION_DIR = "allocation"  # under the run's work_dir: one <treatment>.json per treatment


def arrival_params(
    params: PipelineParams,
    file: str,
    partition: str | None = None,
    treatments: list[str] | None = None,
    outcomes: list[str] | None = None,
    baselines: dict[str, str] | None = None,
    db: str | None = None,
    work_dir: str | None = None,
    pool_since: str | None = None,
) -> PipelineParams:
    """The pipeline's parameters for one arrival: the event's values, else the deployment's, else derived.

    Derived treatments, outcomes and baselines come from the file's columns (after `params.column_map`),
    the same answers `recdo run` gives that log, so a deployment left at its defaults runs any known log.
    With `pool_since` the run reads the dataset the file belongs to (`dataset_of`), where the earlier days are.
    """
    choice = choose(params, columns_of(file, params.column_map, "table"), treatments, outcomes, baselines)
    where = {k: v for k, v in (("db", db), ("work_dir", work_dir)) if v}
    if pool_since:
        file = str(dataset_of(Path(file)))
    run = params.with_changes(
        data=file,
        source="table",
        partition=partition or None,
        pool_since=pool_since or params.pool_since,
        run_id=None,
        **choice.fields(),
        **where,
    )
    # Relative paths resolve against the worker's directory (prefect.yaml's pull step): say where rows land.
    print(
        f"{Path(file).name} partition {partition or 'all'}: {choice.describe()}; results go to "
        f"{Path(run.db).resolve()}, intermediate files to {Path(run.work_dir).resolve()}"
    )
    return run


def dataset_of(file: Path) -> Path:
    """Where a pooling run finds the days before `file`: a hive `date=YYYY-MM-DD/` folder's root, the folder a
    Parquet file was dropped in (a watched folder of daily drops), else the file itself (a CSV, a folder)."""
    if HIVE_DATE.match(file.parent.name):
        return file.parent.parent
    if file.is_file() and file.suffix.lower() in PARQUET_SUFFIXES:
        return file.parent
    return file


def allocation_paths(run: PipelineParams, allocation: str | None) -> dict[str, str]:
    """{treatment: allocation file}: `allocation` for the first treatment when named, else work_dir/allocation/."""
    paths = {t: str(Path(run.work_dir) / ALLOCATION_DIR / f"{t}.json") for t in run.treatments}
    if allocation:
        paths[run.treatments[0]] = allocation
    return paths


@flow(name="recdo-on-new-data", log_prints=True)
def on_new_data(
    file: str,
    partition: str | None = None,
    treatments: list[str] | None = None,
    outcomes: list[str] | None = None,
    baselines: dict[str, str] | None = None,
    db: str | None = None,
    work_dir: str | None = None,
    allocation: str | None = None,
    floor: float = 0.05,
    pool_since: str | None = None,
    params: PipelineParams = PipelineParams(),
) -> RunSummary:
    """The pipeline on `partition` of `file`; every other setting comes from `params` (the deployment's defaults).

    The top-level parameters are what an event's payload says (the server merges a trigger's parameters into
    the deployment's one level deep, so a trigger setting `params` would replace all of them). Treatments,
    outcomes and baselines that neither the event nor the deployment's `params` name are derived from the
    file's columns: a `strategy` log gets a simulation's, a `policy` log Open Bandit's.

    Args:
        file: The log file that arrived (Parquet or CSV).
        partition: Its date partition (YYYY-MM-DD) to run on; empty: every row.
        treatments: Treatment columns; null: the deployment's params.treatments if it names them, else derived.
        outcomes: Outcome columns; null: the deployment's params.outcomes if it names them, else derived.
        baselines: {treatment: value} ATEs are taken against; null: the deployment's, else derived.
        db: DuckDB file for the results; null: params.db (relative to the worker's directory).
        work_dir: Directory for intermediate files; null: params.work_dir (relative to the worker's directory).
        allocation: The allocation file (docs/allocation.md) that served this data and that the next allocation
            replaces, for the first treatment; null: work_dir/allocation/<treatment>.json. Absent: no previous one.
        floor: Exploration floor of the next allocation: each value is served >= floor / k.
        pool_since: Analyse every partition of `file` from this date up to `partition` together (counts pooled),
            where the design allows it: the previous allocation's segment column is in the pooled run's
            adjustment set; else the partition is analysed alone and the run says why. null: params.pool_since.
        params: Every other pipeline setting.

    The closed loop: the allocation that served the new data is read first (a broken file fails the run before
    any work), the pipeline analyses the partition, and the run's stored replicates make the next allocation,
    written atomically beside the previous one's run id. A pair with no decision leaves the previous file in force.
    """
    try:
        check_floor(floor)
    except ValueError as exc:
        raise InputError(f"floor: {exc}") from None
    run = arrival_params(params, file, partition, treatments, outcomes, baselines, db, work_dir, pool_since)
    paths = allocation_paths(run, allocation)
    previous = {t: read_previous_allocation(path) for t, path in paths.items()}
    summary = pipeline(run)
    if run.pool_since:
        breaches = [b for t in paths if (b := check_pooling(run.db, summary.run_id, t, run.outcome, previous[t]))]
        if breaches:  # the pooled estimate may be confounded by the changing allocation: the partition alone
            print(f"pooling from {run.pool_since} refused: {'; '.join(breaches)}; analysing {run.partition} alone")
            run = run.with_changes(pool_since=None)
            summary = pipeline(run)
        else:
            print(f"partitions {run.pool_since}..{run.partition} pooled: the next allocation learns from all of them")
    for t, path in paths.items():
        ref = write_next_allocation(run.db, summary.run_id, t, run.outcome, path, previous[t], floor)
        if ref.path:
            after = f"after run {ref.previous_run_id}" if ref.previous_run_id else "the first (no previous allocation)"
            print(f"next allocation of {t} for {ref.outcome}: {Path(ref.path).resolve()} ({after})")
        else:
            print(f"no next allocation of {t} for {ref.outcome}: {ref.explanation}")
    return summary
