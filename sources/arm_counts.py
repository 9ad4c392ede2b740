"""Rows and outcome positives per treatment value of a Parquet log, counted by DuckDB without loading it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sources.duck import ident, parquet_files, parquet_source, rows, spilling


@dataclass(frozen=True)
class Arm:
    """One value of a treatment: its rows and, per outcome, how many of them are 1."""

    value: str
    rows: int
    positives: dict[str, int]


def arm_counts(log: str, treatment: str, outcomes: Sequence[str], work_dir: str | None = None) -> list[Arm]:
    """Every value of `treatment` in the log (sorted as text) with its row and positive counts."""
    positives = ", ".join(f"count(*) FILTER (WHERE {ident(o)} = 1)" for o in outcomes)
    sql = (
        f"SELECT CAST({ident(treatment)} AS VARCHAR) AS v, count(*), {positives} "
        f"FROM {parquet_source(parquet_files(log))} GROUP BY v ORDER BY v"
    )
    with spilling(work_dir) as con:
        found = rows(con, sql)
    return [Arm(str(r[0]), int(r[1]), dict(zip(outcomes, map(int, r[2:])))) for r in found]
