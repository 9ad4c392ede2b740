"""The event-driven flow: a `recdo.data.arrived` event (file, partition) runs the pipeline on that partition."""

from __future__ import annotations

from prefect import flow

from flows.params import PipelineParams
from flows.pipeline import RunSummary, pipeline


@flow(name="recdo-on-new-data", log_prints=True)
def on_new_data(file: str, partition: str | None = None, params: PipelineParams = PipelineParams()) -> RunSummary:
    """The pipeline on `partition` of `file`; every other setting comes from `params` (the deployment's defaults).

    `file` and `partition` are top-level parameters because the server merges a trigger's parameters
    into the deployment's one level deep: a trigger setting `params` would replace all of them.
    """
    run = params.with_changes(data=file, source="table", partition=partition or None, run_id=None)
    return pipeline(run)
