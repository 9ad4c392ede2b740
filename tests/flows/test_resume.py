"""A run killed during training and run again stores the same rows as an uninterrupted run, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

from flows.params import PipelineParams
from flows.pipeline import pipeline

SETTINGS = dict(
    source="table",
    backbone="tiny-bert",
    n_bootstrap=20,
    max_epochs=6,
    batch_size=64,
    io_retry_delay_s=0.0,
    progress=False,
)


def _interventions(db: Path) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        frame = con.execute("SELECT * FROM interventions").df()
    finally:
        con.close()
    cols = [
        "run_id",
        "method",
        "estimand",
        "treatment_value",
        "baseline_value",
        "estimate",
        "ci_low",
        "ci_high",
        "n_rows",
        "adjustment_set",
    ]
    return frame[cols].sort_values(cols[:4]).reset_index(drop=True)


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_kill_during_training_then_rerun(prefect_server, tmp_path, obd_slice):
    from prefect.settings import PREFECT_API_URL

    log = tmp_path / "log.parquet"
    obd_slice.to_parquet(log, index=False)
    db, work = tmp_path / "a.duckdb", tmp_path / "work-a"
    cmd = [
        sys.executable,
        "-m",
        "recdo.cli",
        "run",
        "--data",
        str(log),
        "--source",
        "table",
        "--db",
        str(db),
        "--work-dir",
        str(work),
        "--bootstrap",
        "20",
        "--epochs",
        "6",
        "--batch-size",
        "64",
        "--retry-delay",
        "0",
        "--no-progress",
    ]
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # The first mid-epoch checkpoint (every 50 steps; an epoch here is 38) says training is under way,
        # and 6 epochs leave most of it to go.
        started = _wait_for(lambda: any(work.glob("runs/*/scorer/**/*.ckpt")), timeout=240)
        assert started, "the run never wrote a training checkpoint"
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    con = duckdb.connect(str(db), read_only=True)
    try:  # the kill landed during training: the run is marked running and nothing downstream is stored
        assert con.execute("SELECT status FROM runs").fetchall() == [("running",)]
        assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == 0
    finally:
        con.close()

    params = PipelineParams(data=str(log), db=str(db), work_dir=str(work), **SETTINGS)
    resumed = pipeline(params)
    reference = pipeline(
        params.model_copy(update={"db": str(tmp_path / "b.duckdb"), "work_dir": str(tmp_path / "work-b")})
    )
    assert resumed.run_id == reference.run_id

    got, want = _interventions(db), _interventions(tmp_path / "b.duckdb")
    assert len(got) == len(want) > 0
    pd.testing.assert_frame_equal(got, want)
