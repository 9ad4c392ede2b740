"""The shipped Prefect seed: made by the installed Prefect, used only for a missing database, equal to a migration."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pytest

from flows.make_seed import write_seed
from flows.prefect_seed import OFF, SEED, installed_prefect, seed_database, seed_version


def _schema(database: Path) -> tuple[list[tuple[object, ...]], list[str], list[str]]:
    """Tables, indexes and their SQL (lines sorted: Alembic's batch moves emit constraints in no fixed order),
    the Alembic head, the block types."""
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        objects = sorted(
            (
                (kind, name, table, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
                for kind, name, table, sql in rows
            ),
            key=str,
        )
        heads = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
        blocks = sorted(row[0] for row in connection.execute("SELECT slug FROM block_type"))
    finally:
        connection.close()
    return objects, heads, blocks


def test_the_shipped_seed_was_made_by_the_installed_prefect():
    # Upgrading Prefect fails here, not silently slower: regenerate with `python -m flows.make_seed`.
    assert seed_version(SEED) == installed_prefect(), "run `.venv/bin/python -m flows.make_seed` and commit it"


def test_a_missing_database_is_restored_from_the_seed(tmp_path):
    database = tmp_path / "prefect.db"
    said = seed_database(database)
    assert "seeded" in said
    objects, heads, blocks = _schema(database)
    assert len(heads) == 1 and len(objects) > 100  # Prefect's tables and indexes, at one Alembic head
    assert "local-file-system" in blocks and "secret" in blocks  # the block types a first start registers
    assert not database.with_name("prefect.db.seeding").exists()


def test_an_existing_database_is_never_touched(tmp_path):
    database = tmp_path / "prefect.db"
    database.write_bytes(b"a run's own database")
    assert seed_database(database) == "existing database"
    assert database.read_bytes() == b"a run's own database"


def test_a_seed_of_another_prefect_is_not_used(tmp_path):
    other = tmp_path / "seed.sql.gz"
    with gzip.open(other, "wt", encoding="utf-8") as handle:
        handle.write("-- recdo prefect seed: prefect 0.0.1\nCREATE TABLE t (x);\n")
    database = tmp_path / "prefect.db"
    said = seed_database(database, other)
    assert "migrating" in said and "0.0.1" in said and installed_prefect() in said
    assert not database.exists()
    assert seed_version(tmp_path / "absent.sql.gz") is None
    assert "no usable seed" in seed_database(database, tmp_path / "absent.sql.gz") and not database.exists()


def test_a_damaged_seed_falls_back_to_migrations(tmp_path):
    damaged = tmp_path / "seed.sql.gz"
    with gzip.open(damaged, "wt", encoding="utf-8") as handle:
        handle.write(f"-- recdo prefect seed: prefect {installed_prefect()}\nCREATE TABLE t (x);\nNOT SQL AT ALL;\n")
    database = tmp_path / "prefect.db"
    said = seed_database(database, damaged)
    assert "unreadable" in said and "migrating" in said
    assert not database.exists() and not (tmp_path / "prefect.db.seeding").exists()  # the server starts afresh


def test_seeding_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv(OFF, "0")
    database = tmp_path / "prefect.db"
    assert "migrating" in seed_database(database)
    assert not database.exists()


@pytest.mark.slow
@pytest.mark.integration
def test_the_seed_equals_what_prefect_migrates_now(tmp_path, monkeypatch):
    """A real server migrates a new database; its schema, Alembic head and block types equal the shipped seed's."""
    # The suite's own server (or a deployment's) must not stand in for the new one: CI caught that once.
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    fresh = tmp_path / "fresh.sql.gz"
    assert write_seed(fresh) == installed_prefect()
    assert seed_database(tmp_path / "fresh.db", fresh).startswith("database seeded")
    assert seed_database(tmp_path / "shipped.db", SEED).startswith("database seeded")
    assert _schema(tmp_path / "fresh.db") == _schema(tmp_path / "shipped.db")
