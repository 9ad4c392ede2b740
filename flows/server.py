"""One local Prefect API server per work directory: shared by concurrent runs, stopped when the last one has gone."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common.processes import start_ticks  # stdlib only: the supervisor starts without pandas or duckdb
from flows.prefect_seed import seed_database

# Migrating a fresh SQLite database on a busy 2-core machine took ~10-40 s here; Prefect's own 20 s
# ephemeral default is what made concurrent runs fail ("Timed out while attempting to connect").
STARTUP_TIMEOUT_S = 240.0
# The server outlives its last client by this much, so back-to-back runs (a backfill's partitions,
# a shell loop) reuse it instead of paying the start-up again.
IDLE_GRACE_S = 2.0
POLL_S = 0.5
STOP_WAIT_S = 8.0
SUPERVISOR_ARG = "supervise"


class LocalApiError(RuntimeError):
    """The local Prefect API server could not be started or reached."""


@dataclass(frozen=True)
class ServerPaths:
    """Everything the local server writes, all under `work_dir/prefect` (nothing lands in ~/.prefect)."""

    root: Path
    lock: Path  # flock'ed while a run looks for, or starts, the server, and while the supervisor stops it
    state: Path  # server.json: a ServerState, written once /health answers
    clients: Path  # one empty file per run using the server, named pid-starttime
    log: Path  # the supervisor's and the server's output
    database: Path

    @classmethod
    def of(cls, work_dir: str | os.PathLike[str]) -> ServerPaths:
        root = Path(work_dir).resolve() / "prefect"
        files = ("server.lock", "server.json", "clients", "server.log", "prefect.db")
        return cls(root, *(root / name for name in files))


@dataclass(frozen=True)
class ServerState:
    """The running server as its supervisor recorded it once /health answered."""

    url: str
    supervisor_pid: int
    server_pid: int
    started_in_s: float


# ---- processes and files shared by both sides -------------------------------------------------


def _token(pid: int) -> str:
    return f"{pid}-{start_ticks(pid)}"


def _alive(token: str) -> bool:
    pid, _, start = token.partition("-")
    return start_ticks(int(pid)) == start


def _live_clients(paths: ServerPaths) -> list[str]:
    """Registered clients still running; files of dead ones (SIGKILL leaves them behind) are removed."""
    live = []
    for entry in paths.clients.glob("*"):
        if _alive(entry.name):
            live.append(entry.name)
        else:
            entry.unlink(missing_ok=True)
    return live


@contextlib.contextmanager
def _locked(paths: ServerPaths, timeout_s: float) -> Iterator[bool]:
    """Hold the work dir's server lock (flock: the kernel releases it if the holder dies); False on timeout."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.1)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _healthy(url: str, timeout_s: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout_s) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _read_state(paths: ServerPaths) -> ServerState | None:
    try:
        return ServerState(**json.loads(paths.state.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


# ---- the client side: what `recdo run` / `recdo backfill` enter ----------------------------------


def _ensure_server(paths: ServerPaths, token: str, timeout_s: float) -> ServerState:
    """Under the lock: register `token`, then reuse the work dir's live server or start one and wait for it."""
    with _locked(paths, timeout_s) as got:
        if not got:
            raise LocalApiError(
                f"the local Prefect server lock {paths.lock} stayed held for {timeout_s:.0f} s; "
                f"read {paths.log}, or set PREFECT_API_URL to a running server"
            )
        paths.clients.mkdir(exist_ok=True)
        (paths.clients / token).touch()
        state = _read_state(paths)
        if state and _answering(state, timeout_s):
            return state
        paths.state.unlink(missing_ok=True)  # a supervisor killed outright leaves its record behind
        return _start_supervisor(paths, timeout_s)


def _answering(state: ServerState, timeout_s: float) -> bool:
    """Whether the recorded server serves; a slow answer from a live supervisor's server is waited for, since
    starting a second server on the same database would be worse than waiting."""
    deadline = time.monotonic() + timeout_s
    while start_ticks(state.supervisor_pid) is not None:
        if _healthy(state.url):
            return True
        if time.monotonic() >= deadline:
            raise LocalApiError(
                f"the local Prefect API server {state.url} (supervisor pid {state.supervisor_pid}) did not answer "
                f"/health for {timeout_s:.0f} s; stop that pid, or set PREFECT_API_URL to a running server"
            )
        time.sleep(0.5)
    return False


def _start_supervisor(paths: ServerPaths, timeout_s: float) -> ServerState:
    started = time.monotonic()
    with open(paths.log, "w") as log:
        # Its own session: Ctrl-C in the terminal reaches the runs, and the supervisor outlives any of them.
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "flows.server", SUPERVISOR_ARG, str(paths.root), "--timeout", str(timeout_s)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
    while time.monotonic() - started < timeout_s + STOP_WAIT_S:
        state = _read_state(paths)
        if state is not None and state.supervisor_pid == supervisor.pid:
            return state
        if supervisor.poll() is not None:
            raise LocalApiError(
                f"the local Prefect API server for {paths.root.parent} did not start (supervisor exit code "
                f"{supervisor.returncode}); read {paths.log}, or set PREFECT_API_URL to a running server"
            )
        time.sleep(0.2)
    supervisor.terminate()
    raise LocalApiError(
        f"the local Prefect API server for {paths.root.parent} did not answer /health within {timeout_s:.0f} s; "
        f"read {paths.log}, or set PREFECT_API_URL to a running server"
    )


def _drain_prefect_workers() -> None:
    """Send buffered flow logs and events before this run lets go of the server (as prefect_test_harness does)."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        with contextlib.suppress(RuntimeError):  # a worker that never started
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())


@contextlib.contextmanager
def _pointed_at(url: str) -> Iterator[None]:
    """This process (its settings context, new threads, child processes) talks to `url` and never starts its own."""
    import prefect.context
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
        temporary_settings,
    )

    # Prefect reads the environment once, when it is imported: os.environ alone is too late for this process,
    # but it is what child processes (the scorer's DDP workers) read.
    before = {key: os.environ.get(key) for key in ("PREFECT_API_URL", "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE")}
    os.environ.update(PREFECT_API_URL=url, PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false")
    try:
        # No flow-run heartbeats on this private server (only a user's automation reads them, and the end of every
        # flow waits out the heartbeat thread's 1 s sleep); a server named by PREFECT_API_URL keeps them.
        private = {
            PREFECT_API_URL: url,
            PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: False,
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
        }
        with temporary_settings(updates=private):
            # Threads started later (Prefect's log and event workers) see the global context, not ours.
            with prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()):
                try:
                    yield
                finally:
                    # A failed drain costs the last log lines at most; it must not replace the run's own error.
                    with contextlib.suppress(Exception):
                        _drain_prefect_workers()
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def local_api(work_dir: str | os.PathLike[str], startup_timeout_s: float = STARTUP_TIMEOUT_S) -> Iterator[str]:
    """Point this process at a Prefect API for the block's duration and yield its URL.

    With PREFECT_API_URL set (a real server, the UI deployments) it changes nothing. Otherwise it uses the one
    local server of `work_dir` (started if needed, shared by concurrent runs); a supervisor process stops that
    server a few seconds after its last run has gone, SIGKILLed runs included. Files: `work_dir/prefect/`.
    """
    from prefect.settings import PREFECT_API_URL

    existing = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if existing:
        yield existing
        return
    paths = ServerPaths.of(work_dir)
    token = _token(os.getpid())
    try:
        state = _ensure_server(paths, token, startup_timeout_s)
        with _pointed_at(state.url):
            yield state.url
    finally:
        (paths.clients / token).unlink(missing_ok=True)


# ---- the supervisor: `python -m flows.server supervise DIR`, one per running server -----------------


def _say(message: str) -> None:
    print(f"[recdo supervisor {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _die_with_parent(parent: int) -> None:
    """In the server's child: the kernel sends it SIGTERM if the supervisor dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the supervisor died between fork and prctl
        os._exit(1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(paths: ServerPaths, port: int) -> subprocess.Popen[bytes]:
    """Prefect's own ephemeral server command (no UI, light services), on our port, database and home."""
    import importlib.util

    prefect_dir = Path(importlib.util.find_spec("prefect").origin).parent  # no prefect import in the supervisor
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(paths.root),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{paths.database}",
        PREFECT_UI_ENABLED="0",
        PREFECT__SERVER_EPHEMERAL="1",
        PREFECT__SERVER_FINAL="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect_dir.parent), "--factory"]
    command += ["prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "error", "--lifespan", "on"]
    parent = os.getpid()
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, preexec_fn=lambda: _die_with_parent(parent))


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _serve_until_ready(paths: ServerPaths, timeout_s: float) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server and wait for /health; a port taken between choosing and binding gets a second try."""
    deadline = time.monotonic() + timeout_s
    for _attempt in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}/api"
        _say(f"starting the Prefect API server on {url}")
        server = _launch(paths, port)
        while time.monotonic() < deadline and server.poll() is None:
            if _healthy(url, timeout_s=5.0):
                return server, url
            time.sleep(0.25)
        if server.poll() is None:
            _stop(server)
            break
        _say(f"the server exited with code {server.returncode} before answering")
    raise SystemExit(f"the Prefect API server did not answer /health within {timeout_s:.0f} s")


def supervise(root: Path, timeout_s: float) -> int:
    """Run the server while any registered client lives; stop it (and return) when none has for IDLE_GRACE_S."""
    paths = ServerPaths.of(root.parent)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    began = time.monotonic()
    _say(seed_database(paths.database))
    server, url = _serve_until_ready(paths, timeout_s)
    state = ServerState(url, os.getpid(), server.pid, round(time.monotonic() - began, 2))
    scratch = paths.state.with_suffix(".tmp")
    scratch.write_text(json.dumps(dataclasses.asdict(state)))
    os.replace(scratch, paths.state)  # clients never read a half-written record
    _say(f"ready in {state.started_in_s:.1f} s")
    idle_since: float | None = None
    while not stopping:
        time.sleep(POLL_S)
        if server.poll() is not None:
            _say(f"the server exited by itself with code {server.returncode}")
            break
        if _live_clients(paths):
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since < IDLE_GRACE_S:
            continue
        # Decide under the lock: a client that registered meanwhile keeps the server; one that comes after
        # finds no record and starts a new server.
        with _locked(paths, timeout_s=30.0) as got:
            if got and not _live_clients(paths):
                _say("no run uses the server any more; stopping it")
                paths.state.unlink(missing_ok=True)
                _stop(server)
                return 0
    with _locked(paths, timeout_s=30.0):
        current = _read_state(paths)
        if current and current.supervisor_pid == os.getpid():
            paths.state.unlink(missing_ok=True)
    _stop(server)
    return 0 if stopping else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.server", description=__doc__)
    parser.add_argument("command", choices=[SUPERVISOR_ARG])
    parser.add_argument("root", type=Path, help="the work dir's prefect/ folder")
    parser.add_argument("--timeout", type=float, default=STARTUP_TIMEOUT_S, help="seconds to wait for /health")
    args = parser.parse_args(argv)
    return supervise(args.root, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
