"""`recdo run`: the pipeline on one log, ending with the summary table."""

from __future__ import annotations

import argparse
import sys

from recdo.cli.args import add_pipeline_flags, data_missing, params_from_args


def cmd_run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    if data_missing(params):
        return 2

    import expectations
    import sources
    from flows.pipeline import pipeline
    from recdo.cli.summary import print_summary

    try:
        summary = pipeline(params)
    except (sources.SourceError, expectations.DatasetError, expectations.GateFailed) as exc:
        print(f"\nrecdo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 0


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="run the pipeline on a log and store the estimates")
    add_pipeline_flags(run, "run")
    run.set_defaults(func=cmd_run)
