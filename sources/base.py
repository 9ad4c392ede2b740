"""What every loader returns: the canonical log plus an honest account of what it dropped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.files import sha256_named_files


class SourceError(ValueError):
    """A file that cannot be turned into a canonical log at all (unreadable, empty, wrong layout)."""


@dataclass(frozen=True)
class Dropped:
    """Something a loader left out of the canonical log, and why."""

    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.what}: {self.why}"


@dataclass(frozen=True)
class LoadedLog:
    """A canonical interaction log (one row per impression) and where it came from."""

    frame: pd.DataFrame
    source: str
    data_hash: str
    dropped: tuple[Dropped, ...] = ()

    @property
    def notes(self) -> str:
        return "; ".join(str(d) for d in self.dropped)


def hash_files(paths: list[Path]) -> str:
    """sha256 over the bytes of the files, in the given order (the run's data identity)."""
    return sha256_named_files(paths)
