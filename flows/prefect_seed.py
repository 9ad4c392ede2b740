"""A migrated Prefect database shipped with recdo: a new work dir's API server starts from it, not from migrations.

A fresh SQLite database costs the server's first start about 4 s of Alembic migrations and block registration
on this 2-core machine (8.1 s against 4.3 s from the seed). The seed is the SQL dump of a database that Prefect
itself migrated, tagged with the Prefect version that made it; it is used only when that version is the one
installed, so another Prefect simply migrates as before. Stdlib only: the server's supervisor imports it.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import os
import sqlite3
from pathlib import Path

SEED = Path(__file__).with_name("prefect_seed.sql.gz")
OFF = "RECDO_PREFECT_SEED"  # =0: migrate a new database instead (what flows.make_seed needs)
TAG = "-- recdo prefect seed: prefect "


def installed_prefect() -> str:
    """The installed Prefect's version, read from its metadata (no prefect import)."""
    return importlib.metadata.version("prefect")


def seed_version(seed: Path = SEED) -> str | None:
    """The Prefect version `seed` was made with, or None when the file is missing or not a seed."""
    try:
        with gzip.open(seed, "rt", encoding="utf-8") as handle:
            first = handle.readline().rstrip("\n")
    except (OSError, EOFError):  # missing, unreadable or not gzip
        return None
    return _version_in(first)


def _version_in(first_line: str) -> str | None:
    return first_line[len(TAG) :] if first_line.startswith(TAG) else None


def seed_database(database: Path, seed: Path = SEED) -> str:
    """Create a missing `database` from `seed` when the seed matches the installed Prefect; say what was done.

    An existing database is never touched. The dump is restored into a scratch file renamed into place, so a
    server never opens half a seed (a killed supervisor leaves the scratch file, which the next one replaces).
    """
    if database.exists():
        return "existing database"
    if os.environ.get(OFF) == "0":
        return f"{OFF}=0: migrating a new database"
    installed = installed_prefect()
    try:  # the seed is read once: its first line names the Prefect that made it, the rest is the dump
        with gzip.open(seed, "rt", encoding="utf-8") as handle:
            first, _, script = handle.read().partition("\n")
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # missing, unreadable or not gzip
        return f"no usable seed at {seed} ({type(exc).__name__}): migrating a new database"
    made_by = _version_in(first)
    if made_by != installed:
        return f"no seed for prefect {installed} (the shipped one is for {made_by}): migrating a new database"
    scratch = database.with_name(database.name + ".seeding")
    scratch.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(scratch)
        try:
            connection.executescript(script)
        finally:
            connection.close()
    except sqlite3.Error as exc:  # a damaged seed costs the 4 s of migrations, no more
        scratch.unlink(missing_ok=True)
        return f"the seed {seed} is unreadable ({type(exc).__name__}: {exc}): migrating a new database"
    os.replace(scratch, database)
    return f"database seeded from prefect {made_by}'s migrated schema"
