"""Shared pieces of the flow and operations tests: light run settings, DuckDB reads, the Prefect CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
PREFECT = str(Path(sys.executable).with_name("prefect"))  # the CLI of the Prefect this interpreter imports
WEEK = [f"2024-03-0{d}" for d in range(1, 8)]
# A few hundred rows per partition, one pair, few replicates: each run takes seconds here.
LIGHT = dict(
    treatments=["strategy"],
    outcomes=["click"],
    baselines={"strategy": "random"},
    n_bootstrap=10,
    backbone="tiny-bert",  # the random tiny BERT: quick, and the tests' answers do not depend on text
    max_epochs=1,
    batch_size=128,
    off_policy=False,
    progress=False,
    io_retry_delay_s=0.5,
)


def query(db: str | Path, sql: str, args: tuple = ()) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(args)).df()
    finally:
        con.close()


def row_counts(db: str | Path) -> dict[str, int]:
    import store

    return {t: int(query(db, f"SELECT count(*) n FROM {t}").n[0]) for t in store.TABLES}


def prefect_cli(env: dict, *args: str) -> str:
    """Run `prefect ARGS` in the repo (where prefect.yaml is) against env's API; fail the test on a non-zero exit."""
    done = subprocess.run(
        [PREFECT, "--no-prompt", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
