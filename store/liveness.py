"""Which process owns a running run, and marking runs whose process died (SIGKILL, power loss) as interrupted."""

from __future__ import annotations

import os
import socket

import duckdb

from common.processes import start_ticks


def process_owner(pid: int | None = None) -> str:
    """`host:pid:start` of this (or the given) process, as stored in runs.owner."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{start_ticks(pid) or '?'}"


def owner_alive(owner: str) -> bool | None:
    """True or False for an owner on this host; None when it ran elsewhere (another host cannot be checked)."""
    host, _, rest = owner.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return ticks in ("?", start_ticks(pid))


def mark_interrupted(con: duckdb.DuckDBPyConnection, by_run_id: str, now: object) -> list[str]:
    """Mark every `running` run whose process on this host is gone as `interrupted`; returns their ids.

    A run killed with SIGKILL never reaches its own `failed` write; the next run on the database notices.
    Runs started on another host are left as they are: their process cannot be checked from here.
    """
    stale = con.execute("SELECT run_id, owner FROM runs WHERE status = 'running' AND owner IS NOT NULL").fetchall()
    dead = [run_id for run_id, owner in stale if run_id != by_run_id and owner_alive(owner) is False]
    for run_id in dead:
        con.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?, message = ? WHERE run_id = ?",
            [
                now,
                f"its process ended without finishing (killed?); noticed by run {by_run_id}. Run it again to "
                "finish: its rows are replaced, never duplicated",
                run_id,
            ],
        )
    return dead
