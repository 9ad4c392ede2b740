"""`recdo run`: the pipeline on one log, ending with the summary table."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from recdo.cli.args import add_pipeline_flags, data_missing, params_from_args
from recdo.cli.errors import quiet_prefect_console


def keep_prefect_results_in(work_dir: str) -> None:
    """Prefect's result files (a failed task's exception, say) go under WORK_DIR/prefect, not ~/.prefect/storage.

    Read when prefect is imported, so set before; a value the user set stays.
    """
    storage = Path(work_dir).resolve() / "prefect" / "storage"
    os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(storage))


def cmd_run(args: argparse.Namespace) -> int:
    """Check every parameter, run the flow, print the summary; an error is one line (recdo.cli.errors)."""
    params = params_from_args(args)
    if data_missing(params):
        return 2

    from flows.preflight import check_params

    check_params(params)  # before Prefect starts: a bad flag costs no server start and no training
    keep_prefect_results_in(params.work_dir)

    from flows.server import local_api
    from recdo.cli.summary import print_summary
    from recdo.cli.warm import warm_imports

    warm = warm_imports()  # while the API server starts in its own process
    with local_api(params.work_dir):  # one local API per work dir, shared by concurrent runs, gone with the last
        warm.join()
        from flows.pipeline import pipeline

        if not args.debug:
            quiet_prefect_console()
        summary = pipeline(params)
    print_summary(summary)
    return 0


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="run the pipeline on a log and store the estimates")
    add_pipeline_flags(run, "run")
    run.set_defaults(func=cmd_run)
