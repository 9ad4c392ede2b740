"""Whether a process still runs, told by its kernel start tick so that a reused pid is not taken for it."""

from __future__ import annotations

from pathlib import Path


def start_ticks(pid: int) -> str | None:
    """The kernel's start tick of `pid` (Linux /proc); None once it is gone or a zombie.

    A zombie (Z, X) was killed but not yet reaped by its parent: it runs nothing and holds no file or port.
    """
    try:
        # The command name (field 2) may hold spaces and parentheses: count the fields after its closing ')'.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
        return None
    return None if not fields or fields[0] in ("Z", "X") else fields[19]
