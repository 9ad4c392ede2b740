"""The closed loop's pure parts: regret against hand-computed values, the baselines' allocations, the next file."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from causal.decide import loop
from causal.decide.allocation import SCHEMA
from tests.causal.decide.decisions import VALUES
from tests.causal.decide.decisions import decision as _d

SEGMENTS = ("low", "high")
MU = {"low": {"a": 0.5, "b": 0.2, "c": 0.1}, "high": {"a": 0.4, "b": 0.7, "c": 0.3}}
SHARE = {"low": 0.25, "high": 0.75}


def test_the_oracle_has_zero_regret_and_uniform_its_closed_form():
    assert loop.oracle(MU) == {"low": {"a": 1.0, "b": 0.0, "c": 0.0}, "high": {"a": 0.0, "b": 1.0, "c": 0.0}}
    assert loop.regret(loop.oracle(MU), MU, SHARE) == 0.0
    # uniform gives up max - mean in each segment: low 0.5 - 0.8/3, high 0.7 - 1.4/3
    closed = 0.25 * (0.5 - 0.8 / 3) + 0.75 * (0.7 - 1.4 / 3)
    assert loop.regret(loop.uniform_over(SEGMENTS, VALUES), MU, SHARE) == pytest.approx(closed, abs=1e-15)


def test_regret_weighs_each_segments_gap_by_its_share_and_probability():
    alloc = {"low": {"a": 0.5, "b": 0.5, "c": 0.0}, "high": {"a": 0.0, "b": 0.0, "c": 1.0}}
    assert loop.regret(alloc, MU, SHARE) == pytest.approx(0.25 * 0.5 * 0.3 + 0.75 * 0.4)


def test_regret_refuses_an_allocation_that_is_no_distribution_or_misses_a_segment():
    with pytest.raises(ValueError, match=r"allocation\['low'\] = .* is not a distribution over \['a', 'b', 'c'\]"):
        loop.regret({"low": {"a": 0.5, "b": 0.4}, "high": {"b": 1.0}}, MU, SHARE)
    with pytest.raises(ValueError, match=r"the allocation has no row for segments \['high'\]"):
        loop.regret({"low": {"a": 1.0}}, MU, SHARE)


def _simpson_log() -> pd.DataFrame:
    """'b' serves mostly the high segment, whose users click more: naive pooling favours b, each segment favours a."""
    rows = []
    for seg, value, n, clicks in (
        ("low", "a", 80, 24),  # 0.30
        ("low", "b", 20, 4),  # 0.20
        ("high", "a", 20, 18),  # 0.90
        ("high", "b", 80, 64),  # 0.80
        ("high", "c", 10, 1),
    ):
        rows += [{"seg": seg, "v": value, "y": int(i < clicks)} for i in range(n)]
    return pd.DataFrame(rows)


def test_greedy_naive_follows_the_pooled_rate_and_epsilon_greedy_each_segments():
    counts = loop.count_arms(_simpson_log(), "seg", "v", "y")
    assert list(counts.columns) == list(loop.COUNT_COLUMNS) and counts["n"].sum() == 210
    low_a = counts[(counts["segment_value"] == "low") & (counts["value"] == "a")]
    pooled = loop.pool_counts([counts, low_a])  # two days' counts: low/a seen on both
    assert pooled.set_index(["segment_value", "value"]).loc[("low", "a"), "positives"] == 48
    assert pooled["n"].sum() == 290
    # pooled naive: a = 42/100, b = 68/100 -> b for everyone, though a is better within each segment
    assert loop.greedy_naive(counts, SEGMENTS, VALUES) == {s: {"a": 0.0, "b": 1.0, "c": 0.0} for s in SEGMENTS}
    eps = loop.epsilon_greedy(counts, SEGMENTS, VALUES, epsilon=0.3)
    assert eps["low"] == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1})
    assert eps["high"] == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1})
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\]; got 1.5"):
        loop.epsilon_greedy(counts, SEGMENTS, VALUES, epsilon=1.5)
    with pytest.raises(ValueError, match=r"the log lacks columns \['seg'\]"):
        loop.count_arms(_simpson_log().drop(columns="seg"), "seg", "v", "y")


def test_thompson_allocation_has_a_row_for_every_segment_with_the_floor():
    population = _d([[0.1, 0.3, 0.2], [0.1, 0.2, 0.3]])
    high = _d([[0.1, 0.3, 0.2]] * 3, "activity", "high")
    alloc = loop.thompson_allocation([population, high], 0.06, ("low", "high"))
    assert set(alloc) == {"low", "high"}
    assert alloc["high"] == pytest.approx({"a": 0.02, "b": 0.96, "c": 0.02})
    assert alloc["low"] == pytest.approx({"a": 0.02, "b": 0.49, "c": 0.49})  # the population's default: a 50/50 tie
    assert loop.regret(alloc, {s: MU["high"] for s in alloc}, {"low": 0.5, "high": 0.5}) > 0


def test_summarise_takes_all_days_and_the_last_ones():
    s = loop.summarise([0.4, 0.2, 0.1, 0.1], last=2)
    assert (s.overall, s.final, s.last) == (pytest.approx(0.2), pytest.approx(0.1), 2)
    assert loop.summarise([0.3], last=10).final == 0.3
    with pytest.raises(ValueError, match="no day's regret to summarise"):
        loop.summarise([])


def test_the_next_allocation_names_the_previous_run_and_reads_back(tmp_path):
    decisions = [_d([[0.1, 0.3, 0.2], [0.1, 0.2, 0.3]]), _d([[0.1, 0.3, 0.2]] * 3, "activity", "high")]
    body = loop.next_allocation(
        decisions, floor=0.05, run_id="r2", created="2024-03-02T00:00:00+00:00", previous_run_id="r1"
    )
    assert (body["schema"], body["run_id"], body["previous_run_id"]) == (SCHEMA, "r2", "r1")
    assert all(sum(row.values()) == pytest.approx(1.0) for row in body["allocation"].values())
    assert loop.previous_of(None, "r3") is None
    assert loop.previous_of(body, "r3") == "r2"
    assert loop.previous_of(body, "r2") == "r1"  # a re-run of r2 reads its own file: it follows r1, not itself
    path = tmp_path / "strategy.json"
    assert loop.read_previous(path) is None  # the loop's first day: nothing served before
    path.write_text(json.dumps(body))
    assert loop.read_previous(path)["run_id"] == "r2"
    path.write_text(json.dumps([body, body]))
    with pytest.raises(ValueError, match=r"is not one allocation of schema 'recdo.allocation/1' with a run_id"):
        loop.read_previous(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"strategy.json is not JSON"):
        loop.read_previous(path)
    other = _d([[0.1, 0.3, 0.2]] * 3)
    other = type(other)(**{**other.__dict__, "outcome": "z"})
    with pytest.raises(ValueError, match=r"an allocation file is of one \(treatment, outcome\) pair"):
        loop.next_allocation([decisions[0], other], floor=0.05, run_id="r", created="", previous_run_id=None)
