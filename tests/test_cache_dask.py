"""Cached stages (a second run on unchanged data skips training and structure learning) and the Dask task runner."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest

from flows.params import PipelineParams
from flows.pipeline import pipeline
from tests.ops_fixtures import LIGHT, WEEK, query, week_log  # noqa: F401  (week_log is a fixture)

CACHED = ("train scorer", "estimate effects")


def _params(week_log, tmp: Path, **overrides) -> PipelineParams:
    settings = {**LIGHT, "outcomes": ["click", "returned"], "db": str(tmp / "r.duckdb"), "work_dir": str(tmp / "work")}
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
    cols = [c for c in ("run_id", "partition", "treatment", "outcome", "treatment_value", "estimand", "method", "segment",
                        "estimate", "ci_low", "ci_high", "n_rows", "adjustment_set") if c in frame.columns]
    return frame[cols].sort_values(cols[:8]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(prefect_server, week_log, tmp_path_factory):
    """One run on the default (thread) runner, then the same run again."""
    tmp = tmp_path_factory.mktemp("cache")
    params = _params(week_log, tmp)
    first = pipeline(params)
    scored = Path(params.work_dir) / "runs" / first.run_id / "scored.parquet"
    first_states, first_mtime, first_rows = _task_states(params.db), scored.stat().st_mtime_ns, _estimates(params.db)
    second = pipeline(params)
    return dict(
        params=params, first=first, second=second, scored=scored, first_states=first_states, first_mtime=first_mtime,
        first_rows=first_rows,
    )


def test_second_run_on_unchanged_data_skips_training_and_structure_learning(reference):
    params, scored = reference["params"], reference["scored"]
    for name in CACHED:
        assert reference["first_states"][name] and "Cached" not in reference["first_states"][name], name
    states = _task_states(params.db)
    assert states["train scorer"] == ["Cached"]
    assert states["estimate effects"] == ["Cached", "Cached"]  # (strategy, click) and (strategy, returned)
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
    assert states["estimate effects"] == ["Completed", "Completed"]
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
    assert submitted == ["estimate effects", "estimate effects"]  # both pairs went to the cluster
    assert summary.run_id == reference["first"].run_id
    states = _task_states(params.db)
    assert states["estimate effects"] == ["Completed", "Completed"]  # computed there, not read from a cache
    pd.testing.assert_frame_equal(_estimates(params.db), reference["first_rows"], check_exact=False, rtol=1e-9)
