"""The network's contingency table counted out of core in DuckDB: the discretisation plan, then one GROUP BY."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from causal.config import CausalConfig
from causal.network.discretize import Discretized, discretized
from causal.network.plan import MISSING, OTHER, Plan, Rule, exact_quantiles, level_name, make_plan
from sources.duck import (
    DEFAULT_MEMORY_LIMIT,
    LogPaths,
    ident,
    literal,
    nan_safe,
    parquet_files,
    parquet_source,
    rows,
    spilling,
)

INTEGERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"})
FLOATS = frozenset({"FLOAT", "DOUBLE"})
NUMERIC = INTEGERS | FLOATS
# Types whose values pandas and DuckDB name alike; a date or decimal would be named differently by each.
READABLE = NUMERIC | {"BOOLEAN", "VARCHAR"}


def count_cells(
    log: LogPaths,
    config: CausalConfig,
    con: duckdb.DuckDBPyConnection | None = None,
    work_dir: str | Path | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> Discretized:
    """The contingency table of `discretize(whole log)`: its cells (str columns) and their row counts as weights.

    `log` is a Parquet file, a folder of them (hive `date=.../` folders too), a glob, or a list of files.
    Without `con`, DuckDB runs capped at `memory_limit` and spills to a folder under `work_dir` (the system's
    temporary folder when None), removed afterwards; only the summaries and the cells reach Python.
    """
    source = parquet_source(parquet_files(log))
    if con is not None:
        return _count(con, source, config)
    with spilling(work_dir, memory_limit) as own:
        return _count(own, source, config)


def _count(con: duckdb.DuckDBPyConnection, source: str, config: CausalConfig) -> Discretized:
    with nan_safe(con):
        summaries = DuckSummaries(con, source)
        plan = make_plan(summaries, config)
        return discretized(plan, *cell_counts(summaries, plan))


def cell_counts(summaries: DuckSummaries, plan: Plan) -> tuple[pd.DataFrame, np.ndarray]:
    """One GROUP BY over the plan's node expressions: the cells, sorted, and how many rows fall in each."""
    selects = ", ".join(f"{node_sql(summaries, rule)} AS {ident(rule.node)}" for rule in plan.rules)
    positions = ", ".join(str(i + 1) for i in range(len(plan.rules)))
    found = rows(
        summaries.con,
        f"SELECT {selects}, count(*) FROM {summaries.source} GROUP BY {positions} ORDER BY {positions}",
    )
    data = pd.DataFrame(
        {rule.node: np.array([row[i] for row in found], dtype=object) for i, rule in enumerate(plan.rules)}
    )
    return data, np.array([row[-1] for row in found], dtype=np.float64)


class DuckSummaries:
    """The plan's column summaries, each one DuckDB query over the Parquet files (cached per column)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str) -> None:
        self.con = con
        self.source = source
        self.types = {row[0]: str(row[1]) for row in rows(con, f"DESCRIBE SELECT * FROM {source}")}
        self._values: dict[str, list[tuple[object, str, int]]] = {}

    def columns(self) -> tuple[str, ...]:
        return tuple(self.types)

    def n_rows(self) -> int:
        return int(rows(self.con, f"SELECT count(*) FROM {self.source}")[0][0])

    def is_numeric(self, column: str) -> bool:
        return self._type(column) in NUMERIC

    def n_missing(self, column: str) -> int:
        value = self.value(column)
        return int(rows(self.con, f"SELECT count(*) - count({value}) FROM {self.source}")[0][0])

    def n_distinct(self, column: str, limit: int) -> int:
        # Stops at limit + 1 values: whether a column has few values is all the plan asks.
        value = self.value(column)
        sql = f"SELECT DISTINCT {value} FROM {self.source} WHERE {value} IS NOT NULL LIMIT {limit + 1}"
        return int(rows(self.con, f"SELECT count(*) FROM ({sql})")[0][0])

    def level_counts(self, column: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, name, count in self.distinct(column):
            counts[name] = counts.get(name, 0) + count
        return counts

    def quantiles(self, column: str, probabilities: np.ndarray) -> np.ndarray:
        if self._type(column) not in NUMERIC:
            raise ValueError(
                f"column {column!r} is binned by quantiles and must hold numbers; its Parquet type is "
                f"{self.types[column]}; write it as a number"
            )
        x = f"CAST({self.value(column)} AS DOUBLE)"
        n, distinct = rows(self.con, f"SELECT count({x}), approx_count_distinct({x}) FROM {self.source}")[0]
        return exact_quantiles(int(n), probabilities, lambda ranks: self._order_statistics(x, ranks, distinct < n // 2))

    def value(self, column: str) -> str:
        """The column as SQL, NaN read as missing (pandas treats NaN and null alike)."""
        name = ident(column)
        if self._type(column) in FLOATS:
            return f"CASE WHEN isnan({name}) THEN NULL ELSE {name} END"
        return name

    def distinct(self, column: str) -> list[tuple[object, str, int]]:
        """(value, level name, rows) of each distinct value (None: missing), named as pandas names them."""
        if column not in self._values:
            found = rows(self.con, f"SELECT {self.value(column)}, count(*) FROM {self.source} GROUP BY 1")
            self._values[column] = [
                (value, MISSING if value is None else level_name(value), int(n)) for value, n in found
            ]
        return self._values[column]

    def _type(self, column: str) -> str:
        kind = self.types[column]
        if kind not in READABLE:
            raise ValueError(
                f"column {column!r} has Parquet type {kind}, which count_cells does not read as a node; "
                "write it as a number, a boolean or a string"
            )
        return kind

    def _order_statistics(self, x: str, ranks: Sequence[int], few_values: bool) -> dict[int, float]:
        # Exact ranks through DuckDB's sort, which spills to disk: quantile_disc/cont would hold the whole
        # column in memory. A column with many repeats is sorted as (value, count) pairs, far fewer rows.
        if few_values:
            hits = " OR ".join(f"({k} >= start AND {k} < start + c)" for k in ranks)
            found = rows(
                self.con,
                f"SELECT v, start, c FROM (SELECT v, c, sum(c) OVER (ORDER BY v ROWS UNBOUNDED PRECEDING) - c "
                f"AS start FROM (SELECT {x} AS v, count(*) AS c FROM {self.source} WHERE {x} IS NOT NULL "
                f"GROUP BY 1)) WHERE {hits}",
            )
            return {k: float(v) for v, start, c in found for k in ranks if start <= k < start + c}
        listed = ", ".join(str(k) for k in ranks)
        found = rows(
            self.con,
            f"SELECT r, v FROM (SELECT {x} AS v, row_number() OVER (ORDER BY {x}) - 1 AS r FROM {self.source} "
            f"WHERE {x} IS NOT NULL) WHERE r IN ({listed})",
        )
        return {int(r): float(v) for r, v in found}


def node_sql(summaries: DuckSummaries, rule: Rule) -> str:
    """The SQL expression of one node's level, equal to what apply_rule gives in pandas."""
    if rule.kind == "bins":
        return bins_sql(f"CAST({summaries.value(rule.node)} AS DOUBLE)", rule)
    names = levels_sql(summaries, rule.node)
    if rule.kind == "top":
        kept = ", ".join(literal(level) for level in rule.kept)
        return f"CASE WHEN {names} IN ({kept}) THEN {names} ELSE {literal(OTHER)} END"
    return names


def levels_sql(summaries: DuckSummaries, column: str) -> str:
    """Each value's level name; a string is its own name, any other value is named in Python (level_name)."""
    value = summaries.value(column)
    if summaries.types[column] == "VARCHAR":
        return f"coalesce({value}, {literal(MISSING)})"
    if summaries.types[column] in INTEGERS:  # DuckDB writes an integer as str(int) does
        return f"coalesce(CAST({value} AS VARCHAR), {literal(MISSING)})"
    # A float's or boolean's name (1.0 -> '1', 0.1 -> '0.1', True -> '1') comes from Python: pandas' name.
    whens = " ".join(
        f"WHEN {value} = {literal(raw)} THEN {literal(name)}"
        for raw, name, _ in summaries.distinct(column)
        if raw is not None
    )
    return f"CASE {whens} ELSE {literal(MISSING)} END" if whens else literal(MISSING)


def bins_sql(x: str, rule: Rule) -> str:
    """np.searchsorted(edges[1:-1], x, side='right') capped at the top bin, as a CASE from the top edge down."""
    if not rule.edges:  # the column has no value at all
        return literal(MISSING)
    labels = rule.labels
    inner = rule.edges[1:-1]
    whens = [f"WHEN {x} IS NULL THEN {literal(MISSING)}"]
    for i in reversed(range(len(inner))):
        whens.append(f"WHEN {x} >= {literal(float(inner[i]))} THEN {literal(labels[min(i + 1, len(labels) - 1)])}")
    return f"CASE {' '.join(whens)} ELSE {literal(labels[0])} END"
