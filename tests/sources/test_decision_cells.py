"""The DR policy value's input: a scored log counted per (segment, value, outcome, propensity) by DuckDB."""

from __future__ import annotations

import pandas as pd

from causal.decide.policy import CELL_COLUMNS
from sources.decision_cells import COLUMNS, decision_cells


def test_the_log_is_counted_per_cell_and_a_missing_column_is_named(tmp_path) -> None:
    assert COLUMNS == CELL_COLUMNS  # the counts are read by causal.decide.policy.dr_value under these names
    log = pd.DataFrame(
        {
            "user_activity": ["high", "high", "high", "low", None],
            "strategy": ["popular", "popular", "random", "random", "random"],
            "click": [1, 1, 0, 1, 1],
            "propensity": [0.5, 0.5, 0.25, 0.25, 0.25],
        }
    )
    path = tmp_path / "scored.parquet"
    log.to_parquet(path, index=False)
    cells = decision_cells(str(path), "strategy", "click", "user_activity")
    got = sorted(map(tuple, cells.to_numpy().tolist()))
    assert got == [("high", "popular", 1.0, 0.5, 2), ("high", "random", 0.0, 0.25, 1), ("low", "random", 1.0, 0.25, 1)]
    assert decision_cells(str(path), "strategy", "click", None) == "no CATE segment, so no segment policy"
    assert "no column ['returned']" in decision_cells(str(path), "strategy", "returned", "user_activity")
