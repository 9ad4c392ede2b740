"""Numeric timestamps: which epoch unit a ts column of numbers is in, told by magnitude, and the conversion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from expectations.config import TS

# Each unit's numbers for the instants 1973-03-03 .. 2286-11-20 (1e8 .. 1e10 seconds). The ranges are
# disjoint with a factor of 10 between them, so a value belongs to at most one unit; a value between
# them (5e10: the year 3554 in seconds, 1971 in milliseconds) belongs to none. Nanoseconds end at 2^63
# (2262-04-11), where int64 ends.
UNITS: tuple[tuple[str, float, float], ...] = (
    ("s", 1e8, 1e10),
    ("ms", 1e11, 1e13),
    ("us", 1e14, 1e16),
    ("ns", 1e17, 2.0**63),
)
NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
OTHER = "other"  # a number in no unit's range
PER_US = {"s": 10**6, "ms": 10**3, "us": 1, "ns": 10**-3}  # microseconds per unit


def is_epoch_dtype(dtype: object) -> bool:
    """A pandas dtype whose values may be epoch numbers: integers and floats (not booleans, not complex)."""
    return bool(
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
    )


def epoch_numbers(column: pd.Series) -> np.ndarray:
    """A numeric column's values for this module: integers stay exact, the rest are floats (NaN: missing)."""
    if pd.api.types.is_integer_dtype(column.dtype):
        if isinstance(column.dtype, np.dtype):
            return column.to_numpy()
        if column.notna().all():
            return column.to_numpy(dtype=np.int64)
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def epoch_timestamps(column: pd.Series, unit: str) -> pd.Series:
    """A numeric column as datetime64[us, UTC] read in `unit`; NaT where missing or outside the unit's range."""
    micros, ok = to_microseconds(epoch_numbers(column), unit)
    ok &= column.notna().to_numpy()
    stamps = pd.Series(micros.astype("datetime64[us]"), index=column.index).where(ok)
    return stamps.dt.tz_localize("UTC").rename(column.name)


@dataclass(frozen=True)
class EpochVerdict:
    """What a ts column of numbers is: `unit` (None when it has no number), or `error`, a one-line refusal."""

    unit: str | None = None
    error: str | None = None

    @property
    def note(self) -> str | None:
        """How the gate read the column, for its notes and results."""
        return f"epoch {NAMES[self.unit]} (by magnitude), read as UTC times" if self.unit else None


def bounds(unit: str) -> tuple[float, float]:
    """[low, high) of `unit`'s numbers."""
    return next((lo, hi) for name, lo, hi in UNITS if name == unit)


def count_units(values: np.ndarray) -> tuple[dict[str, int], list[object]]:
    """How many of the numbers lie in each unit's range and in none (NaN is not counted); the first 3 in none."""
    array = np.asarray(values)
    x = array.astype(np.float64)
    inside = {name: (x >= lo) & (x < hi) for name, lo, hi in UNITS}
    counts = {name: int(mask.sum()) for name, mask in inside.items()}
    other = ~np.isnan(x) & ~np.logical_or.reduce(list(inside.values()))
    counts[OTHER] = int(other.sum())
    return counts, array[other][:3].tolist()


def decide(counts: Mapping[str, int], examples: Sequence[object] = ()) -> EpochVerdict:
    """The column's unit: the one unit whose range holds numbers; a number in no range is a bad row.

    Refused: numbers in the ranges of two units (a log mixing seconds and milliseconds), or numbers in
    none (`examples`: a few of them, to quote).
    """
    found = {name: counts.get(name, 0) for name, _, _ in UNITS if counts.get(name, 0)}
    if len(found) == 1:
        return EpochVerdict(unit=next(iter(found)))
    if found:
        parts = ", ".join(f"{n} look like epoch {NAMES[u]} ({_range(u)})" for u, n in found.items())
        return EpochVerdict(
            error=(
                f"{TS} holds numbers of more than one epoch unit: {parts}; write {TS} in one unit, or as ISO 8601 "
                f"strings such as '2024-03-01T12:00:00Z', in the loader"
            )
        )
    if counts.get(OTHER, 0):
        shown = ", ".join(repr(e) for e in examples)
        return EpochVerdict(
            error=(
                f"{TS} holds numbers that are no epoch time in seconds, milliseconds, microseconds or nanoseconds "
                f"between 1973 and 2262 (e.g. {shown}); write {TS} as ISO 8601 strings such as '2024-03-01T12:00:00Z'"
            )
        )
    return EpochVerdict()


def _range(unit: str) -> str:
    lo, hi = bounds(unit)
    return f"{lo:.0e} to {hi:.0e}".replace("e+", "e")


def to_microseconds(values: np.ndarray, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """(int64 microseconds since 1970, True where the value lies in `unit`'s range) of each number.

    Integers convert exactly (nanoseconds are floored to the microsecond); floats are rounded to the
    nearest microsecond. The file gate's SQL does the same (expectations.sql_rules.as_timestamp).
    """
    lo, hi = bounds(unit)
    array = np.asarray(values)
    as_float = array.astype(np.float64)
    ok = (as_float >= lo) & (as_float < hi)
    micros = np.zeros(array.shape, dtype=np.int64)
    if np.issubdtype(array.dtype, np.integer):
        ints = array[ok].astype(np.int64)
        micros[ok] = ints // 1000 if unit == "ns" else ints * int(PER_US[unit])
    else:
        micros[ok] = np.round(as_float[ok] * PER_US[unit]).astype(np.int64)
    return micros, ok
