"""The gate's rules as DuckDB SQL: for each suite expectation, the condition that makes a row break it."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import pyarrow as pa
from great_expectations.expectations.expectation import Expectation

from expectations.config import EVENT_ID, POSITION, PROPENSITY, TS, GateConfig
from expectations.custom import (
    CONTROL_CHARACTERS,
    CONTROL_CHARACTERS_BUT_WHITESPACE,
    ExpectColumnValuesToBeNumbersBetween,
    ExpectColumnValuesToBeNumbersInSet,
    ExpectColumnValuesToBeTimestampsNotAfter,
    ExpectColumnValuesToBeUtcTimestamps,
    ExpectColumnValuesToBeWholeNumbers,
    ExpectColumnValuesToHaveNoControlCharacters,
    as_numbers,
    parse_timestamps,
)
from expectations.epoch import PER_US, UNITS, bounds, to_microseconds

# The SQL of the unique rule names this column: the first row number of the row's event id when the id
# is repeated (NULL otherwise). The file gate adds it by joining the repeated ids (expectations.scan).
FIRST_COPY = "__recdo_first"
ROW_NUMBER = "__recdo_rn"
# The file gate parses ts once per row into this column (parsing is most of a rule's cost: 2M ISO strings take
# about 0.5 s) and both ts rules read it.
PARSED_TS = "__recdo_ts"

# Strings these patterns match are read by DuckDB's own casts, which agree with pandas on them (checked
# by tests/expectations/test_gate_scale.py); any other string goes to pandas through a Python function,
# so the verdict on an odd value ("2024-01", " 1", "1_000") is exactly the pandas gate's.
_TS_PATTERN = r"\d{4}-\d{2}-\d{2}([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?"
_NUMBER_PATTERN = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,2})?"
_PANDAS_NUMBER = "recdo_pandas_number"
_PANDAS_TIMESTAMP = "recdo_pandas_timestamp"
_PANDAS_EPOCH = "recdo_pandas_epoch_"  # + unit: a float epoch in that unit, rounded to the microsecond as pandas does

_FLOATS = {"FLOAT", "DOUBLE", "REAL"}
_INTEGERS = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}
_TIMES = {"TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE"}


def quote(name: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A Python string as a DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def _is_string(kind: str) -> bool:
    return kind == "VARCHAR" or kind.startswith("ENUM(")


def _is_number(kind: str) -> bool:
    return kind in _FLOATS or kind in _INTEGERS or kind.startswith("DECIMAL") or kind == "BOOLEAN"


def is_nan(value: str) -> str:
    """SQL true where a DOUBLE is NaN.

    Not isnan(): DuckDB 2.0 pushes isnan(x) into the Parquet scan, which skips the row groups whose min/max
    statistics (NaN left out) show no NaN, so a NaN-only row group reads as NaN-free; neither isfinite nor
    isinf is pushed so (tests/expectations/test_gate_scale.py, NaN user_score in synthetic_log).
    """
    return f"NOT (isfinite({value}) OR isinf({value}))"


def is_missing(column: str, kind: str) -> str:
    """True where pandas would call the value missing: NULL, or NaN in a float column."""
    name = quote(column)
    return f"({name} IS NULL OR {is_nan(name)})" if kind in _FLOATS else f"({name} IS NULL)"


def as_number(column: str, kind: str) -> str:
    """The value as DOUBLE, NULL where pandas' `as_numbers` would not read it as a number."""
    name = quote(column)
    if _is_number(kind):
        return f"CAST({name} AS DOUBLE)"
    if _is_string(kind):
        text = f"CAST({name} AS VARCHAR)"
        return (
            f"(CASE WHEN regexp_full_match({text}, {literal(_NUMBER_PATTERN)}) THEN TRY_CAST({text} AS DOUBLE) "
            f"ELSE {_PANDAS_NUMBER}({text}) END)"
        )
    return "CAST(NULL AS DOUBLE)"  # dates, lists, blobs: not numbers, as in pandas


def is_epoch_kind(kind: str) -> bool:
    """A type whose values may be epoch numbers, as custom.is_epoch_dtype: integers and floats."""
    return kind in _INTEGERS or kind in _FLOATS


def epoch_ranges(column: str, kind: str) -> tuple[list[str], str]:
    """SQL of expectations.epoch.count_units: a condition per unit's range, and one for a number in none."""
    x = f"CAST({quote(column)} AS DOUBLE)"
    ranges = [f"({x} >= {lo!r} AND {x} < {hi!r})" for _, lo, hi in UNITS]
    return ranges, f"(NOT {is_missing(column, kind)} AND NOT ({' OR '.join(ranges)}))"


def as_timestamp(column: str, kind: str, epoch_unit: str | None = None) -> str:
    """The value as TIMESTAMPTZ (naive taken as UTC), NULL where `parse_timestamps` would give NaT."""
    name = quote(column)
    if epoch_unit is not None and is_epoch_kind(kind):
        lo, hi = bounds(epoch_unit)
        if kind in _FLOATS:
            return f"{_PANDAS_EPOCH}{epoch_unit}(CAST({name} AS DOUBLE))"
        whole = f"TRY_CAST({name} AS BIGINT)"
        micros = f"{whole} // 1000" if epoch_unit == "ns" else f"{whole} * {PER_US[epoch_unit]}"  # floor, as numpy
        within = f"CAST({name} AS DOUBLE) >= {lo!r} AND CAST({name} AS DOUBLE) < {hi!r}"
        return f"(CASE WHEN {within} THEN CAST(make_timestamp({micros}) AS TIMESTAMPTZ) END)"
    if kind in _TIMES:
        return f"CAST({name} AS TIMESTAMPTZ)"
    if _is_string(kind):
        text = f"CAST({name} AS VARCHAR)"
        return (
            f"(CASE WHEN regexp_full_match({text}, {literal(_TS_PATTERN)}) THEN TRY_CAST({text} AS TIMESTAMPTZ) "
            f"ELSE {_PANDAS_TIMESTAMP}({text}) END)"
        )
    return "CAST(NULL AS TIMESTAMPTZ)"  # an epoch number needs its unit; refused, as in pandas


def as_id(column: str, kind: str) -> str:
    """The event id as the string it is stored as (7 and "7" are one id); NULL where it is missing."""
    name = quote(column)
    if _is_string(kind):
        return f"CAST({name} AS VARCHAR)"
    text = f"(CASE WHEN {name} THEN 'True' ELSE 'False' END)" if kind == "BOOLEAN" else f"CAST({name} AS VARCHAR)"
    return f"(CASE WHEN {is_missing(column, kind)} THEN NULL ELSE {text} END)"


def unexpected(expectation: Expectation, kinds: dict[str, str], parsed_ts: bool = False) -> str | None:
    """SQL that is true on a row breaking `expectation`; None for a rule about the whole table.

    Like GX's map expectations, every rule but "not null" ignores missing values. `parsed_ts`: the rows
    have column PARSED_TS, the value of as_timestamp(ts), which the ts rules then read.
    """
    column = str(expectation.column)  # type: ignore[attr-defined]
    if isinstance(expectation, gxe.ExpectColumnToExist):
        return None
    kind = kinds[column]
    if isinstance(expectation, gxe.ExpectColumnValuesToNotBeNull):
        return is_missing(column, kind)
    present = f"NOT {is_missing(column, kind)}"
    if isinstance(expectation, gxe.ExpectColumnValuesToBeUnique):
        # Only later copies; the gate keeps the first copy of a repeated id (expectations.gate).
        return f"({FIRST_COPY} IS NOT NULL AND {ROW_NUMBER} > {FIRST_COPY})"
    if isinstance(expectation, (ExpectColumnValuesToBeUtcTimestamps, ExpectColumnValuesToBeTimestampsNotAfter)):
        stamp = PARSED_TS if parsed_ts and column == TS else as_timestamp(column, kind, expectation.epoch_unit)
    if isinstance(expectation, ExpectColumnValuesToBeUtcTimestamps):
        return f"({present} AND {stamp} IS NULL)"
    if isinstance(expectation, ExpectColumnValuesToBeTimestampsNotAfter):
        latest = f"CAST({literal(expectation.max_value)} AS TIMESTAMPTZ)"
        return f"({present} AND coalesce({stamp} > {latest}, FALSE))"
    if isinstance(expectation, ExpectColumnValuesToHaveNoControlCharacters):
        if not _is_string(kind):
            return "FALSE"  # only a string holds characters, as in custom.has_control_characters
        pattern = CONTROL_CHARACTERS_BUT_WHITESPACE if expectation.allow_whitespace else CONTROL_CHARACTERS
        return f"({present} AND regexp_matches(CAST({quote(column)} AS VARCHAR), {literal(pattern)}))"
    number = as_number(column, kind)
    if isinstance(expectation, ExpectColumnValuesToBeNumbersInSet):
        values = ", ".join(repr(float(v)) for v in expectation.value_set)
        return f"({present} AND coalesce(NOT {is_nan(number)} AND {number} IN ({values}), FALSE) = FALSE)"
    if isinstance(expectation, ExpectColumnValuesToBeNumbersBetween):
        # DuckDB sorts NaN above every number, so NaN is excluded before the comparisons.
        ok = [f"NOT {is_nan(number)}"]
        if expectation.min_value is not None:
            ok.append(f"{number} {'>' if expectation.strict_min else '>='} {float(expectation.min_value)!r}")
        if expectation.max_value is not None:
            ok.append(f"{number} {'<' if expectation.strict_max else '<='} {float(expectation.max_value)!r}")
        return f"({present} AND coalesce({' AND '.join(ok)}, FALSE) = FALSE)"
    if isinstance(expectation, ExpectColumnValuesToBeWholeNumbers):
        ok = f"isfinite({number}) AND {number} = floor({number}) AND abs({number}) < {2.0**62!r}"
        return f"({present} AND coalesce({ok}, FALSE) = FALSE)"
    raise TypeError(
        f"the file gate has no SQL form for {type(expectation).__name__} (rule on column {column!r}); "
        f"add one to expectations/sql_rules.py::unexpected or leave the expectation out of build_suite"
    )


def normalised(
    columns: list[str], kinds: dict[str, str], config: GateConfig, epoch_unit: str | None = None
) -> list[str]:
    """The SELECT list of the clean log: the dtypes of the pandas gate's `_normalise`, columns in input order."""
    out = []
    for column in columns:
        kind = kinds[column]
        if column == EVENT_ID:
            expr = as_id(column, kind)
        elif column == TS:
            expr = as_timestamp(column, kind, epoch_unit)
        elif column in config.outcomes or column == POSITION:
            expr = f"CAST({as_number(column, kind)} AS BIGINT)"
        elif column == PROPENSITY:
            expr = as_number(column, kind)
        else:
            out.append(quote(column))
            continue
        out.append(f"{expr} AS {quote(column)}")
    return out


def _pandas_numbers(values: pa.Array) -> pa.Array:
    numbers = as_numbers(pd.Series(values.to_pylist(), dtype=object))
    return pa.array(numbers.to_numpy(dtype=np.float64), type=pa.float64())


def _pandas_timestamps(values: pa.Array) -> pa.Array:
    parsed = parse_timestamps(pd.Series(values.to_pylist(), dtype=object))
    return pa.Array.from_pandas(parsed, type=pa.timestamp("us", tz="UTC"))


def _pandas_epochs(unit: str) -> Callable[[pa.Array], pa.Array]:
    def convert(values: pa.Array) -> pa.Array:
        numbers = values.to_numpy(zero_copy_only=False).astype(np.float64)  # null -> NaN: outside every range
        micros, ok = to_microseconds(numbers, unit)
        return pa.array(micros, type=pa.int64(), mask=~ok).cast(pa.timestamp("us", tz="UTC"))

    return convert


def register_pandas_readers(con: duckdb.DuckDBPyConnection) -> None:
    """The Python functions the SQL above calls for strings outside the fast patterns, and for float epochs."""
    con.create_function(_PANDAS_NUMBER, _pandas_numbers, ["VARCHAR"], "DOUBLE", type="arrow", null_handling="special")
    con.create_function(
        _PANDAS_TIMESTAMP, _pandas_timestamps, ["VARCHAR"], "TIMESTAMPTZ", type="arrow", null_handling="special"
    )
    for unit, _, _ in UNITS:
        con.create_function(
            f"{_PANDAS_EPOCH}{unit}",
            _pandas_epochs(unit),
            ["DOUBLE"],
            "TIMESTAMPTZ",
            type="arrow",
            null_handling="special",
        )
