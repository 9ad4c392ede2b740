"""The propensity head of text features: count-weighted fit equals the per-row fit; its text part ignores covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from scoring.text_features import USER_TEXT, user_text_features
from scoring.text_propensity import fit_propensity_head
from tests.scoring.test_text_features import CUTOFF, hashed_bag, reading_history


def logged(group: dict[str, str], seed: int = 3, per_user: int = 40) -> pd.DataFrame:
    """Activity moves the treatment a lot (high: mostly y) and the text a little (space readers: more y)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, (user, g) in enumerate(group.items()):
        activity = "high" if k % 2 else "low"
        p_y = (0.8 if activity == "high" else 0.2) + (0.15 if g == "B" else -0.15)
        rows += [(user, activity, "y" if rng.random() < p_y else "x") for _ in range(per_user)]
    return pd.DataFrame(rows, columns=["user_id", "user_activity", "strategy"])


@pytest.mark.parametrize("values", [("x", "y"), ("x", "y", "z")])
def test_the_count_weighted_fit_is_the_per_row_fit(values: tuple[str, ...]) -> None:
    rng = np.random.default_rng(0)
    users = pd.Index([f"u{k}" for k in range(30)])
    features = rng.normal(size=(30, 4))
    activity = rng.choice(["low", "high"], size=30)
    rows = [(u, activity[k], str(rng.choice(values))) for k, u in enumerate(users) for _ in range(25)]
    log = pd.DataFrame(rows, columns=["user_id", "user_activity", "strategy"])
    head = fit_propensity_head(features, users, log, "strategy", ("user_activity",), c=10.0, seed=0)

    # the reference: one row per impression, the textbook fit
    x_user = np.hstack([features, pd.get_dummies(pd.Series(activity), dtype=float).to_numpy()])
    x = x_user[users.get_indexer(log["user_id"])]
    ref = LogisticRegression(C=10.0, max_iter=5_000, tol=1e-10).fit(x, log["strategy"])
    assert head.classes == tuple(values)
    np.testing.assert_allclose(head.proba, ref.predict_proba(x_user), atol=1e-4)
    # the text part is the features' own share of the logits: softmax of it plus the covariates' part is proba
    assert head.text_logits.shape == (30, len(values))
    np.testing.assert_allclose(head.text_logits.mean(axis=0), 0.0, atol=1e-12)


def test_text_logit_states_follow_the_text_where_propensity_states_follow_activity() -> None:
    history, group = reading_history(n_a=20, n_b=20)
    log = logged(group)
    common = dict(n_clusters=2, seed=0, treatment_log=log, propensity_shares=0, propensity_c=100.0)
    by_text = user_text_features(history, CUTOFF, hashed_bag, representation="text_logit", **common)
    by_proba = user_text_features(history, CUTOFF, hashed_bag, representation="propensity", **common)

    def agreement(feats, truth: dict[str, str]) -> float:
        state = dict(zip(feats.frame["user_id"], feats.frame[USER_TEXT]))
        pairs = pd.crosstab(pd.Series([state[u] for u in truth]), pd.Series(list(truth.values())))
        return float(pairs.max(axis=1).sum() / len(truth))  # share of users in their state's majority group

    activity = dict(zip(log["user_id"], log["user_activity"]))
    assert agreement(by_text, group) == 1.0  # the text groups, whatever the activity
    assert agreement(by_proba, activity) == 1.0  # activity moves the treatment most, so it splits the users
    assert agreement(by_proba, group) < 0.8
