"""The allocation: Thompson probabilities with an exploration floor, fallbacks for segments without a decision."""

from __future__ import annotations

import numpy as np
import pytest

from causal.decide.allocation import SCHEMA, allocate, thompson
from tests.causal.decide.decisions import decision as _d


def test_thompson_keeps_the_floor_and_sums_to_one():
    probs = thompson({"a": 0.0, "b": 0.9, "c": 0.1}, 0.06)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-12)
    assert min(probs.values()) >= 0.06 / 3 - 1e-12
    assert probs["b"] == pytest.approx(0.02 + 0.94 * 0.9)
    with pytest.raises(ValueError, match=r"exploration floor must be in \[0, 1\]; got 1.5"):
        thompson({"a": 1.0}, 1.5)


def test_allocation_per_segment_with_default_for_a_segment_without_decision():
    population = _d([[0.1, 0.3, 0.2], [0.1, 0.2, 0.3]])
    high = _d([[0.1, 0.3, 0.2]] * 3, "activity", "high")
    low = _d([[0.1, np.nan, 0.2]] * 3, "activity", "low")
    alloc = allocate((population, high, low), 0.05, "r1", "2024-03-08T00:00:00+00:00").to_json()
    assert alloc["schema"] == SCHEMA and alloc["segment_column"] == "activity"
    assert set(alloc["allocation"]) == {"high", "low"}
    for probs in alloc["allocation"].values():
        assert sum(probs.values()) == pytest.approx(1.0)
        assert min(probs.values()) >= 0.05 / 3 - 1e-12
    assert max(alloc["allocation"]["high"], key=alloc["allocation"]["high"].get) == "b"
    assert alloc["allocation"]["low"] == alloc["default"]
    assert alloc["default"]["b"] == pytest.approx(alloc["default"]["c"])  # each won one replicate
    assert alloc["notes"] and alloc["notes"][0].startswith("activity=low: no decision")


def test_allocation_without_segments_is_one_row_for_everyone():
    alloc = allocate((_d([[0.1, 0.3, 0.2]] * 2),), 0.0, "r1", "now").to_json()
    assert alloc["segment_column"] is None
    assert alloc["allocation"] == {"all": {"a": 0.0, "b": 1.0, "c": 0.0}}
