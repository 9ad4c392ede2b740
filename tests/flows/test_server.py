"""The local Prefect API of a work dir: one server shared by concurrent runs, gone after SIGKILL of its last run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from flows.server import LocalApiError, ServerPaths, local_api
from tests.helpers import REPO

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# A run as `recdo run` makes it: enter local_api, run a trivial flow, then stay alive for argv[2] seconds.
DRIVER = textwrap.dedent(
    """
    import os, sys, time
    began = time.monotonic()
    from prefect import flow
    from flows.server import local_api

    from prefect.settings import get_current_settings

    @flow
    def hello() -> int:
        return os.getpid()

    with local_api(sys.argv[1]) as url:
        print("URL", url, round(time.monotonic() - began, 2), flush=True)
        assert hello() == os.getpid()
        heartbeat = get_current_settings().flows.heartbeat_frequency
        print("RAN", round(time.monotonic() - began, 2), heartbeat, flush=True)
        time.sleep(float(sys.argv[2]))
    """
)
START_S = 300  # a fresh database's migrations, three interpreters importing Prefect, 2 busy cores
CLEANUP_S = 15


def _driver(work: Path, tmp: Path, name: str, stay_s: float) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    # Its own Prefect home; temporary servers allowed as for a user, so a flow that missed our URL would start
    # one silently, and the check that the flow is recorded on the work dir's server would fail.
    env.update(PREFECT_HOME=str(tmp / "home"), PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="true")
    out = tmp / f"{name}.out"
    with open(out, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(work), str(stay_s)], cwd=REPO, env=env, stdout=sink, stderr=sink
        )
    return proc, out


def _line(out: Path, proc: subprocess.Popen[bytes], prefix: str) -> list[str]:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        for line in out.read_text().splitlines():
            if line.startswith(prefix + " "):
                return line.split()
        assert proc.poll() is None, f"the driver exited with {proc.returncode}:\n{out.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no {prefix!r} line from the driver in {START_S} s:\n{out.read_text()[-3000:]}")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie waits for a parent's wait(); it runs nothing and holds no port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


def _flow_names(url: str) -> set[str]:
    request = urllib.request.Request(f"{url}/flows/filter", data=b"{}", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return {flow["name"] for flow in json.load(response)}


def _wait_until(check, seconds: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if check():
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"{check.__name__} still false after {seconds} s")


def test_sigkill_of_the_run_leaves_no_server(tmp_path: Path) -> None:
    work = tmp_path / "work"
    proc, out = _driver(work, tmp_path, "driver", stay_s=600)
    try:
        _, url, ready_s = _line(out, proc, "URL")
        # no heartbeats on the private server: the end of a flow would wait out the heartbeat thread's sleep
        assert _line(out, proc, "RAN")[2] == "None"
        state = json.loads(ServerPaths.of(work).state.read_text())
        assert state["url"] == url and _answers(url)
        assert "hello" in _flow_names(url), "the flow ran against another API than the work dir's server"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        def server_gone() -> bool:
            return _gone(state["server_pid"]) and _gone(state["supervisor_pid"]) and not _answers(url)

        cleanup_s = _wait_until(server_gone, CLEANUP_S)
    finally:
        proc.kill()
    assert not ServerPaths.of(work).state.exists()
    assert list(ServerPaths.of(work).clients.iterdir()) == []
    print(f"\nserver up {state['started_in_s']} s, run connected {ready_s} s; gone {cleanup_s:.1f} s after SIGKILL")


def test_three_concurrent_runs_share_one_server(tmp_path: Path) -> None:
    work = tmp_path / "work"
    runs = [_driver(work, tmp_path, f"driver{i}", stay_s=3) for i in range(3)]
    try:
        for proc, out in runs:
            _line(out, proc, "RAN")
        urls = [_line(out, proc, "URL")[1] for proc, out in runs]
        codes = [proc.wait(timeout=START_S) for proc, _ in runs]
    finally:
        for proc, _ in runs:
            proc.kill()
    assert codes == [0, 0, 0], [out.read_text()[-2000:] for _, out in runs]
    # The server's shutdown noise goes to work/prefect/server.log, never to a run's terminal.
    assert not [out for _, out in runs if "Traceback" in out.read_text()]
    assert len(set(urls)) == 1, f"three runs used {len(set(urls))} servers: {urls}"
    assert "hello" in _flow_names(urls[0])
    log = ServerPaths.of(work).log.read_text()
    assert log.count("starting the Prefect API server") == 1, log
    _wait_until(lambda: not _answers(urls[0]), CLEANUP_S)


def test_a_killed_supervisor_takes_its_server_along_and_the_next_run_starts_another(tmp_path: Path) -> None:
    work = tmp_path / "work"
    first, first_out = _driver(work, tmp_path, "first", stay_s=600)
    try:
        _line(first_out, first, "RAN")
        state = json.loads(ServerPaths.of(work).state.read_text())
        os.kill(state["supervisor_pid"], signal.SIGKILL)

        def server_gone() -> bool:
            return _gone(state["server_pid"]) and not _answers(state["url"])

        _wait_until(server_gone, CLEANUP_S)  # PR_SET_PDEATHSIG: the kernel stops it with its supervisor
        second, second_out = _driver(work, tmp_path, "second", stay_s=0)
        assert second.wait(timeout=START_S) == 0, second_out.read_text()[-3000:]
        url = _line(second_out, second, "URL")[1]
        assert url != state["url"] and _answers(url)  # the first run is still registered, so it stays up
    finally:
        first.kill()
        first.wait()
    _wait_until(lambda: not _answers(url), CLEANUP_S)


def test_a_set_api_url_is_used_and_nothing_is_started(tmp_path: Path, monkeypatch) -> None:
    from prefect.settings import get_current_settings

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    before = get_current_settings().flows.heartbeat_frequency
    with local_api(tmp_path) as url:
        assert url == "http://127.0.0.1:9/api"
        assert get_current_settings().flows.heartbeat_frequency == before is not None  # a named server keeps them
    assert not (tmp_path / "prefect").exists()


def test_a_server_that_cannot_start_names_its_log(tmp_path: Path, monkeypatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    paths = ServerPaths.of(tmp_path)
    # No URL even when another test's session-wide prefect_server harness is active.
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(LocalApiError, match=r"did not start .*read .*server\.log"):
            with local_api(tmp_path, startup_timeout_s=0.5):
                pytest.fail("the block ran without a server")
    assert "did not answer /health within" in paths.log.read_text()
    assert list(paths.clients.iterdir()) == []  # the failed run is not left registered
    assert not paths.state.exists()


def test_a_server_set_in_prefect_settings_only_is_used(tmp_path: Path, prefect_server) -> None:
    """prefect_test_harness sets the URL in Prefect's settings, not os.environ: CLI tests run in-process so."""
    from prefect.settings import PREFECT_API_URL

    assert "PREFECT_API_URL" not in os.environ
    with local_api(tmp_path) as url:
        assert url == PREFECT_API_URL.value()
    assert not (tmp_path / "prefect").exists()
