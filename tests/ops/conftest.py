"""A real `prefect server` on a free loopback port, for the deployment and event tests; a simulated day's file."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import PREFECT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def real_server(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("prefect server did not come up on loopback") from None
                time.sleep(0.5)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="session")
def sim_day(tmp_path_factory) -> Path:
    """One simulated day (2024-03-01, 200 rows): a `strategy` log with no `policy` column, like `recdo simulate`'s."""
    from causal.sim.simulator import SimulatorConfig, simulate

    log = simulate(SimulatorConfig(users=40, impressions=200, seed=0, days=1)).log
    path = tmp_path_factory.mktemp("sim") / "2024-03-01.parquet"
    log.to_parquet(path, index=False)
    return path
