"""The pipeline's heavy imports on a thread while the local Prefect API starts, so the two overlap."""

from __future__ import annotations

import contextlib
import importlib
import threading

# torch, lightning and transformers (the scorer), pgmpy and scikit-learn (the network), Prefect (the flow): about
# 6 s of imports on 2 cores, against the API server's 4 s start (9 s the first time, with its migrations), which
# runs in a subprocess and leaves this process waiting.
HEAVY = ("flows.pipeline", "scoring.stream", "causal.effects.estimate")


def warm_imports(modules: tuple[str, ...] = HEAVY) -> threading.Thread:
    """Start importing `modules` on a daemon thread; join it before using them (an import error is raised again
    by the caller's own import, with its traceback, so the thread keeps none)."""

    def load() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="recdo-warm-imports", daemon=True)
    thread.start()
    return thread
