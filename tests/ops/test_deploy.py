"""prefect.yaml is accepted by `prefect deploy` against a real Prefect server, with every parameter described."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.helpers import prefect_cli

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # a real `prefect server` and `prefect deploy`


def test_prefect_deploy_accepts_prefect_yaml(real_server):
    env = real_server
    prefect_cli(env, "work-pool", "create", "recdo-local", "--type", "process")
    prefect_cli(env, "deploy", "--all")
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
