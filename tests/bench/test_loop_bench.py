"""bench/loop.py: the exact per-segment truth, days served by the allocation given, and the JSON it prints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.loop import POLICIES, Day, main, serve
from causal.sim.model import ACTIVITY, STRATEGIES, logging_policy, reason_probability
from causal.sim.segments import segment_truth
from causal.sim.simulator import SimulatorConfig, sampled_world
from causal.sim.truth import exact_truth


@pytest.fixture(scope="module")
def small_world():  # 60 users: the catalogue and the world build in about a second
    config = SimulatorConfig(users=60, impressions=600, seed=3, days=1)
    return Day(sampled_world(config), config)


def test_segment_truth_is_exact_truth_over_each_segments_users_and_shares_sum_to_one(small_world):
    world, config = small_world.world, small_world.config
    truth = segment_truth(world, config)
    assert truth.share.sum() == pytest.approx(1.0) and (truth.share > 0).all()
    for a, name in enumerate(ACTIVITY):
        mine = world.act == a  # each of the segment's users once: exact_truth's mean over them is the segment's
        rows = exact_truth(
            world.p_table[mine],
            world.act[mine],
            np.zeros(mine.sum()),
            reason_probability(config.reason_confounding),
            logging_policy(config.confounding),
            n_positions=config.n_positions,
            click_on_return=config.click_on_return,
        )
        expected = {
            r.treatment_value: r.value
            for r in rows
            if (r.treatment, r.outcome, r.estimand) == ("strategy", "click", "interventional_mean")
        }
        assert expected.keys() == set(STRATEGIES)
        for s in STRATEGIES:
            assert truth.value(name, s) == pytest.approx(expected[s], abs=1e-12)
    assert set(truth.best()) == set(ACTIVITY) and truth.best()["low"] in STRATEGIES


def test_a_day_is_served_by_the_allocation_it_is_given(small_world):
    greedy = {a: {s: float(s == "content") for s in STRATEGIES} for a in ACTIVITY}
    log = serve(small_world, greedy, number=2, seed=3)
    assert set(log["strategy"]) == {"content"} and (log["propensity"] == 1.0).all()
    assert set(log["partition"]) == {"2024-03-02"} and log["event_id"].is_unique
    first = serve(small_world, None, number=1, seed=3)
    assert set(first["strategy"]) == set(STRATEGIES) and set(first["partition"]) == {"2024-03-01"}
    # the same day's streams for every policy: the same users and slots, whatever is served
    again = serve(small_world, {a: {s: 0.25 for s in STRATEGIES} for a in ACTIVITY}, number=2, seed=3)
    assert (again["user_id"].to_numpy() == log["user_id"].to_numpy()).all()
    assert (again["position"].to_numpy() == log["position"].to_numpy()).all()


def test_the_json_has_every_policys_regret_over_all_and_the_last_days(capsys):
    argv = ["--days", "3", "--per-day", "400", "--bootstrap", "10", "--users", "60", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(POLICIES) == {"recdo", "uniform", "greedy_naive", "epsilon_greedy"}
    for key in ("regret", "final_regret"):
        assert set(result[key]) == set(POLICIES)
        assert all(isinstance(v, float) and v >= 0 for v in result[key].values())
    assert all(len(result["per_day"][p]) == 3 for p in POLICIES)
    # day 1 is the logging policy for everyone; then uniform keeps every strategy's gap, which no learner exceeds
    assert len({result["per_day"][p][0] for p in POLICIES}) == 1
    assert result["regret"]["uniform"] == pytest.approx(np.mean(result["per_day"]["uniform"]))
    assert all(result["per_day"][p][-1] < result["per_day"]["uniform"][-1] for p in POLICIES if p != "uniform")
    for rows in result["final_allocation"].values():
        assert all(sum(row.values()) == pytest.approx(1.0) for row in rows.values())
