"""Shared fixtures: offline settings, one Prefect test server per session, small real logs."""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
OBD = REPO / "data" / "obd-sample"


def pytest_collection_modifyitems(config, items):
    """A test that starts Prefect (the server fixture) is an integration test and slow, marked or not."""
    for item in items:
        if "prefect_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def obd_log() -> pd.DataFrame:
    import sources

    return sources.load_obd(OBD).frame


@pytest.fixture(scope="session")
def obd_slice(obd_log: pd.DataFrame) -> pd.DataFrame:
    """The first 2,500 rows of each policy's log (9 and 7 clicks: enough for every arm to be estimated)."""
    return obd_log.groupby("policy", group_keys=False).head(2500).reset_index(drop=True)


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect API for every flow test in the session (starting one takes seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def week_log(tmp_path_factory) -> Path:
    """2,800 simulated impressions over 2024-03-01..07 (a `partition` column, ~400 rows a day)."""
    from causal.sim.simulator import SimulatorConfig, simulate

    sim = simulate(SimulatorConfig(users=200, impressions=2800, seed=0, days=7))
    path = tmp_path_factory.mktemp("week") / "week.parquet"
    sim.log.to_parquet(path, index=False)
    return path
