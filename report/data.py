"""What the report shows, read from a results database in one go: the focus run and every partition's history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from store.sequential import read_sequential

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, read from the database in one go."""

    db: str
    run: dict  # the run the DAG and the estimate panels are about
    runs: pd.DataFrame  # every run, with its partition
    edges: pd.DataFrame
    estimates: pd.DataFrame
    over_time: pd.DataFrame  # bn_do rows of the latest completed run of each dated partition
    validation: pd.DataFrame
    quarantine: pd.DataFrame  # rule, n for the run
    quarantine_by_run: pd.DataFrame
    metrics: pd.DataFrame
    # The run's `sequential_looks`: per ab_diff contrast, the confidence sequence and fixed interval at each look.
    sequential: pd.DataFrame = field(default_factory=pd.DataFrame)
    # The run's `replicates` and `policy_values` rows: what `recdo decide` decides from (report/decision.py).
    replicates: pd.DataFrame = field(default_factory=pd.DataFrame)
    policy_values: pd.DataFrame = field(default_factory=pd.DataFrame)


def _df(con: duckdb.DuckDBPyConnection, sql: str, args: Sequence = ()) -> pd.DataFrame:
    return con.execute(sql, list(args)).df()


def run_rows(con: duckdb.DuckDBPyConnection, table: str, run_id: str) -> pd.DataFrame:
    """`table`'s rows of `run_id`; empty in a database made before the table existed (read-only opens add none)."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()[0]
    return _df(con, f"SELECT * FROM {table} WHERE run_id = ?", [run_id]) if exists else pd.DataFrame()


def _partition(params: object) -> str:
    """A run's partition from its stored params (a JSON string, or already a dict); "all" when it has none."""
    return (json.loads(params) if isinstance(params, str) else (params or {})).get("partition") or "all"


def load(con: duckdb.DuckDBPyConnection, db: str, run_id: str | None = None) -> ReportData:
    """Read the focus run (given, else the latest completed one) and the per-partition history."""
    runs = _df(con, "SELECT * FROM runs ORDER BY started_at")
    if runs.empty:
        raise ValueError(f"{db!r} holds no runs; run `recdo run --db {db}` first")
    runs["partition"] = [_partition(p) for p in runs["params"]]
    if run_id is None:
        done = runs[runs.status == "completed"]
        if done.empty:
            statuses = sorted(runs.status.dropna().unique())
            raise ValueError(f"{db!r} holds no completed run (statuses: {statuses}); pass --run-id")
        run_id = done.sort_values("finished_at").run_id.iloc[-1]
    elif run_id not in set(runs.run_id):
        raise ValueError(f"run {run_id!r} is not in {db!r}; known runs: {list(runs.run_id)[-10:]}")
    run = runs[runs.run_id == run_id].iloc[0].to_dict()

    latest = (
        runs[(runs.status == "completed") & (runs.partition != "all")]
        .sort_values("finished_at")
        .groupby("partition")
        .tail(1)
    )
    over_time = pd.DataFrame()
    if len(latest):
        ids = list(latest.run_id)
        marks = ",".join("?" * len(ids))
        over_time = _df(
            con,
            'SELECT run_id, "partition", treatment, treatment_value, baseline_value, outcome, estimand, method, '
            "estimate, ci_low, ci_high FROM interventions WHERE method = 'bn_do' "
            f"AND estimand IN ('ate', 'interventional_mean') AND run_id IN ({marks})",
            ids,
        )
        # A row without its own partition is placed by its run's (x is the partition; "None" would be a lie).
        run_partition = over_time.run_id.map(dict(zip(latest.run_id, latest.partition)))
        over_time["partition"] = over_time["partition"].where(over_time["partition"].notna(), run_partition)
    q_by_run = _df(con, "SELECT run_id, count(*) AS n_quarantined FROM quarantine GROUP BY run_id")
    by_rule = "SELECT rule, count(*) AS n FROM quarantine WHERE run_id = ? GROUP BY rule ORDER BY n DESC"
    return ReportData(
        db=db,
        run=run,
        runs=runs,
        edges=_df(con, "SELECT * FROM bn_edges WHERE run_id = ?", [run_id]),
        estimates=_df(con, "SELECT * FROM interventions WHERE run_id = ?", [run_id]),
        over_time=over_time,
        validation=_df(con, "SELECT * FROM validation_results WHERE run_id = ?", [run_id]),
        quarantine=_df(con, by_rule, [run_id]),
        quarantine_by_run=q_by_run,
        metrics=_df(con, "SELECT * FROM scorer_metrics WHERE run_id = ? ORDER BY split, metric", [run_id]),
        sequential=read_sequential(con, run_id),
        replicates=run_rows(con, "replicates", run_id),
        policy_values=run_rows(con, "policy_values", run_id),
    )
