"""The MovieLens recommender simulator: determinism, schema, logged propensities, and exact interventional truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal.sim.model import ACTIVITY, STRATEGIES, logging_policy
from causal.sim.simulator import SimulatorConfig, simulate
from causal.sim.truth import TruthRow
from recdo.cli.simulate import main

DATA = Path(__file__).resolve().parents[3] / "data" / "ml-latest-small"
BIG = 50_000


@pytest.fixture(scope="module")
def big():
    return simulate(SimulatorConfig(impressions=BIG, seed=0), DATA)


@pytest.fixture(scope="module")
def small():
    return simulate(SimulatorConfig(users=80, impressions=3_000, seed=1), DATA)


@pytest.mark.slow
def test_same_seed_same_log_and_truth_other_seed_differs(small):
    again = simulate(SimulatorConfig(users=80, impressions=3_000, seed=1), DATA)
    pd.testing.assert_frame_equal(small.log, again.log)
    assert small.truth == again.truth
    other = simulate(SimulatorConfig(users=80, impressions=3_000, seed=2), DATA)
    assert not other.log["user_id"].equals(small.log["user_id"])
    assert not other.log["click"].equals(small.log["click"])
    assert other.truth != small.truth


def test_schema_and_dtypes(small):
    log = small.log
    assert list(log.columns) == [
        "event_id",
        "ts",
        "user_id",
        "item_id",
        "strategy",
        "position",
        "propensity",
        "reason_shown",
        "click",
        "returned",
        "user_activity",
        "user_taste",
        "item_title",
        "item_genres",
        "item_text",
        "partition",
    ]
    assert log["event_id"].is_unique
    assert isinstance(log["ts"].dtype, pd.DatetimeTZDtype) and str(log["ts"].dt.tz) == "UTC"
    assert log["ts"].is_monotonic_increasing
    for col in ("position", "reason_shown", "click", "returned"):
        assert log[col].dtype == np.int64, col
    assert log["propensity"].dtype == np.float64
    for col in ("event_id", "user_id", "item_id", "strategy", "user_activity", "user_taste", "item_text", "partition"):
        assert pd.api.types.is_string_dtype(log[col]), col
    assert set(log["strategy"]) == set(STRATEGIES)
    assert set(log["user_activity"]) == set(ACTIVITY)
    assert set(log["position"]) == set(range(5))
    assert set(log["click"]) == {0, 1} and set(log["returned"]) == {0, 1} and set(log["reason_shown"]) == {0, 1}
    assert (log["partition"] == log["ts"].dt.strftime("%Y-%m-%d")).all()
    assert log["partition"].nunique() == 3
    assert (log["item_text"] == log["item_title"] + " | " + log["item_genres"]).all()
    movies = pd.read_csv(DATA / "movies.csv").assign(movieId=lambda m: m["movieId"].astype(str))
    titles = log.merge(movies, left_on="item_id", right_on="movieId", how="left")
    assert (titles["title"] == titles["item_title"]).all()  # real catalogue items with their own titles


def test_propensity_is_the_logging_policy_probability_of_the_logged_strategy(small):
    log = small.log
    pi = logging_policy(SimulatorConfig().confounding)
    expected = pi[log["user_activity"].map(ACTIVITY.index).to_numpy(), log["strategy"].map(STRATEGIES.index).to_numpy()]
    np.testing.assert_allclose(log["propensity"].to_numpy(), expected)
    assert ((log["propensity"] > 0) & (log["propensity"] <= 1)).all()
    np.testing.assert_allclose(pi.sum(axis=1), 1.0)


@pytest.mark.slow
def test_truth_rows_are_complete_and_ates_are_differences_of_means(big):
    rows = big.truth
    assert all(isinstance(r, TruthRow) for r in rows)
    assert len(rows) == 2 * (4 + 3) + 2 * (2 + 1)
    for outcome in ("click", "returned"):
        for v in STRATEGIES[:-1]:
            ate = big.truth_value("strategy", v, outcome, "ate")
            diff = big.truth_value("strategy", v, outcome) - big.truth_value("strategy", "random", outcome)
            assert ate == pytest.approx(diff, abs=1e-12)
        ate = big.truth_value("reason_shown", "1", outcome, "ate")
        diff = big.truth_value("reason_shown", "1", outcome) - big.truth_value("reason_shown", "0", outcome)
        assert ate == pytest.approx(diff, abs=1e-12)
        for r in rows:
            assert 0.0 < r.value < 1.0 or r.estimand == "ate"
    assert {r.baseline_value for r in rows if r.estimand == "ate"} == {"random", "0"}
    # the strategies really differ: random is the worst by a wide margin
    assert big.truth_value("strategy", "content", estimand="ate") > 0.1


@pytest.mark.slow
def test_naive_contrasts_are_confounded_at_50k(big):
    log = big.log
    naive = log.groupby("strategy")["click"].mean()
    # the naive rate of popular is below its do() rate by more than 0.05 (popular is served to low-activity users)
    assert big.truth_value("strategy", "popular") - naive["popular"] > 0.05
    naive_ate = naive["collaborative"] - naive["random"]
    assert naive_ate - big.truth_value("strategy", "collaborative", estimand="ate") > 0.03
    for outcome in ("click", "returned"):
        by_reason = log.groupby("reason_shown")[outcome].mean()
        assert (by_reason[1] - by_reason[0]) - big.truth_value("reason_shown", "1", outcome, "ate") > 0.05, outcome


@pytest.mark.parametrize(
    "force", [{"force_strategy": s} for s in STRATEGIES] + [{"force_reason": 0}, {"force_reason": 1}], ids=str
)
@pytest.mark.slow
def test_forced_assignment_matches_exact_truth_within_3_se(big, force):
    forced = simulate(SimulatorConfig(impressions=BIG, seed=0, **force), DATA)
    assert forced.truth == big.truth  # same users and contexts, so the same truth
    if "force_strategy" in force:
        treatment, value = "strategy", force["force_strategy"]
    else:
        treatment, value = "reason_shown", str(force["force_reason"])
    column = forced.log[treatment].astype(str)
    assert (column == value).all()
    for outcome in ("click", "returned"):
        truth = forced.truth_value(treatment, value, outcome)
        mean = forced.log[outcome].mean()
        se = np.sqrt(truth * (1 - truth) / BIG)
        assert abs(mean - truth) < 3 * se, (outcome, mean, truth, se)


def test_main_writes_log_and_truth(tmp_path, capsys):
    out = tmp_path / "sim"
    code = main(["--users", "50", "--impressions", "2000", "--seed", "3", "--out", str(out), "--data", str(DATA)])
    assert code == 0
    log = pd.read_parquet(out / "log.parquet")
    assert len(log) == 2000 and log["event_id"].is_unique
    truth = json.loads((out / "truth.json").read_text())
    assert isinstance(truth, list) and len(truth) == 20
    for row in truth:
        assert set(row) == {"treatment", "treatment_value", "baseline_value", "outcome", "estimand", "value"}
    assert {r["estimand"] for r in truth} == {"interventional_mean", "ate"}
    printed = capsys.readouterr().out
    assert "2000 impressions" in printed and "collaborative" in printed


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"users": 700}, r"users=700 exceeds the 610 real users"),
        ({"impressions": 0}, r"impressions must be an integer >= 1; got 0"),
        ({"confounding": 1.5}, r"confounding must be in \[0, 1\]; got 1.5"),
        ({"force_strategy": "bandit"}, r"force_strategy 'bandit' is not a strategy"),
        ({"force_reason": 2}, r"force_reason must be 0, 1 or None; got 2"),
    ],
)
def test_config_errors_name_value_and_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimulatorConfig(**kwargs)


def test_main_reports_a_bad_data_folder(tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["--out", str(tmp_path), "--data", str(tmp_path / "nowhere")])
    assert info.value.code == 2
