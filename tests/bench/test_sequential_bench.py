"""bench/sequential.py: A/A false positives of the always-valid CS against naive peeking, power, and its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.sequential import main, run, simulate

REPO = Path(__file__).resolve().parents[2]


def test_always_valid_keeps_aa_false_positives_where_peeking_inflates_them() -> None:
    aa = simulate(sims=600, looks=20, per_look=300, rate_t=0.1, rate_c=0.1, seed=11)
    assert aa.ever_always_valid <= 0.05
    assert aa.ever_naive >= 0.15
    assert aa.last_fixed <= 0.09  # one planned test keeps about its 5%: the inflation comes from peeking


def test_power_on_a_true_effect_and_the_price_of_always_valid() -> None:
    result, _, ab = run(sims=400, looks=20, per_look=500, rate=0.1, effect=0.015, seed=5)
    assert result["power"]["fixed"] == ab.last_fixed >= 0.8
    # always valid costs power against one planned test at the same horizon, but still finds a real effect
    assert 0.4 <= result["power"]["always_valid"] < result["power"]["fixed"]


def test_the_same_seed_gives_the_same_figures() -> None:
    a, b = (run(sims=50, looks=5, per_look=100, rate=0.2, effect=0.05, seed=9)[0] for _ in range(2))
    assert a == b


def _check_shape(result: dict) -> None:
    assert set(result) == {"aa_false_positive", "power"}
    assert set(result["aa_false_positive"]) == {"always_valid", "naive"}
    assert set(result["power"]) == {"always_valid", "fixed"}
    assert all(0.0 <= v <= 1.0 and isinstance(v, float) for part in result.values() for v in part.values())


def test_json_has_exactly_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sims", "40", "--looks", "6", "--json", "--seed", "2"]) == 0
    _check_shape(json.loads(capsys.readouterr().out))


@pytest.mark.slow  # a fresh interpreter importing numpy and pandas
@pytest.mark.integration
def test_the_script_prints_the_json_from_the_command_line() -> None:
    out = subprocess.run(
        [sys.executable, "bench/sequential.py", "--sims", "40", "--looks", "6", "--json", "--seed", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    _check_shape(json.loads(out.stdout))


def test_the_table_states_the_bar(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sims", "200", "--looks", "10", "--per-look", "200"]) == 0
    out = capsys.readouterr().out
    assert "A/A false positives (both 0.1)" in out and "power (0.11 vs 0.1)" in out
    assert "bar (always-valid A/A <= 0.05 where naive >= 0.15):" in out


def test_invalid_arguments_name_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--sims", "0"])
    assert "sims must be at least 1; got 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="rate_t must be a click rate in \\[0, 1\\]; got 1.2"):
        simulate(10, 3, 10, 1.2, 0.1)
