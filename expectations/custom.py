"""GX expectations the core library lacks: values read as numbers, UTC timestamps, text without control characters."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from expectations.epoch import epoch_timestamps, is_epoch_dtype

# Metric names are global in a GX installation; the prefix keeps ours apart from GX's own.
_NUMBER_IN_SET = "column_values.recdo_number_in_set"
_NUMBER_BETWEEN = "column_values.recdo_number_between"
_WHOLE_NUMBER = "column_values.recdo_whole_number"
_UTC_TIMESTAMP = "column_values.recdo_utc_timestamp"
_NOT_AFTER = "column_values.recdo_timestamp_not_after"
_NO_CONTROL = "column_values.recdo_no_control_characters"

# ASCII control characters; the second pattern lets tab, newline and carriage return through (free text).
# Python's re and DuckDB's RE2 read these escapes alike, so both gates use the same text.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"
CONTROL_CHARACTERS_BUT_WHITESPACE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def as_numbers(column: pd.Series) -> pd.Series:
    """The column read as float64; a value that is not a number (e.g. 'n/a', a dict) becomes NaN.

    A CSV column with one stray string arrives as strings throughout, so numeric rules read each
    value as a number instead of trusting the dtype: the stray row is quarantined, the rest pass.
    """
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype("float64")
    numbers = pd.to_numeric(column, errors="coerce")
    return pd.Series(np.asarray(numbers, dtype="float64"), index=column.index, name=column.name)


def parse_timestamps(column: pd.Series, epoch_unit: str | None = None) -> pd.Series:
    """The column as datetime64[us, UTC]; NaT where a value is not an ISO 8601 string or a datetime.

    Naive values are taken as UTC. Numbers are read only with `epoch_unit` (s, ms, us, ns), which the
    gate decides for the whole column (expectations.epoch.decide); a number outside that unit's range is
    NaT. Non-ISO strings ('01/02/2024', '5') are refused because they are ambiguous.
    """
    dtype = column.dtype
    if epoch_unit is not None and is_epoch_dtype(dtype):
        return epoch_timestamps(column, epoch_unit)
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        candidates = column
    elif pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        candidates = column
    elif pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        values = column.astype(object)
        usable = values.map(lambda v: isinstance(v, (str, dt.date, np.datetime64)), na_action="ignore")
        candidates = values.where(usable.fillna(False).astype(bool))
    else:
        candidates = pd.Series(pd.NaT, index=column.index, dtype="datetime64[us, UTC]")
    parsed = pd.to_datetime(candidates, utc=True, errors="coerce", format="ISO8601")
    return parsed.astype("datetime64[us, UTC]").rename(column.name)


class ColumnValuesNumberInSet(ColumnMapMetricProvider):
    condition_metric_name = _NUMBER_IN_SET
    condition_value_keys = ("value_set",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, value_set: list[float], **kwargs: Any) -> pd.Series:
        return as_numbers(column).isin(value_set)


class ColumnValuesNumberBetween(ColumnMapMetricProvider):
    condition_metric_name = _NUMBER_BETWEEN
    condition_value_keys = ("min_value", "max_value", "strict_min", "strict_max")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls,
        column: pd.Series,
        min_value: float | None = None,
        max_value: float | None = None,
        strict_min: bool = False,
        strict_max: bool = False,
        **kwargs: Any,
    ) -> pd.Series:
        numbers = as_numbers(column)
        ok = numbers.notna()  # a non-number is outside every range
        if min_value is not None:
            ok &= numbers > min_value if strict_min else numbers >= min_value
        if max_value is not None:
            ok &= numbers < max_value if strict_max else numbers <= max_value
        return ok


class ColumnValuesWholeNumber(ColumnMapMetricProvider):
    condition_metric_name = _WHOLE_NUMBER

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        numbers = as_numbers(column)
        # Bounded so that the later cast to int64 cannot overflow.
        return np.isfinite(numbers) & (numbers == np.floor(numbers)) & (numbers.abs() < 2.0**62)


class ColumnValuesUtcTimestamp(ColumnMapMetricProvider):
    condition_metric_name = _UTC_TIMESTAMP
    condition_value_keys = ("epoch_unit",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, epoch_unit: str | None = None, **kwargs: Any) -> pd.Series:
        return parse_timestamps(column, epoch_unit).notna()


class ColumnValuesTimestampNotAfter(ColumnMapMetricProvider):
    condition_metric_name = _NOT_AFTER
    condition_value_keys = ("max_value", "epoch_unit")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, max_value: str, epoch_unit: str | None = None, **kwargs: Any) -> pd.Series:
        parsed = parse_timestamps(column, epoch_unit)
        # An unreadable value passes here: "ts parseable" quarantines it, with its own rule name.
        return parsed.isna() | (parsed <= pd.Timestamp(max_value))


def has_control_characters(column: pd.Series, allow_whitespace: bool = False) -> pd.Series:
    """True where a value is a string holding a control character (tab, newline, CR allowed if asked)."""
    pattern = re.compile(CONTROL_CHARACTERS_BUT_WHITESPACE if allow_whitespace else CONTROL_CHARACTERS)
    found = column.astype(object).map(lambda v: isinstance(v, str) and pattern.search(v) is not None)
    return found.astype(bool)


class ColumnValuesNoControlCharacters(ColumnMapMetricProvider):
    condition_metric_name = _NO_CONTROL
    condition_value_keys = ("allow_whitespace",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, allow_whitespace: bool = False, **kwargs: Any) -> pd.Series:
        return ~has_control_characters(column, allow_whitespace)


class ExpectColumnValuesToBeNumbersInSet(ColumnMapExpectation):
    """Expect each value, read as a number, to be in value_set; a non-number is unexpected."""

    value_set: list[float]

    map_metric: ClassVar[str] = _NUMBER_IN_SET
    success_keys: ClassVar[tuple[str, ...]] = ("value_set", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "value_set")


class ExpectColumnValuesToBeNumbersBetween(ColumnMapExpectation):
    """Expect each value, read as a number, to lie between the bounds; a non-number is unexpected."""

    min_value: float | None = None
    max_value: float | None = None
    strict_min: bool = False
    strict_max: bool = False

    map_metric: ClassVar[str] = _NUMBER_BETWEEN
    success_keys: ClassVar[tuple[str, ...]] = ("min_value", "max_value", "strict_min", "strict_max", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "min_value", "max_value", "strict_min", "strict_max")


class ExpectColumnValuesToBeWholeNumbers(ColumnMapExpectation):
    """Expect each value, read as a number, to be a finite whole number (3 or 3.0, not 2.5)."""

    map_metric: ClassVar[str] = _WHOLE_NUMBER
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
    args_keys: ClassVar[tuple[str, ...]] = ("column",)


class ExpectColumnValuesToBeUtcTimestamps(ColumnMapExpectation):
    """Expect each value to be an ISO 8601 string or a datetime (or a number of `epoch_unit`), readable as UTC."""

    epoch_unit: str | None = None

    map_metric: ClassVar[str] = _UTC_TIMESTAMP
    success_keys: ClassVar[tuple[str, ...]] = ("epoch_unit", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "epoch_unit")


class ExpectColumnValuesToBeTimestampsNotAfter(ColumnMapExpectation):
    """Expect each readable timestamp to be at or before `max_value` (ISO 8601, UTC); unreadable ones pass."""

    max_value: str
    epoch_unit: str | None = None

    map_metric: ClassVar[str] = _NOT_AFTER
    success_keys: ClassVar[tuple[str, ...]] = ("max_value", "epoch_unit", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "max_value", "epoch_unit")


class ExpectColumnValuesToHaveNoControlCharacters(ColumnMapExpectation):
    """Expect no string value to hold an ASCII control character (\\x00-\\x1f, \\x7f); other values pass."""

    allow_whitespace: bool = False

    map_metric: ClassVar[str] = _NO_CONTROL
    success_keys: ClassVar[tuple[str, ...]] = ("allow_whitespace", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "allow_whitespace")
