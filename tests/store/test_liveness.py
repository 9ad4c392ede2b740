"""A run whose process died is marked interrupted by the next run on the database; a live one is left alone."""

from __future__ import annotations

import os
import subprocess
import sys

import store
from store.liveness import owner_alive, process_owner


def test_a_killed_owner_is_dead_and_a_live_one_alive():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = process_owner(child.pid)
        assert owner_alive(owner) is True
        assert owner_alive(process_owner()) is True
    finally:
        child.kill()
        child.wait()
    assert owner_alive(owner) is False
    host, pid, ticks = owner.split(":")
    assert owner_alive(f"{host}:{os.getpid()}:1") is False  # a live pid that started at another time: reused
    assert owner_alive(f"elsewhere-{host}:{pid}:{ticks}") is None  # another host cannot be checked


def test_next_run_marks_killed_runs_interrupted(tmp_path):
    db = tmp_path / "r.duckdb"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead_owner = process_owner(child.pid)
    child.kill()
    child.wait()
    with store.connect(db) as con:
        store.upsert_run(con, "killed", status="running", owner=dead_owner)
        store.upsert_run(con, "alive", status="running", owner=process_owner())
        store.upsert_run(con, "remote", status="running", owner="another-host:1:1")
        store.upsert_run(con, "done", status="completed", owner=dead_owner)
        assert store.mark_interrupted(con, "next", store.now()) == ["killed"]
        status = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
        message = con.execute("SELECT message FROM runs WHERE run_id = 'killed'").fetchone()[0]
    assert status == {"killed": "interrupted", "alive": "running", "remote": "running", "done": "completed"}
    assert "noticed by run next" in message
