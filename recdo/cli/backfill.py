"""`recdo backfill`: the pipeline on each date partition of a range, skipping completed ones."""

from __future__ import annotations

import argparse

from recdo.cli.args import add_pipeline_flags, data_missing, params_from_args
from recdo.cli.errors import quiet_prefect_console
from recdo.cli.run import keep_prefect_results_in


def cmd_backfill(args: argparse.Namespace) -> int:
    """Check the range and every parameter, then run the partitions; an error is one line (recdo.cli.errors)."""
    params = params_from_args(args)
    if data_missing(params):
        return 2

    from flows.preflight import check_params
    from sources.partitions import date_range

    date_range(args.start, args.end)  # PartitionError on a bad date or an empty range, before Prefect starts
    check_params(params)
    keep_prefect_results_in(params.work_dir)

    from flows.backfill import backfill
    from flows.server import local_api

    if not args.debug:
        quiet_prefect_console()
    with local_api(params.work_dir):
        summary = backfill(
            start=args.start, end=args.end, concurrency=args.concurrency, force=args.force, params=params
        )
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
