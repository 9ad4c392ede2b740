"""Runs a GX suite on a pandas frame in the process's one quiet ephemeral context."""

from __future__ import annotations

import logging
import threading
from functools import cache

import great_expectations as gx
import pandas as pd
from great_expectations.core import ExpectationValidationResult
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.data_context import EphemeralDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig

from expectations import QUIET_GX

if QUIET_GX:
    # GX pins this one logger at INFO when imported; it announces the ephemeral context's temp dir.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

# COMPLETE returns every unexpected row's index (not only the first 20); the pandas query string
# GX would build from those indices is of no use here.
RESULT_FORMAT: dict[str, object] = {"result_format": "COMPLETE", "return_unexpected_index_query": False}

# Prefect may run tasks in threads; the context's datasource registry is shared state.
_lock = threading.Lock()


@cache
def context() -> EphemeralDataContext:
    """The process's one ephemeral GX context (making one per run costs time and buys nothing)."""
    ctx = gx.get_context(mode="ephemeral")
    # GX's tqdm bars would land in Prefect's logs and the user's terminal.
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return ctx


@cache
def _whole_frame() -> BatchDefinition:
    source = context().data_sources.add_pandas("recdo")
    return source.add_dataframe_asset("log").add_batch_definition_whole_dataframe("whole")


def validate(frame: pd.DataFrame, suite: gx.ExpectationSuite) -> list[ExpectationValidationResult]:
    """GX's result for each expectation of `suite` on `frame`, with every unexpected row's index."""
    with _lock:
        batch = _whole_frame().get_batch(batch_parameters={"dataframe": frame})
        return list(batch.validate(suite, result_format=RESULT_FORMAT).results)
