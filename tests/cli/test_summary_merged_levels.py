"""The run summary says once per node when the network adjusted for a category coarser than its column."""

from __future__ import annotations

from recdo.cli.summary import merged_level_lines


def test_the_run_summary_says_it_once_per_node() -> None:
    rows = [
        {"method": "bn_do", "diagnostics": {"merged_levels": {"user_text": ["none", "t5"]}}},
        {"method": "bn_do", "diagnostics": {"merged_levels": {"user_text": ["none", "t5"]}}},
        {"method": "naive", "diagnostics": {}},
        {"method": "bn_do", "diagnostics": None},
    ]
    lines = merged_level_lines(rows)
    assert lines == [
        "Adjusted for user_text with its 2 rarest values merged into 'other' (none, t5): the network keeps at most "
        "CausalConfig.max_levels levels of a category, so this adjustment is coarser than the column; fewer "
        "distinct values keep it whole."
    ]
    assert merged_level_lines(rows[2:]) == []
