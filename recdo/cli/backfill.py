"""`recdo backfill`: the pipeline on each date partition of a range, skipping completed ones."""

from __future__ import annotations

import argparse
import sys

from recdo.cli.args import add_pipeline_flags, data_missing, params_from_args


def cmd_backfill(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    if data_missing(params):
        return 2

    from flows.backfill import backfill
    from sources.partitions import PartitionError

    try:
        summary = backfill(
            start=args.start, end=args.end, concurrency=args.concurrency, force=args.force, params=params
        )
    except (PartitionError, RuntimeError) as exc:
        print(f"\nrecdo: {exc}", file=sys.stderr)
        return 1
    print(
        f"backfill {args.start}..{args.end}: ran {len(summary.ran)} ({', '.join(summary.ran) or '-'}), "
        f"already completed {len(summary.skipped)}, "
        f"without rows {len(summary.empty)} ({', '.join(summary.empty) or '-'})\n"
        f"results: {params.db} (recdo report --db {params.db} --out report.html)"
    )
    return 0


def add_parser(sub) -> None:
    b = sub.add_parser(
        "backfill", help="run the pipeline on each date partition from --start to --end, skipping completed ones"
    )
    b.add_argument("--start", required=True, help="first partition, YYYY-MM-DD")
    b.add_argument("--end", required=True, help="last partition, YYYY-MM-DD (included)")
    b.add_argument("--concurrency", type=int, default=2, help="partitions running at once (default: 2)")
    b.add_argument("--force", action="store_true", help="re-run completed partitions too (their rows are replaced)")
    add_pipeline_flags(b, "backfill")
    b.set_defaults(func=cmd_backfill)
