"""The run summary's notes: a category adjusted for coarser than its column; failed checks against their chance rate."""

from __future__ import annotations

from recdo.cli.summary import merged_level_lines, refutation_note


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


def _ate(method: str, passed: tuple[bool, bool, bool], false_alarm: float | None = 0.05) -> dict:
    names = ("placebo", "random_common_cause", "random_halves")
    checks = {n: {"passed": p} for n, p in zip(names, passed)}
    if false_alarm is not None:
        checks["placebo"]["false_alarm"] = checks["random_halves"]["false_alarm"] = false_alarm
    return {"method": method, "estimand": "ate", "diagnostics": {"refutations": checks}}


def test_a_failed_check_is_set_against_how_many_fail_by_chance() -> None:
    rows = [_ate("bn_do", (True, True, False)), _ate("bn_do", (False, False, True))] + [
        _ate("bn_do", (True, True, True)) for _ in range(8)
    ]
    (line,) = refutation_note(rows)
    # 20 calibrated checks (the coin's failure is not one of them), 2 failed, 20 x 0.05 = 1.0 expected by chance
    assert line.startswith("Checks: 2 of 20 placebo and random-halves checks failed.")
    assert "about 5% of them fail by chance" in line and "about 1.0 here" in line
    assert refutation_note([_ate("bn_do", (True, False, True))]) == []  # only the coin failed: nothing to calibrate
    assert refutation_note([_ate("bn_do", (False, True, True), false_alarm=None)]) == []  # rows stored before
    assert refutation_note([_ate("naive", (False, True, False))]) == []
