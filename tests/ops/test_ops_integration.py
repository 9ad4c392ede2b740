"""End to end on loopback: a real Prefect server and process worker, deployments from prefect.yaml, `recdo watch`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

from tests.helpers import LIGHT, PREFECT, REPO, WEEK, prefect_cli, query

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # a real Prefect server, worker and CLI processes


@pytest.fixture
def quick_slots(monkeypatch):
    """A run waiting for on-new-data's single slot is retried after 2 s instead of 30 (set before the server starts)."""
    monkeypatch.setenv("PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS", "2")


def _api(env: dict, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        env["PREFECT_API_URL"] + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    # A busy server (SQLite locked by the worker's and the deploy's writes) answers 503: retried, as Prefect's
    # own client retries it.
    for attempt in range(6):
        try:
            with urllib.request.urlopen(request, timeout=15) as resp:
                text = resp.read()
            return json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            if exc.code not in (502, 503) or attempt == 5:
                raise
            time.sleep(1 + attempt)


def _deployment_runs(env: dict, deployment_id: str) -> list[dict]:
    return _api(env, "POST", "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}})


def _spawn(args: list[str], env: dict, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, cwd=REPO, start_new_session=True, **kwargs)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _drop(frame: pd.DataFrame, incoming, name: str) -> None:
    """Write-then-rename, as a well-behaved producer does: the temp name is never read."""
    tmp = incoming / f".{name}.part"
    frame.to_parquet(tmp, index=False)
    tmp.rename(incoming / name)


def test_a_simulated_day_runs_with_derived_settings_and_explicit_flags_pass_through(
    quick_slots, real_server, week_log, tmp_path
):
    """The deployment as prefect.yaml makes it names no treatments: each event's run derives them or takes the flags."""
    env = {**real_server, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
    db, work, incoming = (tmp_path / "r.duckdb").resolve(), (tmp_path / "work").resolve(), tmp_path / "incoming"
    incoming.mkdir()
    prefect_cli(env, "work-pool", "create", "recdo-local", "--type", "process")
    worker = _spawn(
        [PREFECT, "worker", "start", "--pool", "recdo-local", "--type", "process"],
        env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cli = [sys.executable, "-m", "recdo.cli"]
    watch_args = [
        "watch",
        str(incoming),
        "--db",
        str(db),
        "--work-dir",
        str(work),
        "--settle",
        "1",
        "--interval",
        "0.3",
    ]
    watcher = _spawn(cli + watch_args, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(line) for line in watcher.stdout], daemon=True).start()
    try:
        prefect_cli(env, "deploy", "--all")
        on_new = next(d for d in _api(env, "POST", "/deployments/filter", {}) if d["name"] == "on-new-data")
        assert not {"treatments", "outcomes", "baselines", "data"} & set(on_new["parameters"]["params"])
        # Lighter settings, still naming none of treatments, outcomes, baselines, db or work_dir.
        light = {k: v for k, v in LIGHT.items() if k not in ("treatments", "outcomes", "baselines")}
        _api(env, "PATCH", f"/deployments/{on_new['id']}", {"parameters": {"params": light}})
        while not any(line.startswith("watching ") for line in lines):
            assert watcher.poll() is None, lines
            time.sleep(0.2)
        assert f"runs write results to {db}, intermediate files to {work}" in lines[0]

        log = pd.read_parquet(week_log)
        assert "policy" not in log.columns  # the old deployment default (treatments [policy]) failed on this log
        _drop(log[log.partition == WEEK[0]], incoming, f"{WEEK[0]}.parquet")  # watched: nothing said
        explicit = tmp_path / f"{WEEK[1]}.parquet"
        log[log.partition == WEEK[1]].to_parquet(explicit, index=False)
        flags = ["--treatment", "strategy", "--outcome", "click", "--baseline", "strategy=popular"]
        done = subprocess.run(
            cli + ["ingest", str(explicit), "--db", str(db), *flags], env=env, cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0 and f"runs write results to {db}" in done.stdout, done.stdout + done.stderr

        deadline = time.monotonic() + 420
        while True:
            runs = _deployment_runs(env, on_new["id"])
            if sum(r["state"]["type"] == "COMPLETED" for r in runs) == 2:
                break
            failed = [r for r in runs if r["state"]["type"] in ("FAILED", "CRASHED")]
            assert not failed, failed[0]["state"]
            assert time.monotonic() < deadline, f"runs: {[r['state']['name'] for r in runs]}; watcher: {lines}"
            time.sleep(1)
        by_day = {r["parameters"]["partition"]: r["parameters"] for r in runs}
        # The trigger passes the payload's fields with their types; a field the payload lacks arrives as null.
        assert by_day[WEEK[0]]["treatments"] is None and by_day[WEEK[0]]["db"] == str(db)
        assert by_day[WEEK[1]]["treatments"] == ["strategy"] and by_day[WEEK[1]]["baselines"] == {"strategy": "popular"}

        stored = query(db, "SELECT params FROM runs WHERE status = 'completed'")
        asked = {json.loads(p)["partition"]: json.loads(p) for p in stored.params}
        assert asked[WEEK[0]]["treatments"] == ["strategy", "reason_shown"]  # derived, as `recdo run` would
        assert asked[WEEK[0]]["outcomes"] == ["click", "returned"]
        assert asked[WEEK[0]]["work_dir"] == str(work) and (work / "runs").is_dir()
        assert (asked[WEEK[1]]["treatments"], asked[WEEK[1]]["outcomes"]) == (["strategy"], ["click"])
        pairs = query(
            db,
            'SELECT "partition" p, treatment, outcome, list(DISTINCT baseline_value) baselines FROM interventions '
            "WHERE estimand = 'ate' GROUP BY ALL ORDER BY ALL",
        )
        got = {(r.p, r.treatment, r.outcome): list(r.baselines) for r in pairs.itertuples()}
        assert got == {
            (WEEK[0], "reason_shown", "click"): ["0"],
            (WEEK[0], "reason_shown", "returned"): ["0"],
            (WEEK[0], "strategy", "click"): ["random"],
            (WEEK[0], "strategy", "returned"): ["random"],
            (WEEK[1], "strategy", "click"): ["popular"],
        }
        assert on_new["global_concurrency_limit"]["limit"] == 1  # one writer of the DuckDB file at a time
        assert sorted(r["parameters"]["partition"] for r in runs) == WEEK[:2] and len(runs) == 2
        assert sum("emitted recdo.data.arrived" in line for line in lines) == 1, lines  # the other came by ingest
        days = [log[log.partition == day] for day in WEEK[:2]]
        assert query(db, "SELECT count(*) n FROM scores").n[0] == sum(len(f) for f in days)
        # Lineage: each stored run names its flow run, a subflow of one of the two deployment runs.
        stored = query(db, "SELECT flow_run_id, data_hash FROM runs")
        for flow_run_id in stored.flow_run_id:
            sub = _api(env, "GET", f"/flow_runs/{flow_run_id}")
            parent = _api(env, "GET", f"/task_runs/{sub['parent_task_run_id']}")
            assert parent["flow_run_id"] in {r["id"] for r in runs}
        ledger = query(db, 'SELECT "partition", data_hash FROM ingested_files ORDER BY 1')
        assert ledger.partition.tolist() == WEEK[:2] and set(ledger.data_hash) == set(stored.data_hash)

        # The same bytes again, under a new name: recorded as seen, no event, no run.
        shutil.copy(incoming / f"{WEEK[0]}.parquet", incoming / ".again.part")
        (incoming / ".again.part").rename(incoming / "again.parquet")
        deadline = time.monotonic() + 30
        while not any("again.parquet: content already ingested" in line for line in lines):
            assert time.monotonic() < deadline, lines
            time.sleep(0.2)
        assert sum("emitted recdo.data.arrived" in line for line in lines) == 1, lines
        assert len(_deployment_runs(env, on_new["id"])) == 2
    finally:
        _stop(watcher)
        _stop(worker)
