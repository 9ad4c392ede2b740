"""The pipeline's imports on a thread while the local Prefect API starts; the flow starts before torch has loaded."""

from __future__ import annotations

import contextlib
import importlib
import threading

# What the flow needs before its first task: Prefect and the flow module (kept free of torch: tasks/items.py),
# and GX for the gate. About 3 s, inside the API server's 4 s start.
FLOW = ("flows.pipeline", "expectations.scan")
# What it needs later: torch, Lightning and transformers for the scorer, pgmpy for the networks. About 4 s more,
# loaded while the flow reads and validates the log (a task that needs one of them before it is in waits for
# it at its own import, on Python's per-module import lock).
LATER = ("scoring.stream", "causal.effects.estimate")


def warm_imports(first: tuple[str, ...] = FLOW, later: tuple[str, ...] = LATER) -> threading.Event:
    """Import `first`, set the returned event, then import `later`, on a daemon thread.

    Wait on the event before importing the flow. An import error is raised again by the caller's own import,
    with its traceback, so the thread keeps none; the event is set even then, so nobody waits forever.
    """
    ready = threading.Event()

    def load() -> None:
        try:
            for name in first:
                with contextlib.suppress(Exception):
                    importlib.import_module(name)
        finally:
            ready.set()
        for name in later:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    threading.Thread(target=load, name="recdo-warm-imports", daemon=True).start()
    return ready
