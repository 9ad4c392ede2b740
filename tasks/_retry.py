"""Retry policy shared by the tasks: retry what may pass on a second try, never a bad input."""

from __future__ import annotations

# A bad log, config or weight file fails the same way every time: SourceError and WeightsMismatch are
# ValueErrors, a missing file or an optional package that is not installed cannot appear by retrying.
BAD_INPUT = (ValueError, FileNotFoundError, ImportError)


def retry_unless_bad_input(task, task_run, state) -> bool:
    """Prefect retry_condition_fn: retry a crash (a scorer resumes from its checkpoint), never a bad input."""
    try:
        state.result()
    except BAD_INPUT:
        return False
    except Exception:
        return True
    return True
