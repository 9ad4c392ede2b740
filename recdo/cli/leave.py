"""Leave the process at once when a command is done: Python's module teardown would cost seconds and change nothing."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def leave(code: int) -> NoReturn:
    """Exit with `code` as the interpreter would, minus the teardown of every module's objects.

    After a run, Python's own exit spent 2.4 s here in full garbage collections over what torch, transformers,
    Prefect, GX and pgmpy built (gdb: `finalize_modules`), for a process about to vanish. So this does what
    exit does that matters (non-daemon threads joined, atexit handlers: logging's flush, Prefect's workers;
    the standard streams flushed) and ends with os._exit, as mypy's hard_exit does. Freezing the heap instead
    (`gc.freeze()`) made DuckDB's nanobind bindings report "leaked instances" on every exit. What it skips is the
    finalizers of objects still alive: recdo writes files only inside `with` blocks, and DuckDB commits before a
    call returns, so nothing buffered is lost. Only the console script calls this; `main()` itself returns, so
    tests and embedding programs keep a normal interpreter.
    """
    shutdown = getattr(threading, "_shutdown", None)  # what Py_Finalize runs first: join non-daemon threads
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (recdo ... | head): nothing left to say
            pass
    os._exit(code)
