"""The scorer's item policies (greedy, softmax over the logged catalogue) and the log's own cluster shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.policy.catalogue import logged_cluster_shares, scorer_targets
from causal.policy.item_level import evaluate_items
from causal.policy.item_support import ItemLevelLog
from causal.policy.logged import OPEError
from scoring.catalogue import CatalogueInputs, why_no_catalogue


def test_greedy_is_each_contexts_top_item_and_softmax_ranks_items_by_score() -> None:
    scores = np.array([[0.1, 0.7, 0.3], [0.6, 0.2, 0.2]])
    targets = scorer_targets(scores, temperature=0.5)
    np.testing.assert_array_equal(targets["greedy_scorer"], [[0, 1, 0], [1, 0, 0]])
    soft = targets["softmax_scorer"]
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert soft[0, 1] > soft[0, 2] > soft[0, 0] and soft[1, 1] == pytest.approx(soft[1, 2])
    logit = np.log(0.7 / 0.3) - np.log(0.3 / 0.7)  # softmax on logit / T: the odds ratio of items 1 and 2, squared
    assert soft[0, 1] / soft[0, 2] == pytest.approx(np.exp(logit / 0.5))


def test_cluster_shares_are_each_contexts_logged_share_and_feed_mips() -> None:
    # context 0 logged items 0, 0, 1, 2 (clusters 0, 0, 0, 1); context 1 logged item 2 twice (cluster 1)
    log = ItemLevelLog(
        np.array([0, 0, 0, 0, 1, 1]), np.array([0, 0, 1, 2, 2, 2]), np.array([1.0, 0, 1, 0, 1, 1]), np.full(6, 0.5)
    )
    clusters = np.array([0, 0, 1])
    shares = logged_cluster_shares(log, clusters, 2)
    np.testing.assert_allclose(shares, [[0.75, 0.25], [0.0, 1.0]])
    target = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])  # context 0 stays in cluster 0, context 1 in cluster 1
    found = evaluate_items(log, target, clusters=clusters, logging_clusters=shares, methods=("mips",))["mips"]
    # w_e = 1/0.75 on context 0's cluster-0 rows, 0 on its cluster-1 row, 1 on context 1's rows
    expected = np.mean([1 / 0.75, 0, 1 / 0.75, 0, 1, 1])
    assert found.estimate == pytest.approx(expected) and found.diagnostics["cluster_support_ok"] is True
    with pytest.raises(OPEError, match="logging_clusters gives probability 0 to 3 logged rows"):
        evaluate_items(
            log, target, clusters=clusters, logging_clusters=np.array([[1.0, 0], [1.0, 0]]), methods=("mips",)
        )


def test_a_log_without_item_propensities_or_with_user_item_features_gets_a_reason() -> None:
    assert "no ['item_propensity'] column" in why_no_catalogue(["user_id", "item_id", "click"], "click")
    pair = why_no_catalogue(["user_id", "item_id", "item_propensity", "user_item_affinity"], "click")
    assert "user-item features ['user_item_affinity']" in pair
    assert why_no_catalogue(["user_id", "item_id", "item_propensity", "user_activity", "item_text"], "click") is None
    inputs = CatalogueInputs("click")
    frame = pd.DataFrame(
        {"user_id": ["1", "2"], "item_id": ["a", "b"], "item_propensity": [0.1, 0.2], "user_activity": ["high", "low"]}
    )
    frame["item_text"] = ["A | Drama", "B | Comedy"]
    inputs.add(frame)
    assert (inputs.reason, len(inputs.contexts), inputs.item_text) == (None, 2, {"a": "A | Drama", "b": "B | Comedy"})


def test_a_rate_outside_zero_to_one_is_withheld_with_the_weights_that_made_it() -> None:
    from causal.policy.catalogue import _row
    from causal.policy.estimators import PolicyEstimate

    wild = PolicyEstimate("dr", -0.0318, -0.0957, 0.0321, 20_000)
    row = _row("softmax_scorer", "dr", wild, "click", {"max_weight": 222.3, "ess": 1333.9})
    assert np.isnan(row.estimate) and np.isnan(row.ci_low) and np.isnan(row.ci_high)
    assert row.explanation.startswith("dr gave -0.0318, outside [0, 1] for a rate: its weights (max 222, ESS 1334")
    fine = _row("greedy_scorer", "dr", PolicyEstimate("dr", 0.75, 0.72, 0.78, 20_000), "click", {})
    assert (fine.estimate, fine.explanation, fine.treatment) == (0.75, None, "item_policy")
