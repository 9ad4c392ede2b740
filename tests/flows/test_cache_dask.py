"""Cached stages (a second run on unchanged data skips training and structure learning) and the Dask task runner,
which gets every bootstrap chunk of every (treatment, outcome) pair as a task of its own."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest

from flows.params import PipelineParams
from flows.pipeline import pipeline
from tests.helpers import LIGHT, WEEK, query

CACHED = ("train scorer", "prepare effects", "bootstrap chunk")
PAIRS, CHUNKS = 2, 3  # (strategy, click) and (strategy, returned); LIGHT's 10 replicates in chunks of 4, 4 and 2


def _params(week_log, tmp: Path, **overrides) -> PipelineParams:
    settings = {
        **LIGHT,
        "outcomes": ["click", "returned"],
        "bootstrap_chunk": 4,
        "db": str(tmp / "r.duckdb"),
        "work_dir": str(tmp / "work"),
    }
    return PipelineParams(data=str(week_log), partition=WEEK[0], **{**settings, **overrides})


def _task_states(db: str) -> dict[str, list[str]]:
    """State names of the last run's tasks, by task name (from the flow run id its runs row holds)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_run_id = query(db, "SELECT flow_run_id FROM runs").flow_run_id.iloc[0]
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    states: dict[str, list[str]] = {}
    for run in runs:
        states.setdefault(run.name.rsplit("-", 1)[0], []).append(run.state.name)
    return states


def _estimates(db: str) -> pd.DataFrame:
    frame = query(db, "SELECT * FROM interventions")
    cols = [
        c
        for c in (
            "run_id",
            "partition",
            "treatment",
            "outcome",
            "treatment_value",
            "estimand",
            "method",
            "segment",
            "estimate",
            "ci_low",
            "ci_high",
            "n_rows",
            "adjustment_set",
        )
        if c in frame.columns
    ]
    return frame[cols].sort_values(cols[:8]).reset_index(drop=True)


def _edges(db: str) -> pd.DataFrame:
    """The networks' edges with their bootstrap frequencies."""
    frame = query(db, "SELECT treatment, outcome, source_node, target_node, frequency FROM bn_edges")
    return frame.sort_values(list(frame.columns[:4])).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(prefect_server, week_log, tmp_path_factory):
    """One run on the default (thread) runner, then the same run again."""
    tmp = tmp_path_factory.mktemp("cache")
    params = _params(week_log, tmp)
    first = pipeline(params)
    scored = Path(params.work_dir) / "runs" / first.run_id / "scored.parquet"
    first_states, first_mtime, first_rows = _task_states(params.db), scored.stat().st_mtime_ns, _estimates(params.db)
    first_edges = _edges(params.db)
    second = pipeline(params)
    return dict(
        params=params,
        first=first,
        second=second,
        scored=scored,
        first_states=first_states,
        first_mtime=first_mtime,
        first_rows=first_rows,
        first_edges=first_edges,
    )


def test_second_run_on_unchanged_data_skips_training_and_structure_learning(reference):
    params, scored = reference["params"], reference["scored"]
    for name in CACHED:
        assert reference["first_states"][name] and "Cached" not in reference["first_states"][name], name
    states = _task_states(params.db)
    assert states["train scorer"] == ["Cached"]
    assert states["prepare effects"] == ["Cached"] * PAIRS  # structure learning on all rows
    assert states["bootstrap chunk"] == ["Cached"] * (PAIRS * CHUNKS)  # and in every replicate
    assert states["combine effects"] == ["Completed"] * PAIRS  # cheap: percentiles of the cached chunks
    assert states["validate"] == ["Completed"]  # uncached stages still run
    assert scored.stat().st_mtime_ns == reference["first_mtime"]  # the scorer wrote nothing
    assert reference["second"].run_id == reference["first"].run_id
    pd.testing.assert_frame_equal(_estimates(params.db), reference["first_rows"])


def test_refresh_recomputes_the_cached_stages(reference):
    params = reference["params"].model_copy(update={"refresh": True})
    assert params.run_id_for("x") == reference["params"].run_id_for("x")  # refresh is not part of the run id
    pipeline(params)
    states = _task_states(params.db)
    assert states["train scorer"] == ["Completed"]
    assert states["prepare effects"] == ["Completed"] * PAIRS
    assert states["bootstrap chunk"] == ["Completed"] * (PAIRS * CHUNKS)
    assert reference["scored"].stat().st_mtime_ns != reference["first_mtime"]
    # Same seed, same inputs: recomputed estimates equal the cached ones.
    pd.testing.assert_frame_equal(_estimates(params.db), reference["first_rows"], check_exact=False, rtol=1e-9)


def test_dask_local_cluster_stores_the_same_estimates(reference, tmp_path, monkeypatch):
    from prefect_dask import DaskTaskRunner

    submitted = []
    original = DaskTaskRunner.submit

    def spy(self, task, *args, **kwargs):
        submitted.append(task.name)
        return original(self, task, *args, **kwargs)

    monkeypatch.setattr(DaskTaskRunner, "submit", spy)
    params = reference["params"].model_copy(
        update={"task_runner": "dask", "db": str(tmp_path / "dask.duckdb"), "work_dir": str(tmp_path / "work")}
    )
    summary = pipeline(params)
    # Every pair's network, each of its bootstrap chunks, their combination and its replicates went to the cluster.
    assert Counter(submitted) == {
        "prepare effects": PAIRS,
        "bootstrap chunk": PAIRS * CHUNKS,
        "combine effects": PAIRS,
        "collect replicates": PAIRS,
    }
    assert summary.run_id == reference["first"].run_id
    states = _task_states(params.db)
    assert states["prepare effects"] == ["Completed"] * PAIRS  # computed there, not read from a cache
    assert states["bootstrap chunk"] == ["Completed"] * (PAIRS * CHUNKS)
    # Chunks are seeded by their number, not by where or when they ran: the thread runner's numbers exactly.
    pd.testing.assert_frame_equal(_estimates(params.db), reference["first_rows"], check_exact=True)
    pd.testing.assert_frame_equal(_edges(params.db), reference["first_edges"], check_exact=True)
