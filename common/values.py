"""JSON-safe values, integer checks with a fix in the message, and percentile intervals."""

from __future__ import annotations

import math

import numpy as np


def jsonable(value: object) -> object:
    """A JSON-safe copy: numpy scalars to float/int/bool, tuples and arrays to lists, inf/nan to strings.

    JSON has no inf or nan; writing them as "inf", "-inf" and "nan" keeps what they meant (an infinite
    sample size, an undefined ratio) where a null would not.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")
    return value


def check_int(name: str, value: object, minimum: int, fix: str) -> None:
    """Raise ValueError unless `value` is an int (not a bool) >= minimum; the message names the fix."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}; {fix}")


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` percentile interval of the finite draws; (nan, nan) when there are none."""
    kept = np.asarray(draws, dtype=float)
    kept = kept[~np.isnan(kept)]
    if kept.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(kept, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def percentile_intervals(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise central percentile intervals of a (replicates, k) array, ignoring nan draws."""
    with np.errstate(all="ignore"):
        lo = np.nanquantile(draws, (1 - level) / 2, axis=0)
        hi = np.nanquantile(draws, (1 + level) / 2, axis=0)
    return lo, hi


def item_name(value: object) -> str:
    """An item id as the string the log and the policies use: 3.0 -> "3", "a" -> "a"."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
