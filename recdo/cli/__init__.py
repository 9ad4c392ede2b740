"""The `recdo` command line: one module per command; this one builds the parser and dispatches.

Importing it loads no heavy library (torch, prefect, pgmpy, lightning, transformers, GX): each command
imports what it needs when it runs, so `recdo --help` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from recdo.cli import backfill, decide, effects, run
from recdo.cli.errors import run_command
from recdo.cli.leave import leave
from recdo.cli.summary import print_summary

__all__ = ["build_parser", "entry", "main", "print_summary"]


def _quiet_environment() -> None:
    # Offline machine: no analytics pings, no model-hub lookups. Must be set before prefect/transformers import.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; flag defaults are shown in --help."""
    from recdo import watch
    from recdo.cli import report

    parser = argparse.ArgumentParser(prog="recdo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print the full traceback of an error (anywhere on the line); without it an error is one line",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run.add_parser(sub)
    # structure and simulate parse their own arguments (see main); listed here for `recdo --help`.
    sub.add_parser(
        "structure", help="learn a DAG from a CSV/Parquet of discrete columns (recdo structure --help)", add_help=False
    )
    sub.add_parser(
        "simulate", help="write a simulated log with exact interventional truth (recdo simulate --help)", add_help=False
    )
    effects.add_parser(sub)
    watch.add_parsers(sub)  # watch, ingest
    backfill.add_parser(sub)
    report.add_parser(sub)
    decide.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # a global switch, taken wherever it stands on the line
    argv = [a for a in argv if a != "--debug"]
    if argv[:1] in (["structure"], ["simulate"]):  # commands that parse their own arguments
        if argv[0] == "structure":
            from recdo.cli.structure import main as own_main
        else:
            from recdo.cli.simulate import main as own_main
        rest = argv[1:]
        return run_command(lambda _: own_main(rest), argparse.Namespace(debug=debug))
    args = build_parser().parse_args(argv)
    args.debug = debug
    return run_command(args.func, args)


def entry() -> None:
    """The `recdo` console script (and `python -m recdo.cli`): main(), then leave() without the module teardown."""
    leave(main())


if __name__ == "__main__":
    entry()
