"""Always-valid monitoring in DuckDB: each run's confidence sequence over its experiment's partitions, per A/B pair.

One experiment analysed partition after partition is the set of runs with the same data (params `data`,
`source` and `pool_since`) and different `partition` values, as a backfill or the on-new-data flow makes them. A
run's looks are the experiment's partitions up to its own, each from the latest completed run of that partition
(the run itself for its own partition, whatever its status, since it is stored while it runs), pooled in partition
order from the `ab_diff` ATE rows' diagnostics (n_t, n_c, mean_t, mean_c) -- or taken as they are from runs with
`pool_since`, which pooled them already -- and turned into a confidence sequence beside the fixed-horizon interval
at every look (`causal.effects.sequential`). A run without a partition is one look.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from store.db import replace_rows

if TYPE_CHECKING:
    import duckdb

TABLE = "sequential_looks"
METHOD = "normal_mixture_cs"
WHOLE_LOG = "all"  # the partition label of a run over the whole log, as `interventions` rows carry it
# The key of one monitored contrast: the same four columns as an `ab_diff` ATE row of `interventions`.
PAIR_KEY = ("treatment", "treatment_value", "baseline_value", "outcome")

# The table is made by store/schema.sql with the others (and cleared with them when a run starts again).
COLUMNS = (
    "run_id",
    *PAIR_KEY,
    "method",
    "alpha",
    "look",
    "partition",
    "look_run_id",
    "n_treatment",
    "n_control",
    "n_rows",
    "estimate",
    "cs_low",
    "cs_high",
    "fixed_low",
    "fixed_high",
    "rejects_always_valid",
    "rejects_naive",
    "created_at",
)
_AB_COUNTS = ("n_t", "n_c", "mean_t", "mean_c")

Frames = tuple[pd.DataFrame, pd.DataFrame]  # (runs, interventions) as the tables hold them


def _params(raw: object) -> dict:
    """A run's stored params (a JSON string, or already a dict)."""
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def experiment_of(params: dict) -> tuple[str | None, str | None, str | None]:
    """What makes two runs the same experiment, the partition aside: the data they read, how, and from which date.

    Runs with `pool_since` each pool every partition from that date to their own: their A/B counts are already
    the cumulative look, and only runs pooling from the same date are looks of one experiment.
    """
    return params.get("data"), params.get("source"), params.get("pool_since")


def _read(con: duckdb.DuckDBPyConnection) -> Frames:
    """Every run and the ab_diff ATE rows: the only rows a monitor reads (a few per run and pair)."""
    runs = con.execute("SELECT run_id, status, params, started_at, finished_at FROM runs").df()
    rows = con.execute(
        "SELECT run_id, treatment, treatment_value, baseline_value, outcome, diagnostics FROM interventions "
        "WHERE method = 'ab_diff' AND estimand = 'ate'"
    ).df()
    return runs, rows


def experiment_runs(runs: pd.DataFrame, run_id: str) -> list[tuple[str, str]]:
    """(partition, run id) of each look of `run_id`'s experiment, in partition order, ending with `run_id` itself."""
    if run_id not in set(runs.run_id):
        known = sorted(runs.run_id)[-10:]
        raise ValueError(f"run {run_id!r} is not in the runs table; known runs: {known}; store the run first")
    runs = runs.assign(_params=[_params(p) for p in runs.params])
    me = runs[runs.run_id == run_id].iloc[0]
    partition = me._params.get("partition")
    if not partition:
        return [(WHOLE_LOG, run_id)]
    key = experiment_of(me._params)
    earlier = runs[
        (runs.run_id != run_id)
        & (runs.status == "completed")
        & runs._params.map(lambda p: experiment_of(p) == key and bool(p.get("partition")))
    ]
    earlier = earlier.assign(partition=earlier._params.map(lambda p: str(p["partition"])))
    # Strictly earlier partitions: this run is the look of its own one, even when a re-run of it completed before.
    earlier = earlier[earlier.partition < str(partition)].sort_values(["finished_at", "started_at"])
    latest = earlier.groupby("partition").tail(1).sort_values("partition")
    return [*zip(latest.partition, latest.run_id), (str(partition), run_id)]


def _counts(diagnostics: object) -> dict | None:
    """n_t, n_c, mean_t, mean_c of a stored ab_diff row; None where the row has none (an arm too thin to test)."""
    d = json.loads(diagnostics) if isinstance(diagnostics, str) else diagnostics
    if not isinstance(d, dict) or any(k not in d for k in _AB_COUNTS):
        return None
    values = {k: d[k] for k in _AB_COUNTS}
    if any(v is None or not math.isfinite(float(v)) for v in values.values()):
        return None
    return values


def sequential_rows(
    source: duckdb.DuckDBPyConnection | Frames,
    run_id: str,
    alpha: float = 0.05,
    created_at: datetime | None = None,
) -> pd.DataFrame:
    """The `sequential_looks` rows of `run_id`: per ab_diff contrast of the run, one row per look of its experiment.

    `source` is a connection to the results database or its (runs, interventions) frames. A partition whose row
    for a contrast has no counts (an arm too thin to test stores none) adds no look to that contrast: its rows
    cannot be pooled, and the look columns say which partitions and how many rows each look holds.
    """
    # Imported here: the store's other modules stay free of the causal package for callers that only write rows.
    from causal.effects.sequential import confidence_sequence, looks_frame, looks_from_ab

    runs, rows = source if isinstance(source, tuple) else _read(source)
    looks = experiment_runs(runs, run_id)
    # a run with pool_since holds every partition since that date: its counts are already the cumulative look
    cumulative = _params(runs.loc[runs.run_id == run_id, "params"].iloc[0]).get("pool_since") is not None
    order = {rid: i for i, (_, rid) in enumerate(looks)}
    partition_of = dict((rid, p) for p, rid in looks)
    rows = rows[rows.run_id.isin(order)].assign(_counts=lambda f: f.diagnostics.map(_counts))
    rows = rows.assign(_order=rows.run_id.map(order)).sort_values("_order")
    mine = set(rows.loc[rows.run_id == run_id, list(PAIR_KEY)].itertuples(index=False, name=None))
    frames = []
    for key, pair in rows.groupby(list(PAIR_KEY), sort=True):
        if key not in mine:
            continue  # a contrast this run no longer estimates is not this run's to monitor
        pair = pair[pair._counts.notna()].drop_duplicates("run_id", keep="last")
        if pair.empty:
            continue
        counts = looks_from_ab(list(pair._counts), cumulative=cumulative)
        frame = looks_frame([partition_of[r] for r in pair.run_id], counts, confidence_sequence(counts, alpha))
        frames.append(frame.assign(look_run_id=list(pair.run_id), **dict(zip(PAIR_KEY, key))))
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    out = pd.concat(frames, ignore_index=True).assign(
        run_id=run_id, method=METHOD, alpha=float(alpha), created_at=created_at or pd.Timestamp.now(tz="UTC")
    )
    return out[list(COLUMNS)]


def write_sequential(con: duckdb.DuckDBPyConnection, run_id: str, frame: pd.DataFrame) -> int:
    """Replace `run_id`'s rows of `sequential_looks` by `frame` in one transaction; rows written.

    Delete-then-insert makes a retried or repeated run leave exactly one copy, as `store.replace_rows` does.
    """
    wrong = set(frame.run_id.astype(str)) - {run_id} if "run_id" in frame else set()
    if wrong:
        raise ValueError(f"rows of runs {sorted(wrong)} passed to write run {run_id!r}; pass that run's rows only")
    return replace_rows(con, TABLE, frame, run_id)  # the store's one delete-then-insert transaction


def read_sequential(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """`run_id`'s looks in look order; empty (with the columns) in a database whose runs never stored any."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [TABLE]).fetchone()[0]
    if not exists:
        return pd.DataFrame(columns=list(COLUMNS))
    return con.execute(
        f"SELECT * FROM {TABLE} WHERE run_id = ? ORDER BY treatment, outcome, baseline_value, treatment_value, look",
        [run_id],
    ).df()
