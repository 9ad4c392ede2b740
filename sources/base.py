"""What every loader returns: the canonical log plus an honest account of what it dropped."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.files import sha256_named_files, update_with_file


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


def hash_named(named: Iterable[tuple[str, Path]]) -> str:
    """sha256 over (name, bytes) pairs in the given order; with each file's own name it equals `hash_files`.

    A folder of files hashes each under its path relative to the folder, so two hive folders holding
    the same file names under different keys (date=.../part-0.parquet) differ.
    """
    digest = hashlib.sha256()
    for name, path in named:
        digest.update(name.encode())
        update_with_file(digest, path)
    return digest.hexdigest()
