"""`recdo run`: the pipeline on one log, ending with the summary table."""

from __future__ import annotations

import argparse
import importlib
import sys
import threading

from recdo.cli.args import add_pipeline_flags, data_missing, params_from_args

# The later stages' libraries (torch, lightning, transformers for the scorer; pgmpy for the network's cross-check):
# ~8 s of imports on a 2-core machine. None of them is imported by the first stages or by Prefect.
WARM = ("scoring.train", "causal.effects.estimate", "causal.network.query")


def warm_imports(names: tuple[str, ...] = WARM) -> threading.Thread:
    """Import `names` on a background thread while the flow starts its server and loads and gates the log.

    The main thread waits seconds for the temporary Prefect server; the imports use that time. A stage that
    needs one of these modules before the thread is done waits for it (Python's per-module import lock).
    An import that fails here is left for the stage that needs it to raise, where the error is reported.
    """

    def run() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:
                return

    thread = threading.Thread(target=run, name="recdo-warm-imports", daemon=True)
    thread.start()
    return thread


def cmd_run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    if data_missing(params):
        return 2
    warm_imports()

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
