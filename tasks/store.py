"""Tasks: write each stage's results to DuckDB, replacing the run's earlier rows (retried I/O)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

import causal
import store
from store.lineage import code_version
from tasks._retry import retry_unless_bad_input
from tasks.refs import GateRef, LogRef, ScoreRef

_io = dict(cache_policy=NO_CACHE, retry_condition_fn=retry_unless_bad_input)


@task(name="start run", **_io)
def start_run(db: str, run_id: str, params: dict, log: LogRef, flow_run_id: str | None) -> None:
    """Record the run and clear what an earlier attempt of the same run id left behind.

    Runs left `running` by a process that is gone (killed) are marked `interrupted` first.
    """
    with store.connect(db) as con:
        store.mark_interrupted(con, run_id, store.now())
        for table in store.TABLES:
            if table != "runs":
                store.replace_rows(con, table, pd.DataFrame(), run_id)
        store.upsert_run(
            con,
            run_id,
            flow_run_id=flow_run_id,
            started_at=store.now(),
            finished_at=None,
            status="running",
            params=params,
            data_hash=log.data_hash,
            code_version=code_version(),
            source=log.source,
            message=log.notes,
            rows_in=None,  # set by store_validation once the gate has run
            rows_processed=None,
            rows_quarantined=None,
            owner=store.process_owner(),
        )


@task(name="store validation", **_io)
def store_validation(db: str, run_id: str, gate: GateRef) -> int:
    """The gate's results, its quarantined rows and the run's row counts; returns the rows quarantined.

    The quarantine goes from its Parquet file into the table inside DuckDB, batch by batch, so a large
    quarantine never sits whole in Python; like replace_rows, it replaces the run's rows in one transaction.
    """
    results = pd.read_parquet(gate.results_path).rename(columns={"column": "column_name"})
    with store.connect(db) as con:
        store.replace_rows(con, "validation_results", results, run_id)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM quarantine WHERE run_id = ?", [run_id])
            written = con.execute(
                "INSERT INTO quarantine BY NAME SELECT ? AS run_id, row_number, rule, row_json, ? AS created_at "
                "FROM read_parquet(?)",
                [run_id, store.now(), gate.quarantine_path],
            ).fetchone()[0]
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        store.upsert_run(
            con, run_id, rows_in=gate.n_in, rows_processed=gate.n_clean, rows_quarantined=gate.n_quarantined
        )
        return int(written)


def _metric_split(name: str) -> tuple[str, str]:
    for split in ("train", "val"):
        if name.endswith(f"_{split}"):
            return split, name[: -len(split) - 1]
    return "all", name


@task(name="store scores", **_io)
def store_scores(db: str, run_id: str, scored: ScoreRef) -> int:
    """The scorer's metrics and every row's score; the scores go from the scored file into DuckDB directly."""
    metrics = pd.DataFrame(
        [(scored.backbone, *_metric_split(name), float(value)) for name, value in scored.metrics.items()],
        columns=["backbone", "split", "metric", "value"],
    )
    with store.connect(db) as con:
        store.replace_rows(con, "scorer_metrics", metrics, run_id)
        columns = ("event_id", "score", "split")
        return store.replace_rows_from_parquet(con, "scores", scored.scored_path, columns, run_id)


def interventions_frame(estimates: tuple[causal.Estimate, ...], source: str, partition: str) -> pd.DataFrame:
    rows = [asdict(e) for e in estimates]
    frame = pd.DataFrame(rows)
    frame["adjustment_set"] = frame["adjustment_set"].map(lambda s: json.dumps(list(s)))
    if "diagnostics" in frame:
        frame["diagnostics"] = frame["diagnostics"].map(lambda d: json.dumps(d, sort_keys=True, default=str))
    return frame.assign(source=source, partition=partition, created_at=store.now())


@task(name="store effects", **_io)
def store_effects(
    db: str,
    run_id: str,
    reports: tuple[causal.EffectReport, ...],
    source: str,
    partition: str,
    extra: tuple[causal.Estimate, ...] = (),
) -> int:
    """Every pair's network (edges with bootstrap frequencies) and estimates, replacing the run's rows."""
    edges = pd.DataFrame(
        [
            (r.treatment, r.outcome, u, v, float(freq), (u, v) in r.edges)
            for r in reports
            for (u, v), freq in sorted(r.edge_frequency.items())
        ],
        columns=["treatment", "outcome", "source_node", "target_node", "frequency", "in_network"],
    )
    with store.connect(db) as con:
        store.replace_rows(con, "bn_edges", edges, run_id)
        rows = interventions_frame(tuple(e for r in reports for e in r.estimates) + tuple(extra), source, partition)
        return store.replace_rows(con, "interventions", rows, run_id)


@task(name="finish run", **_io)
def finish_run(db: str, run_id: str, status: str, message: str) -> None:
    with store.connect(db) as con:
        store.upsert_run(con, run_id, status=status, finished_at=store.now(), message=message)


def policy_values_frame(values: tuple) -> pd.DataFrame:
    """`policy_values` rows of `causal.decide.policy.PolicyValue`s."""
    rows = [{**asdict(v), "policy": json.dumps(v.policy, sort_keys=True)} for v in values]
    columns = ["treatment", "outcome", "segment", "method", "policy", "estimate", "ci_low", "ci_high", "n_rows"]
    return pd.DataFrame(rows, columns=[*columns, "explanation"])


@task(name="store replicates", **_io)
def store_replicates(db: str, run_id: str, pairs: tuple) -> int:
    """Every pair's bootstrap replicates and segment-policy values (`causal.decide.run.PairReplicates`).

    Replaces the run's rows like every other table, so a retried run never holds two copies; returns rows written.
    """
    frames = [p.frame for p in pairs]
    replicates = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    with store.connect(db) as con:
        values = policy_values_frame(tuple(v for p in pairs for v in p.policy_values))
        store.replace_rows(con, "policy_values", values, run_id)
        return store.replace_rows(con, "replicates", replicates, run_id)
