"""`recdo report`: write one self-contained HTML page of what a results database holds."""

from __future__ import annotations

import argparse
import sys


def cmd_report(args: argparse.Namespace) -> int:
    """Write the page; a missing, empty or unknown database or run is one line on stderr and exit code 2."""
    from pathlib import Path

    from report import write_report  # pandas and the drawing code load only when the command runs

    out = Path(args.out)
    if out.is_dir():  # --out a folder: the page goes inside it, under the default name
        out = out / "report.html"
    try:
        path = write_report(args.db, out, args.run_id)
    except (ValueError, RuntimeError) as exc:  # an empty or unknown database or run (store.DatabaseError too)
        print(f"recdo: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {path.resolve()} (open it in a browser; it needs no network)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `recdo report` on the top-level subcommands."""
    rep = sub.add_parser("report", help="write one self-contained HTML report of a results database")
    rep.add_argument("--db", default="recdo.duckdb", help="DuckDB file with the results (default: recdo.duckdb)")
    rep.add_argument(
        "--out",
        default="report.html",
        help="HTML file to write, or a folder to write report.html in (default: report.html)",
    )
    rep.add_argument(
        "--run-id", default=None, help="the run the DAG and estimate panels show; default: the latest completed run"
    )
    rep.set_defaults(func=cmd_report)
