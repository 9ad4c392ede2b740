"""Backfills: a killed one re-run completes only the missing partitions; a forced re-run gives identical rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from uuid import UUID

import pandas as pd
import pytest

import store
from tests.helpers import WEEK, query, row_counts


def _args(log, db, work) -> list[str]:
    return [
        "backfill",
        "--data",
        str(log),
        "--start",
        WEEK[0],
        "--end",
        WEEK[-1],
        "--concurrency",
        "2",
        "--treatment",
        "strategy",
        "--outcome",
        "click",
        "--baseline",
        "strategy=random",
        "--backbone",
        "tiny-bert",
        "--bootstrap",
        "10",
        "--epochs",
        "1",
        "--no-off-policy",
        "--no-progress",
        "--db",
        str(db),
        "--work-dir",
        str(work),
    ]


def _estimates(db) -> pd.DataFrame:
    cols = [
        "run_id",
        "partition",
        "treatment_value",
        "estimand",
        "method",
        "segment",
        "estimate",
        "ci_low",
        "ci_high",
        "n_rows",
    ]
    frame = query(db, "SELECT * FROM interventions")
    cols = [c for c in cols if c in frame.columns]
    return frame[cols].sort_values(cols[:6]).reset_index(drop=True)


@pytest.fixture(scope="module")
def backfilled(prefect_server, week_log, tmp_path_factory):
    """Kill a 7-partition backfill part-way, re-run it, force a re-run of two partitions, run the range once more."""
    from prefect.settings import PREFECT_API_URL

    from flows.backfill import backfill
    from recdo.cli import build_parser
    from recdo.cli.args import params_from_args

    tmp = tmp_path_factory.mktemp("backfill")
    db, work = tmp / "b.duckdb", tmp / "work"
    argv = _args(week_log, db, work)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "recdo.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:  # each finished partition run writes its report last: kill once two are done, five are not
        deadline = time.monotonic() + 300
        while len(list((work / "reports").glob("*.html"))) < 2:
            assert proc.poll() is None, "the backfill ended before it could be killed"
            assert time.monotonic() < deadline, "no partition finished within 300 s"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    at_kill = query(db, "SELECT run_id, status, params FROM runs")
    done_at_kill = {json.loads(p)["partition"] for p, s in zip(at_kill.params, at_kill.status) if s == "completed"}

    params = params_from_args(build_parser().parse_args(argv))  # exactly what the killed command ran with
    t0 = time.monotonic()
    resumed = backfill(start=WEEK[0], end=WEEK[-1], concurrency=2, params=params)
    resume_s = time.monotonic() - t0
    counts, estimates = row_counts(db), _estimates(db)
    t0 = time.monotonic()
    # Forced over part of the range (cached stages make it quick): those partitions' rows are replaced, not added.
    # The partitions go to a Dask LocalCluster this time: the same run ids, the same rows.
    on_dask = params.model_copy(update={"task_runner": "dask"})
    forced = backfill(start=WEEK[2], end=WEEK[3], concurrency=2, force=True, params=on_dask)
    forced_s = time.monotonic() - t0
    again = backfill(start=WEEK[0], end=WEEK[-1], concurrency=2, params=params)
    print(
        f"backfill timings: resume {resume_s:.1f} s ({len(resumed.ran)} partitions), forced re-run of 2 "
        f"{forced_s:.1f} s"
    )
    return dict(
        params=params,
        db=db,
        work=work,
        done_at_kill=done_at_kill,
        resumed=resumed,
        forced=forced,
        again=again,
        counts=counts,
        estimates=estimates,
    )


def test_killed_backfill_rerun_completes_only_the_missing_partitions(backfilled):
    done, resumed = backfilled["done_at_kill"], backfilled["resumed"]
    assert 2 <= len(done) < 7, done
    assert set(resumed.skipped) == done
    assert set(resumed.ran) == set(WEEK) - done
    assert resumed.empty == ()
    runs = query(backfilled["db"], "SELECT run_id, status FROM runs")
    assert set(runs.run_id) == set(resumed.run_ids.values()) and (runs.status == "completed").all()
    assert sorted(query(backfilled["db"], 'SELECT DISTINCT "partition" p FROM interventions').p) == WEEK


def test_rerunning_a_range_replaces_its_rows(backfilled):
    forced, again = backfilled["forced"], backfilled["again"]
    assert set(forced.ran) == set(WEEK[2:4]) and forced.skipped == ()
    assert forced.run_ids == {d: backfilled["resumed"].run_ids[d] for d in WEEK[2:4]}
    # A run's always-valid looks cover the partitions stored before it, so a re-run may hold more looks than the
    # first pass did (backfill partitions finish in any order); every other table holds exactly the same rows.
    counts, before = row_counts(backfilled["db"]), backfilled["counts"]
    assert {t: n for t, n in counts.items() if t != "sequential_looks"} == {
        t: n for t, n in before.items() if t != "sequential_looks"
    }
    dupes = query(
        backfilled["db"],
        "SELECT count(*) n FROM (SELECT run_id, treatment, treatment_value, baseline_value, outcome, look "
        "FROM sequential_looks GROUP BY ALL HAVING count(*) > 1)",
    )
    assert int(dupes.n[0]) == 0  # replaced, never duplicated
    assert backfilled["counts"]["interventions"] > 0 and backfilled["counts"]["scores"] == 2800
    pd.testing.assert_frame_equal(_estimates(backfilled["db"]), backfilled["estimates"])
    assert again.ran == () and set(again.skipped) == set(WEEK)


def test_every_stored_row_traces_to_its_run(backfilled):
    """Each table's rows join to a runs row holding data hash, parameters, code version and a real flow run id."""
    from prefect.client.orchestration import get_client

    db = backfilled["db"]
    runs = query(db, "SELECT * FROM runs")
    for column in ("data_hash", "params", "code_version", "flow_run_id"):
        assert runs[column].notna().all() and (runs[column] != "").all(), column
    for table in store.TABLES:
        if table == "runs":
            continue
        joined = query(
            db,
            (
                f"SELECT t.run_id, r.data_hash, r.params, r.code_version, r.flow_run_id FROM {table} t LEFT JOIN runs "
                f"r USING (run_id)"
            ),
        )
        if table in ("quarantine",):  # clean simulated data: nothing quarantined
            assert joined.empty
            continue
        assert len(joined) > 0, table
        assert joined.flow_run_id.notna().all() and joined.data_hash.notna().all(), table
        assert {json.loads(p)["partition"] for p in joined.params} == set(WEEK), table
    with get_client(sync_client=True) as client:  # the flow run each row names ran that row's partition
        for flow_run_id, params in zip(runs.flow_run_id, runs.params):
            flow_run = client.read_flow_run(UUID(flow_run_id))
            # (its state may still read Running: the process of the first attempt was killed after storing)
            assert flow_run.flow_id and flow_run.parameters["params"]["partition"] == json.loads(params)["partition"]


def test_report_of_the_backfill_has_every_partition(backfilled, tmp_path):
    from report.page import write_report

    html = write_report(backfilled["db"], tmp_path / "r.html").read_text()
    # ATE and interventional mean of strategy → click over the week, and the always-valid monitor of its A/B contrast
    assert html.count('class="over-time"') == 3 and "Always-valid monitoring" in html
    for day in WEEK:
        assert f">{day}</text>" in html
    # the run's own report, written by the flow, sits in the work dir
    assert len(list((backfilled["work"] / "reports").glob("run-*.html"))) == 7


def test_a_completed_partition_without_its_report_gets_it_on_the_next_backfill(backfilled):
    """A kill between a run's "finish run" and its "publish report" leaves a completed run with no page."""
    from flows.backfill import backfill

    run_id = backfilled["resumed"].run_ids[WEEK[0]]
    page = backfilled["work"] / "reports" / f"{run_id}.html"
    assert page.is_file()
    page.unlink()
    again = backfill(start=WEEK[0], end=WEEK[-1], concurrency=2, params=backfilled["params"])
    assert set(again.skipped) == set(WEEK) and again.ran == ()  # nothing re-estimated
    assert page.is_file() and run_id in page.read_text()
