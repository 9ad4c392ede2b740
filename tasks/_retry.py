"""Retry policy shared by the I/O tasks: retry what may pass on a second try, never a bad input."""

from __future__ import annotations

from sources import SourceError


def retry_unless_bad_input(task, task_run, state) -> bool:
    """Prefect retry_condition_fn: a missing or malformed file fails the same way every time."""
    try:
        state.result()
    except (SourceError, FileNotFoundError):
        return False
    except Exception:
        return True
    return True
