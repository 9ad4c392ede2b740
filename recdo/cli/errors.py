"""One error path for every command: a known error is one line on stderr, a traceback only with --debug."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable

# Exit codes: 2 for input the user can fix (the argparse convention), 1 for anything else, 130 for Ctrl-C.
BAD_INPUT, FAILED, INTERRUPTED = 2, 1, 130

# Errors whose message already names the value, the rule and the fix, with their exit codes, keyed by
# "module.ClassName" so this module imports none of the libraries they come from (`recdo --help` stays instant).
_KNOWN = {
    "common.errors.InputError": BAD_INPUT,
    "sources.base.SourceError": BAD_INPUT,
    "sources.partitions.PartitionError": BAD_INPUT,
    "expectations.gate.DatasetError": BAD_INPUT,
    "expectations.gate.GateFailed": BAD_INPUT,
    "store.db.DatabaseError": BAD_INPUT,
    "scoring.backbone.WeightsMismatch": BAD_INPUT,
    "flows.backfill.BackfillFailed": FAILED,  # some partitions stored, the rest to re-run
    "flows.server.LocalApiError": FAILED,  # the local Prefect API did not start; names its log
}
# Built-in errors that reach the CLI from files the user named (--out, --db, --data).
_FILE_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError)


def _names(exc: BaseException) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}


def _flag_of(field: str) -> str:
    """The command-line flag that sets a PipelineParams field, or the field itself."""
    from recdo.cli.args import FLAGS

    return next((f.flag for f in FLAGS if f.field == field), field)


def _validation_line(exc) -> str:
    """A pydantic ValidationError as one line: the flag, the value given, pydantic's rule."""
    parts = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        if loc:
            parts.append(f"{_flag_of(loc[0])} {error.get('input')!r}: {message}")
        else:  # a check across fields (the model validator) already names the fields
            parts.append(message)
    line = "; ".join(parts)
    # pydantic's own constraint messages ("Input should be less than 1") name the rule but not the fix
    return line + (" (see `recdo run --help` for the flag's rule and default)" if "should" in line else "")


def one_line(exc: BaseException) -> tuple[str, int]:
    """The line the user reads and the exit code, for an error that ended a command."""
    names = _names(exc)
    if "pydantic_core._pydantic_core.ValidationError" in names:
        return _validation_line(exc), BAD_INPUT
    message = " ".join(str(exc).split()) or type(exc).__name__  # one line, whatever the message held
    known = [_KNOWN[name] for name in names if name in _KNOWN]
    if known:
        return message, known[0]
    if isinstance(exc, _FILE_ERRORS):
        return message, BAD_INPUT
    return (
        f"{type(exc).__name__}: {message} (an unexpected error: rerun with --debug for the traceback; a flow run's "
        "full log is also in Prefect)",
        FAILED,
    )


class _NoTracebacks(logging.Filter):
    """Drops the records of a failure from the terminal: the CLI's own last line says it once, with the fix.

    A failed task logs its exception with a traceback, then "Finished in state Failed(...)", and so does the
    flow, and every task downstream logs "NotReady": five repeats of one message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text:
            return False
        if any(f"Finished in state {name}" in str(record.msg) for name in ("Failed", "NotReady", "Crashed")):
            return False
        record.stack_info = None
        return True


def quiet_prefect_console() -> None:
    """Keep failure records and tracebacks off Prefect's terminal handlers (its API handler, read in the UI,
    keeps every one). Call after `prefect` is imported (it configures logging on import)."""
    loggers = [logging.getLogger()] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if type(handler).__name__ == "PrefectConsoleHandler" and not any(
                isinstance(f, _NoTracebacks) for f in handler.filters
            ):
                handler.addFilter(_NoTracebacks())


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one command; whatever stops it ends as one line on stderr and an exit code, never a traceback.

    `args.debug` (the global --debug flag) prints the traceback above that line.
    """
    debug = bool(getattr(args, "debug", False))
    try:
        return func(args)
    except KeyboardInterrupt:
        print(
            "\nrecdo: interrupted (Ctrl-C). Run the same command again to finish it: finished stages are cached "
            "and its rows are replaced, never duplicated; its row in `runs` says interrupted.",
            file=sys.stderr,
        )
        return INTERRUPTED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        line, code = one_line(exc)
        print(f"\nrecdo: {line}", file=sys.stderr)
        return code
