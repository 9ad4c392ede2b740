"""A partition run keeps its day's rows and says how many rows belong to no day, instead of losing them quietly."""

from __future__ import annotations

import pandas as pd

from tasks.partition import select_partition
from tasks.refs import LogRef


def test_partition_keeps_its_day_and_counts_undated_rows(tmp_path):
    frame = pd.DataFrame(
        {
            "event_id": ["a", "b", "c", "d"],
            "ts": ["2024-03-01T10:00:00Z", "2024-03-01T23:59:59Z", "2024-03-02T00:00:00Z", "not a time"],
            "click": [0, 1, 0, 1],
        }
    )
    path = tmp_path / "log.parquet"
    frame.to_parquet(path, index=False)
    log = LogRef(path=str(path), n_rows=4, data_hash="h", source="table:log.parquet", notes="")
    part = select_partition.fn(log, "2024-03-01")
    assert part.n_rows == 2 and pd.read_parquet(part.path).event_id.tolist() == ["a", "b"]
    assert part.data_hash == "h"
    assert "partition 2024-03-01: 2 of 4 rows" in part.notes
    assert "1 rows have no parseable ts and so no partition" in part.notes
