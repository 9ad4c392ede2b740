"""A row's partition comes from its ts read exactly as the gate reads it: ISO 8601, or no partition."""

from __future__ import annotations

import warnings

import pandas as pd

from expectations.custom import parse_timestamps
from sources import partitions

MIXED = [
    "2024-03-01T10:00:00Z",
    "2024-03-02 09:30:00",
    "2024-03-02T23:59:59+02:00",  # 21:59 UTC: still the 2nd
    "03/01/2024 10:00",  # ambiguous day/month: the gate refuses it
    "5",
    "not a date",
    None,
]


def test_partitions_date_exactly_the_rows_the_gate_reads_and_say_nothing() -> None:
    frame = pd.DataFrame({"ts": MIXED})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' "Could not infer format" warning came from guessing here
        got = partitions.partition_of(frame)
    assert got.tolist() == ["2024-03-01", "2024-03-02", "2024-03-02", "unknown", "unknown", "unknown", "unknown"]
    gate = parse_timestamps(frame["ts"])
    assert (got == "unknown").tolist() == gate.isna().tolist()
    assert partitions.partitions_in(frame) == ["2024-03-01", "2024-03-02"]
