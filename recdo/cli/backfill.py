"""`recdo backfill`: the pipeline on each date partition of a range, skipping completed ones."""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Iterator

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

    from flows.server import local_api
    from recdo.cli.warm import HEAVY, warm_imports

    warm = warm_imports(("flows.backfill", *HEAVY))  # while the API server starts in its own process
    with local_api(params.work_dir), _remember_ctrl_c() as interrupted:
        warm.join()
        from flows.backfill import backfill

        if not args.debug:
            quiet_prefect_console()
        summary = backfill(
            start=args.start, end=args.end, concurrency=args.concurrency, force=args.force, params=params
        )
    if interrupted:  # a Ctrl-C that Prefect's internals swallowed still ends the command as an interruption
        raise KeyboardInterrupt
    print(
        f"backfill {args.start}..{args.end}: ran {len(summary.ran)} ({', '.join(summary.ran) or '-'}), "
        f"already completed {len(summary.skipped)}, "
        f"without rows {len(summary.empty)} ({', '.join(summary.empty) or '-'})\n"
        f"results: {params.db} (recdo report --db {params.db} --out report.html)"
    )
    return 0


@contextlib.contextmanager
def _remember_ctrl_c() -> Iterator[list[bool]]:
    """Note every SIGINT while the backfill runs, then let it raise KeyboardInterrupt as Python's handler does.

    Seen once on a loaded CI machine: a SIGINT while a backfill ran left it running to the end, exit 0, as if
    the KeyboardInterrupt had been lost inside Prefect's engine (where is not pinned down). The note makes the
    command end as an interruption (exit 130, "run it again") all the same.
    """
    seen: list[bool] = []
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: object) -> None:
        seen.append(True)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


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
