"""A results database holding one experiment analysed partition after partition: real ab_diff rows, real writers."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

import store
from causal.effects.ab import ArmCounts, ab_estimates

DAYS = ("2024-03-01", "2024-03-02", "2024-03-03")
VALUES = ("content", "popular", "random")
BASELINE = "random"
# (rows, clicks) per arm and day: every arm passes the arm rule, so every ab_diff ATE row carries its counts.
ARMS = {
    "2024-03-01": {"content": (400, 30), "popular": (380, 41), "random": (420, 25)},
    "2024-03-02": {"content": (410, 33), "popular": (390, 44), "random": (400, 22)},
    "2024-03-03": {"content": (395, 28), "popular": (405, 47), "random": (415, 27)},
}
T0 = datetime(2024, 3, 4, tzinfo=UTC)


def ab_frame(arms: dict[str, tuple[int, int]], partition: str) -> pd.DataFrame:
    """The `interventions` rows `store_effects` writes for these arms: ab_estimates' rows, diagnostics as JSON."""
    outcomes = [ArmCounts(*arms[v]) for v in VALUES]
    rows = pd.DataFrame([asdict(e) for e in ab_estimates("strategy", "click", VALUES, BASELINE, outcomes, 0.95)])
    rows["adjustment_set"] = rows["adjustment_set"].map(lambda s: json.dumps(list(s)))
    rows["diagnostics"] = rows["diagnostics"].map(lambda d: json.dumps(d, sort_keys=True, default=str))
    return rows.assign(source="table:log.parquet", partition=partition, created_at=T0)


def add_run(
    db: Path,
    run_id: str,
    partition: str | None,
    arms: dict[str, tuple[int, int]],
    status: str = "completed",
    data: str = "log.parquet",
    finished: int = 0,
    pool_since: str | None = None,
) -> None:
    """One run of the pipeline as the store holds it: its `runs` row and its ab_diff rows."""
    params = {"data": data, "source": "table", "partition": partition, "treatments": ["strategy"]}
    if pool_since:  # a pooled run: its arms are every partition's from pool_since to its own
        params["pool_since"] = pool_since
    with store.connect(db) as con:
        store.upsert_run(
            con,
            run_id,
            status=status,
            params=params,
            started_at=T0 + timedelta(minutes=finished),
            finished_at=T0 + timedelta(minutes=finished + 1) if status != "running" else None,
        )
        store.replace_rows(con, "interventions", ab_frame(arms, partition or "all"), run_id)


def fill_experiment(db: Path, days: tuple[str, ...] = DAYS) -> list[str]:
    """One completed run per day (run ids r-<day>), plus runs a monitor must not read; returns the day runs' ids."""
    ids = []
    for k, day in enumerate(days):
        ids.append(f"r-{day}")
        add_run(db, ids[-1], day, ARMS[day], finished=10 * k + 5)
    # An older completed run of the first day (superseded by the later one), a failed one, another log's run:
    # none of them may enter the looks; their counts would show up in the pooled rows if they did.
    add_run(db, "old-first-day", days[0], {v: (1000, 500) for v in VALUES}, finished=0)
    add_run(db, "failed-second-day", days[min(1, len(days) - 1)], {v: (900, 90) for v in VALUES}, status="failed")
    add_run(db, "other-log", days[0], {v: (700, 70) for v in VALUES}, data="other.parquet", finished=1)
    return ids
