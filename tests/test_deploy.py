"""prefect.yaml is accepted by `prefect deploy` against a real Prefect server, with every parameter described."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PREFECT = str(Path(sys.executable).with_name("prefect"))


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
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("prefect server did not come up on loopback")
                time.sleep(0.5)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _prefect(env, *args) -> str:
    done = subprocess.run([PREFECT, "--no-prompt", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_prefect_deploy_accepts_prefect_yaml(real_server):
    env = real_server
    _prefect(env, "work-pool", "create", "recdo-local", "--type", "process")
    _prefect(env, "deploy", "--all")
    url = f"{env['PREFECT_API_URL']}/deployments/name/recdo-pipeline/pipeline"
    with urllib.request.urlopen(url, timeout=10) as resp:
        deployment = json.load(resp)
    assert deployment["work_pool_name"] == "recdo-local"
    assert deployment["entrypoint"] == "flows/pipeline.py:pipeline"
    assert deployment["parameters"]["params"]["data"] == "data/obd-sample"
    schema = json.dumps(deployment["parameter_openapi_schema"])
    for field in ("max_rejected_share", "n_bootstrap", "backbone", "io_retries"):
        assert field in schema
    assert "Bootstrap replicates for the intervals." in schema
