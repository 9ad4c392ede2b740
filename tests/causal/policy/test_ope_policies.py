"""Evaluation policies: the Bernoulli-TS Monte Carlo, policy files, scorer-derived and logged distributions."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from causal.policy.logged import bandit_log
from causal.policy.policies import (
    bts_action_dist,
    greedy_policy,
    logged_action_dist,
    policy_from_file,
    softmax_policy,
)
from tests.conftest import OBD


def _prior(tmp_path, alpha, beta, campaign="all"):
    path = tmp_path / "prior.yaml"
    path.write_text(yaml.safe_dump({campaign: {"alpha": list(alpha), "beta": list(beta)}}))
    return path


def test_bts_slots_are_distributions_and_match_a_hand_check(tmp_path):
    # Item 0 dominates (theta ~ Beta(5000, 1), about 0.9998); items 1 and 2 have Beta(2, 1) and
    # Beta(1, 1), so P(theta_1 > theta_2) = int_0^1 2t * t dt = 2/3: slot 1 holds item 1 with
    # probability 2/3 and item 2 with 1/3, slot 2 the other way round.
    path = _prior(tmp_path, [5000.0, 2.0, 1.0], [1.0, 1.0, 1.0])
    dist = bts_action_dist(path, "all", n_actions=3, len_list=3, n_sim=60_000, seed=1)
    assert dist.shape == (3, 3)
    np.testing.assert_allclose(dist.sum(axis=0), 1.0)
    assert dist[0, 0] > 0.999
    se = np.sqrt(2 / 9 / 60_000)
    assert abs(dist[1, 1] - 2 / 3) < 4 * se and abs(dist[2, 1] - 1 / 3) < 4 * se
    assert abs(dist[2, 2] - 2 / 3) < 4 * se and abs(dist[1, 2] - 1 / 3) < 4 * se


def test_bts_reproduces_obps_loop_draw_for_draw():
    # obp: for each of n_sim rounds, RandomState(12345).beta(alpha, beta) -> argsort()[::-1][:3].
    alpha, beta = (np.array(yaml.safe_load((OBD / "bts_prior.yaml").read_text())["all"][k]) for k in ("alpha", "beta"))
    rng = np.random.RandomState(12345)
    counts = np.zeros((80, 3))
    for _ in range(700):
        top = rng.beta(alpha, beta).argsort()[::-1][:3]
        counts[top, np.arange(3)] += 1
    np.testing.assert_array_equal(bts_action_dist(OBD / "bts_prior.yaml", "all", 80, 3, n_sim=700), counts / 700)


def test_bts_prior_errors(tmp_path):
    with pytest.raises(
        ValueError, match=r"campaign 'kids' is not in the prior file .*there: \['all', 'men', 'women'\]"
    ):
        bts_action_dist(OBD / "bts_prior.yaml", "kids")
    with pytest.raises(ValueError, match=r"has 80 items but n_actions is 34"):
        bts_action_dist(OBD / "bts_prior.yaml", "all", n_actions=34)
    with pytest.raises(FileNotFoundError, match=r"prior file .* not found"):
        bts_action_dist(tmp_path / "none.yaml", "all")


def test_policy_file_context_free_csv(tmp_path):
    path = tmp_path / "policy.csv"
    path.write_text("item_id,position,probability\n7,0,0.9\n3,0,0.1\n3,1,1.0\n")
    table = policy_from_file(path)
    items = [str(i) for i in range(10)]
    dist = table.action_dist(None, items, len_list=2)
    assert dist.shape == (10, 2)
    assert (dist[7, 0], dist[3, 0], dist[3, 1]) == (0.9, 0.1, 1.0)
    with pytest.raises(ValueError, match=r"slot 2 .*sums to 0"):
        table.action_dist(None, items, len_list=3)  # the log has a third slot the file leaves empty


def test_policy_file_per_context_json(tmp_path):
    rows = [
        {"user_feature_0": "a", "item_id": 1, "position": 0, "probability": 1.0},
        {"user_feature_0": "b", "item_id": 0, "position": 0, "probability": 0.5},
        {"user_feature_0": "b", "item_id": 2, "position": 0, "probability": 0.5},
    ]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"policy": rows}))
    table = policy_from_file(path)
    assert table.context_columns == ("user_feature_0",)
    df = pd.DataFrame({"user_feature_0": ["b", "a", "b"]})
    dist = table.action_dist(df, ["0", "1", "2"], len_list=1)
    np.testing.assert_allclose(dist[:, :, 0], [[0.5, 0, 0.5], [0, 1, 0], [0.5, 0, 0.5]])
    with pytest.raises(ValueError, match=r"1 log rows have a context the policy file does not cover .*'c'"):
        table.action_dist(pd.DataFrame({"user_feature_0": ["a", "c"]}), ["0", "1", "2"], len_list=1)
    bad = tmp_path / "bad.csv"
    bad.write_text("item,position,probability\n1,0,1\n")
    with pytest.raises(ValueError, match=r"lacks columns \['item_id'\]"):
        policy_from_file(bad)


def test_greedy_ranks_items_into_slots():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.4, 0.3, 0.2, 0.1]])
    dist = greedy_policy(scores, len_list=3)
    assert dist.shape == (2, 4, 3)
    assert [int(dist[0, :, k].argmax()) for k in range(3)] == [1, 3, 2]
    assert [int(dist[1, :, k].argmax()) for k in range(3)] == [0, 1, 2]
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    assert greedy_policy(np.array([1.0, 1.0, 0.0]), 1)[:, 0].tolist() == [1.0, 0.0, 0.0]  # ties: lower index


def test_softmax_slot_marginals_are_exact_plackett_luce():
    scores = np.array([0.3, -1.0, 2.0, 0.5])
    p = np.exp(scores / 0.7) / np.exp(scores / 0.7).sum()
    brute = np.zeros((4, 3))
    for perm in itertools.permutations(range(4), 3):
        prob, left = 1.0, 1.0
        for item in perm:
            prob *= p[item] / left
            left -= p[item]
        brute[list(perm), [0, 1, 2]] += prob
    np.testing.assert_allclose(softmax_policy(scores, 0.7, len_list=3), brute, atol=1e-12)
    per_row = softmax_policy(np.stack([scores, scores[::-1]]), 0.7, len_list=3)
    np.testing.assert_allclose(per_row[0], brute, atol=1e-12)
    np.testing.assert_allclose(per_row[1], brute[::-1], atol=1e-12)
    sharp = softmax_policy(scores, 1e-3, len_list=2)
    np.testing.assert_allclose(sharp, greedy_policy(scores, 2), atol=1e-9)
    with pytest.raises(ValueError, match=r"temperature must be a number > 0"):
        softmax_policy(scores, 0.0)


def test_logged_action_dist_is_the_empirical_share():
    df = pd.DataFrame({"item_id": ["0", "1", "1", "2"], "position": [0, 0, 1, 1], "click": [0, 1, 0, 0]})
    dist = logged_action_dist(bandit_log(df))
    np.testing.assert_allclose(dist, [[0.5, 0.0], [0.5, 0.5], [0.0, 0.5]])
    with pytest.raises(ValueError, match=r"slots \[2\] hold no logged row"):
        logged_action_dist(bandit_log(df, len_list=3))
