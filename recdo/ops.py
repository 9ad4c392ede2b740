"""Command-line pieces of operations (issue 6): `recdo backfill`, and the run flags for partitions, caching and Dask."""

from __future__ import annotations

import argparse
import os
import sys


def add_run_flags(run: argparse.ArgumentParser) -> None:
    """Flags `recdo run` and `recdo backfill` share: where tasks run and whether caches are used."""
    run.add_argument("--refresh", action="store_true", help="recompute the cached stages (scorer, structure and effects) even on unchanged inputs")
    run.add_argument("--task-runner", choices=["thread", "dask"], default="thread", help="run the estimate tasks (each pair's network and bootstrap chunks) and backfill partitions on threads or on Dask")
    run.add_argument("--bootstrap-chunk", type=int, default=25, help="bootstrap replicates per seeded chunk, the unit of parallel work (the intervals depend on it)")
    run.add_argument("--dask-address", default=None, help="scheduler of a running Dask cluster (tcp://host:8786); default with --task-runner dask: a local cluster")


def run_fields(args: argparse.Namespace) -> dict:
    """PipelineParams fields from the flags above (and --partition where the command has it)."""
    fields = dict(
        refresh=args.refresh, task_runner=args.task_runner, dask_address=args.dask_address, bootstrap_chunk=args.bootstrap_chunk
    )
    if getattr(args, "partition", None):
        fields["partition"] = args.partition
    return fields


def backfill_params(args: argparse.Namespace):
    """The PipelineParams every partition of `recdo backfill` runs with (the partition itself is added per run)."""
    from flows.params import PipelineParams
    from recdo.cli import _parse_map, _treatments_outcomes

    fields = dict(
        data=args.data,
        source=args.source,
        column_map=_parse_map(args.map),
        **_treatments_outcomes(args),
        n_bootstrap=args.bootstrap,
        max_epochs=args.epochs,
        seed=args.seed,
        db=args.db,
        work_dir=args.work_dir,
        off_policy=not args.no_off_policy,
        progress=not args.no_progress,
        **run_fields(args),
    )
    return PipelineParams(**fields)


def cmd_backfill(args: argparse.Namespace) -> int:
    if not os.path.exists(args.data):
        print(f"recdo: no log at {args.data!r}; pass --data FILE.csv|.parquet or a `recdo simulate` folder", file=sys.stderr)
        return 2
    params = backfill_params(args)

    from flows.backfill import backfill
    from recdo.partitions import PartitionError

    try:
        summary = backfill(start=args.start, end=args.end, concurrency=args.concurrency, force=args.force, params=params)
    except (PartitionError, RuntimeError) as exc:
        print(f"\nrecdo: {exc}", file=sys.stderr)
        return 1
    print(
        f"backfill {args.start}..{args.end}: ran {len(summary.ran)} ({', '.join(summary.ran) or '-'}), "
        f"already completed {len(summary.skipped)}, without rows {len(summary.empty)} ({', '.join(summary.empty) or '-'})\n"
        f"results: {args.db} (recdo report --db {args.db} --out report.html)"
    )
    return 0


def add_backfill_parser(sub) -> None:
    b = sub.add_parser("backfill", help="run the pipeline on each date partition from --start to --end, skipping completed ones")
    b.add_argument("--start", required=True, help="first partition, YYYY-MM-DD")
    b.add_argument("--end", required=True, help="last partition, YYYY-MM-DD (included)")
    b.add_argument("--concurrency", type=int, default=2, help="partitions running at once")
    b.add_argument("--force", action="store_true", help="re-run completed partitions too (their rows are replaced)")
    b.add_argument("--data", default="data/obd-sample", help="the log holding the partitions (a `partition` column, or dates of `ts`)")
    b.add_argument("--source", choices=["auto", "obd", "table"], default="auto")
    b.add_argument("--map", action="append", default=[], metavar="FILE_COL=CANONICAL_COL")
    b.add_argument("--treatment", action="append", default=[], help="treatment column (repeatable)")
    b.add_argument("--outcome", action="append", default=[], help="0/1 outcome column (repeatable)")
    b.add_argument("--baseline", action="append", default=[], metavar="[TREATMENT=]VALUE")
    b.add_argument("--db", default="recdo.duckdb")
    b.add_argument("--work-dir", default=".recdo")
    b.add_argument("--bootstrap", type=int, default=200)
    b.add_argument("--epochs", type=int, default=1)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--no-off-policy", action="store_true", help="skip off-policy evaluation")
    b.add_argument("--no-progress", action="store_true")
    add_run_flags(b)
    b.set_defaults(func=cmd_backfill)


def add_parsers(sub) -> None:
    """Every operations subcommand: watch, ingest, backfill, report."""
    from recdo.report import add_parser as add_report
    from recdo.watch import add_parsers as add_watch

    add_watch(sub)
    add_backfill_parser(sub)
    add_report(sub)
