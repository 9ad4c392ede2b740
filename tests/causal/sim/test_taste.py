"""Taste-following logging: item propensities, item-level exact truth, taste as a confounder, and allocations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal.sim.model import ACTIVITY, STRATEGIES, logging_policy
from causal.sim.simulator import SimulatorConfig, simulate
from causal.sim.taste import ItemWorld, item_world
from recdo.cli.simulate import main

DATA = Path(__file__).resolve().parents[3] / "data" / "ml-latest-small"
TASTE = dict(users=120, impressions=4_000, seed=2, taste_following=0.5)


@pytest.fixture(scope="module")
def sim():
    return simulate(SimulatorConfig(**TASTE), DATA)


@pytest.fixture(scope="module")
def world(sim) -> ItemWorld:
    return item_world(sim, DATA)


@pytest.fixture(scope="module")
def world_20k() -> ItemWorld:
    return item_world(SimulatorConfig(**{**TASTE, "impressions": 20_000}), DATA)  # its log simulated for the weights


def test_item_propensity_is_the_logging_distribution_at_the_shown_item(sim, world):
    log = sim.log
    assert "item_propensity" in log.columns and log["item_propensity"].dtype == np.float64
    users, items = world.locate(log)
    np.testing.assert_allclose(log["item_propensity"].to_numpy(), world.logging[users, items], rtol=0, atol=1e-15)
    np.testing.assert_allclose(world.logging.sum(axis=1), 1.0, atol=1e-12)
    assert (world.logging[~world.unseen] == 0).all()  # rated items are never served
    # the strategy's own share is a lower bound: π(S | u)·P(I | S, u) <= P(I | u) <= 1
    k = SimulatorConfig.candidates
    own = np.where(log["strategy"] == "random", 0.0, log["propensity"] / k)
    assert (log["item_propensity"].to_numpy() >= own - 1e-15).all() and (log["item_propensity"] <= 1).all()


def test_value_of_each_strategy_policy_is_the_exact_truth_of_do_strategy(sim, world):
    assert world.user_weight.sum() == pytest.approx(1.0, abs=1e-12)
    assert world.users.shape == (120,) and world.q.shape == world.logging.shape == (120, len(world.items))
    for name in STRATEGIES:
        assert world.value(world.strategy_policy(name)) == pytest.approx(sim.truth_value("strategy", name), abs=1e-9)
    # the logging policy's value is its mixture over strategies, and the greedy policy on q is the best there is
    mixture = sum(
        world.user_weight @ (world.policy[:, s] * (world.strategy_policy(name) * world.q).sum(axis=1))
        for s, name in enumerate(STRATEGIES)
    )
    assert world.value(world.logging) == pytest.approx(mixture, abs=1e-12)
    best = world.value(world.greedy(world.q))
    assert best > max(world.value(world.strategy_policy(n)) for n in STRATEGIES)
    assert world.value(world.softmax(np.log(world.q), temperature=0.05)) < best
    assert (world.softmax(world.q)[~world.unseen] == 0).all()


def test_item_text_and_ids_are_the_logs(sim, world):
    users, items = world.locate(sim.log)
    assert (world.item_text[items] == sim.log["item_text"].to_numpy()).all()
    assert (world.users[users] == sim.log["user_id"].to_numpy()).all()
    with pytest.raises(ValueError, match=r"user_id 'nobody' is not in this ItemWorld"):
        world.locate(sim.log.head(1).assign(user_id="nobody"))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda w: w.strategy_policy("bandit"), r"strategy 'bandit' is not a strategy"),
        (lambda w: w.value(np.ones((2, 2))), r"target must be \(users, items\) = \(120, \d+\); got \(2, 2\)"),
        (lambda w: w.value(np.zeros(w.q.shape)), r"target rows must be item distributions summing to 1"),
        (lambda w: w.softmax(w.q, temperature=0.0), r"temperature must be > 0; got 0.0"),
    ],
)
def test_item_world_errors_name_value_and_fix(world, call, message):
    with pytest.raises(ValueError, match=message):
        call(world)


def test_hiding_taste_biases_the_activity_adjusted_contrasts_exactly(sim, world):
    """The large-sample limit of adjusting for activity alone, from exact per-user means: taste confounds."""
    users = sim.log.drop_duplicates("user_id").set_index("user_id").loc[world.users]
    mean = np.stack([(world.strategy_policy(n) * world.q).sum(axis=1) for n in STRATEGIES], axis=1)  # (N, S)

    def adjusted(cells: list[str]) -> np.ndarray:
        key = users[cells].astype(str).agg("/".join, axis=1).to_numpy()
        out = np.zeros(len(STRATEGIES))
        for cell in np.unique(key):
            w = world.user_weight * (key == cell)
            served = w[:, None] * world.policy  # P(u, s | cell) up to a constant
            out += w.sum() * (served * mean).sum(axis=0) / served.sum(axis=0)  # Σ_cell P(cell)·E[C | s, cell]
        return out - out[STRATEGIES.index("random")]

    truth = np.array([sim.truth_value("strategy", n, estimand="ate") if n != "random" else 0.0 for n in STRATEGIES])
    # exact up to the float32 click probabilities of the truth's random arm
    np.testing.assert_allclose(adjusted(["user_activity", "user_taste"]), truth, rtol=0, atol=1e-9)
    bias = adjusted(["user_activity"]) - truth
    # every strategy-vs-random contrast inflated: 0.022-0.034 on these 120 users (0.032-0.042 on all 610)
    assert (bias[:-1] > 0.015).all(), bias


def test_taste_following_moves_the_strategy_mix_within_activity(sim):
    log = sim.log
    assert set(log["user_taste"]) == {"Drama", "Comedy", "Action", "other"}
    share = log.groupby(["user_taste", "strategy"]).size().unstack(fill_value=0)
    share = share.div(share.sum(axis=1), axis=0)
    assert share.loc["other", "random"] > 0.35 > share.loc["Drama", "random"]
    # the logged propensity is the mixed policy's, so it varies with taste within an activity level
    by_cell = log[log["strategy"] == "random"].groupby(["user_activity", "user_taste"])["propensity"].nunique()
    assert (by_cell == 1).all()
    spread = log[log["strategy"] == "random"].groupby("user_activity")["propensity"].nunique()
    assert (spread > 1).all()


@pytest.mark.slow
def test_taste_following_zero_adds_no_column_and_an_equal_allocation_changes_no_draw():
    plain = simulate(SimulatorConfig(users=60, impressions=1_500, seed=4), DATA)
    assert "item_propensity" not in plain.log.columns
    pi = logging_policy(SimulatorConfig.confounding)
    allocated = simulate(SimulatorConfig(users=60, impressions=1_500, seed=4, allocation=pi), DATA)
    pd.testing.assert_frame_equal(allocated.log.drop(columns="item_propensity"), plain.log)
    assert allocated.truth == plain.truth


def test_an_allocation_replaces_the_logging_policy():
    allocation = {
        "low": {"popular": 1.0},
        "mid": {"random": 0.5, "content": 0.5},
        "high": {"collaborative": 0.25, "content": 0.25, "popular": 0.25, "random": 0.25},
    }
    config = SimulatorConfig(users=60, impressions=3_000, seed=5, allocation=allocation)
    assert config.allocation[0] == (1.0, 0.0, 0.0, 0.0)
    log = simulate(config, DATA).log
    table = np.array(config.allocation)
    act = log["user_activity"].map(ACTIVITY.index).to_numpy()
    np.testing.assert_array_equal(log["propensity"], table[act, log["strategy"].map(STRATEGIES.index).to_numpy()])
    assert set(log.loc[log["user_activity"] == "low", "strategy"]) == {"popular"}
    assert set(log.loc[log["user_activity"] == "mid", "strategy"]) == {"random", "content"}
    assert log.loc[log["user_activity"] == "high", "strategy"].nunique() == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"taste_following": 1.5}, r"taste_following must be in \[0, 1\]; got 1.5"),
        ({"taste_click_effect": float("nan")}, r"taste_click_effect must be a finite number"),
        ({"allocation": {"low": {"popular": 1.0}}}, r"one row per activity .* missing \['high', 'mid'\]"),
        ({"allocation": {a: {"bandit": 1.0} for a in ACTIVITY}}, r"allocation\['low'\] names \['bandit'\]"),
        ({"allocation": np.full((3, 4), 0.3)}, r"rows must be probabilities summing to 1; got row sums \[1.2"),
        ({"allocation": np.full((2, 4), 0.25)}, r"allocation must be 3 x 4 \(activity x strategy\); got \(2, 4\)"),
    ],
)
def test_taste_and_allocation_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimulatorConfig(**kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_forced_strategy_matches_the_exact_truth_under_taste_following(world_20k, strategy):
    config = SimulatorConfig(**{**TASTE, "impressions": 20_000, "force_strategy": strategy})
    forced = simulate(config, DATA)
    unforced = world_20k
    assert (forced.log["strategy"] == strategy).all() and (forced.log["propensity"] == 1.0).all()
    for outcome in ("click", "returned"):
        truth = forced.truth_value("strategy", strategy, outcome)
        se = np.sqrt(truth * (1 - truth) / len(forced.log))
        assert abs(forced.log[outcome].mean() - truth) < 3 * se, (outcome, forced.log[outcome].mean(), truth, se)
    # the same users as the unforced log, so the item-level value is the forced log's truth too
    assert unforced.value(unforced.strategy_policy(strategy)) == pytest.approx(forced.truth_value("strategy", strategy))
    users, items = unforced.locate(forced.log)
    expected = unforced.strategy_policy(strategy)[users, items]
    np.testing.assert_allclose(forced.log["item_propensity"].to_numpy(), expected, atol=1e-15)


def test_cli_taste_following_writes_item_propensity(tmp_path, capsys):
    out = tmp_path / "sim"
    argv = ["--users", "40", "--impressions", "800", "--seed", "1", "--taste-following", "0.5"]
    assert main([*argv, "--out", str(out), "--data", str(DATA)]) == 0
    log = pd.read_parquet(out / "log.parquet")
    assert len(log) == 800 and ((log["item_propensity"] > 0) & (log["item_propensity"] <= 1)).all()
    with pytest.raises(SystemExit):
        main(["--taste-following", "2", "--out", str(tmp_path / "bad"), "--data", str(DATA)])
    assert "taste_following must be in [0, 1]; got 2.0" in capsys.readouterr().err
