"""bench/cuped.py: users drawn into arms once, the JSON it prints, and the bar its summary applies."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.cuped import METHODS, assign_users, main, summarise
from causal.sim.model import STRATEGIES


def test_each_user_gets_one_arm_drawn_once_in_equal_shares() -> None:
    users = pd.Index([f"u{i}" for i in range(610)])
    arms = assign_users(users, STRATEGIES, seed=3)
    assert arms.index.equals(users) and set(arms) == set(STRATEGIES)
    sizes = arms.value_counts()
    assert sizes.max() - sizes.min() <= 1  # 610 users over 4 arms: 153, 153, 152, 152
    assert arms.equals(assign_users(users, STRATEGIES, seed=3))  # seeded
    assert not arms.equals(assign_users(users, STRATEGIES, seed=4))


def record(method: str, ratio: float, covered: bool) -> dict:
    return {
        "method": method,
        "width": 10 * ratio,
        "width_vs_plain": ratio,
        "variance_reduction": 0.0,
        "covered": covered,
    }


def test_the_bar_needs_both_narrower_intervals_and_coverage() -> None:
    records = [record("plain", 1.0, True)] * 10
    records += [record("cuped", 0.8, True)] * 9 + [record("cuped", 0.8, False)]  # 90% cover: enough
    records += [record("cupac", 0.95, True)] * 10  # covers, but only 5% narrower
    summary = summarise(records)
    assert summary["cuped"]["meets_bar"] and summary["cuped"]["coverage"] == 0.9
    assert not summary["cupac"]["meets_bar"] and summary["cupac"]["mean_width_vs_plain"] == pytest.approx(0.95)
    worse = records[:10] + [record("cuped", 0.8, True)] * 8 + [record("cuped", 0.8, False)] * 2 + records[20:]
    assert not summarise(worse)["cuped"]["meets_bar"]  # 80% coverage fails however narrow


@pytest.mark.slow  # six simulations of the MovieLens world
def test_the_json_has_one_interval_per_seed_method_and_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "1", "--impressions", "2000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"config", "summary", "meets_bar", "records", "seconds"}
    assert set(result["summary"]) == set(METHODS)
    records = result["records"]
    compared = [s for s in STRATEGIES if s != "random"]
    assert sorted((r["method"], r["value"]) for r in records) == sorted((m, s) for m in METHODS for s in compared)
    for r in records:
        assert r["covered"] == (r["ci_low"] <= r["truth"] <= r["ci_high"])
        assert r["width"] == pytest.approx(r["ci_high"] - r["ci_low"])
        assert r["n_users"] > 300  # two of four arms of the 610 users
    plain = {r["value"]: r for r in records if r["method"] == "plain"}
    assert all(r["width_vs_plain"] == 1.0 and r["variance_reduction"] == 0.0 for r in plain.values())
    for r in records:  # every method estimates the same truth from the same users
        assert r["truth"] == plain[r["value"]]["truth"]
    assert isinstance(result["meets_bar"], bool) and result["config"]["impressions"] == 2000
