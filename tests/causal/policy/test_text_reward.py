"""Cross-fitted reward models over user/item vectors: no row scored by a model that saw it; a logistic <u, v> world."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from causal.policy.item_level import ItemLevelLog, evaluate_items
from causal.policy.logged import OPEError
from causal.policy.text_reward import ScoreItemRewardModel, TextRewardModel, cross_fit


def _memoriser(log: ItemLevelLog, n_items: int):
    """A 'model' that remembers the mean reward of each (user, item) pair it was fitted on: overfitting at its worst."""

    def fit(train: np.ndarray):
        table = np.full((int(log.user.max()) + 1, n_items), float(log.reward[train].mean()))
        sums = np.zeros_like(table)
        counts = np.zeros_like(table)
        np.add.at(sums, (log.user[train], log.item[train]), log.reward[train])
        np.add.at(counts, (log.user[train], log.item[train]), 1)
        seen = counts > 0
        table[seen] = sums[seen] / counts[seen]
        return lambda users: table[users]

    return fit


def _noise_log(seed: int = 0, n_rows: int = 600, n_users: int = 30, n_items: int = 200) -> ItemLevelLog:
    rng = np.random.default_rng(seed)
    return ItemLevelLog(
        rng.integers(0, n_users, n_rows),
        rng.integers(0, n_items, n_rows),
        (rng.random(n_rows) < 0.3).astype(float),
        np.full(n_rows, 1 / n_items),
    )


def _flip_fold(log: ItemLevelLog, rows: np.ndarray) -> ItemLevelLog:
    reward = log.reward.copy()
    reward[rows] = 1.0 - reward[rows]
    return ItemLevelLog(log.user, log.item, reward, log.pscore)


def test_cross_fitting_never_scores_a_row_with_a_model_fitted_on_it() -> None:
    log = _noise_log()
    target = np.full((30, 200), 1 / 200)
    cf = cross_fit(_memoriser(log, 200), log, n_folds=2, seed=3)
    fold0 = np.flatnonzero(cf.fold_of == 0)
    flipped = _flip_fold(log, fold0)
    cf_flipped = cross_fit(_memoriser(flipped, 200), flipped, n_folds=2, seed=3)
    # Fold 0's own rewards changed; its predictions come from the fold-1 model, so they must not move.
    assert np.array_equal(cf_flipped.q_logged[fold0], cf.q_logged[fold0])
    assert np.array_equal(cf_flipped.predict(target)[fold0], cf.predict(target)[fold0])
    # ...while fold 1, predicted by the model fitted on fold 0, does see the change.
    assert not np.array_equal(cf_flipped.q_logged[cf.fold_of == 1], cf.q_logged[cf.fold_of == 1])


def test_fitting_on_all_rows_leaks_each_rows_reward_into_its_prediction() -> None:
    log = _noise_log()
    leaky = cross_fit(_memoriser(log, 200), log, n_folds=1)
    flipped = _flip_fold(log, np.arange(log.n_rows))
    leaky_flipped = cross_fit(_memoriser(flipped, 200), flipped, n_folds=1)
    assert not np.array_equal(leaky.q_logged, leaky_flipped.q_logged)
    # A memorised (user, item) seen once predicts its own reward: DR's residual correction vanishes.
    assert np.mean(leaky.q_logged == log.reward) > 0.9
    honest = cross_fit(_memoriser(log, 200), log, n_folds=2, seed=0)
    assert np.mean(honest.q_logged == log.reward) < 0.9


def test_cross_fit_splits_rows_evenly_and_checks_its_inputs() -> None:
    log = _noise_log(n_rows=601)
    cf = cross_fit(_memoriser(log, 200), log, n_folds=3, seed=1)
    assert sorted(np.bincount(cf.fold_of).tolist()) == [200, 200, 201]
    with pytest.raises(OPEError, match=r"n_folds must be an integer in \[1, n_rows=601\]; got 0"):
        cross_fit(_memoriser(log, 200), log, n_folds=0)
    with pytest.raises(OPEError, match=r"one prediction per \(user, catalogue item\)"):
        cross_fit(lambda train: lambda users: np.zeros((users.size, 5)), log, n_folds=2)


def _logistic_world(
    seed: int, n_users: int = 200, n_items: int = 300, h: int = 8, n_rows: int = 20_000, embed: int | None = None
):
    """Reward = Bernoulli(sigmoid(-1 + 1.5 <u, v>)); a uniform logger; a target that prefers high <u, v>.

    With `embed`, the h-dimensional vectors are rotated into `embed` dimensions (a subspace, as
    real text embeddings concentrate), so a projection to >= h axes loses nothing.
    """
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 1 / h**0.25, (n_users, h))
    v = rng.normal(0, 1 / h**0.25, (n_items, h))
    p = 1 / (1 + np.exp(-(-1.0 + 1.5 * u @ v.T)))  # (N, I)
    logging = np.full((n_users, n_items), 1 / n_items)
    z = 3.0 * (u @ v.T)
    target = np.exp(z - z.max(axis=1, keepdims=True))
    target /= target.sum(axis=1, keepdims=True)
    users = rng.integers(0, n_users, n_rows)
    items = rng.integers(0, n_items, n_rows)
    log = ItemLevelLog(users, items, (rng.random(n_rows) < p[users, items]).astype(float), logging[users, items])
    if embed is not None:
        rot, _ = np.linalg.qr(rng.normal(size=(embed, h)))  # (embed, h) orthonormal columns
        u, v = u @ rot.T, v @ rot.T
    return u, v, p, logging, target, log


@pytest.mark.parametrize(("embed", "n_components"), [(None, None), (64, 16)])
def test_text_reward_model_learns_a_logistic_inner_product_and_dm_lands_near_the_truth(embed, n_components) -> None:
    u, v, p, logging, target, log = _logistic_world(seed=4, embed=embed)
    truth = float((target * p).sum(axis=1)[log.user].mean())  # the value over the log's users
    assert truth - float(p.mean()) > 0.1  # the target differs from the logger: a flat model would miss it
    model = TextRewardModel(n_components=n_components)
    q_logged, predict = model.fit_predict_folds(u, v, log, n_folds=2, seed=0)
    best_auc = roc_auc_score(log.reward, p[log.user, log.item])
    assert roc_auc_score(log.reward, q_logged) > best_auc - 0.02
    est = evaluate_items(
        log, target, q_logged=q_logged, q_target=predict(target), logging=logging, methods=("dm", "dr", "ipw")
    )
    assert abs(est["dm"].estimate - truth) < 0.02 * truth, (est["dm"].estimate, truth)
    assert abs(est["dr"].estimate - truth) < 4 * est["dr"].diagnostics["standard_error"]
    # The model's weights-free DM beats IPW's noise on this 300-item catalogue.
    assert est["dm"].diagnostics["standard_error"] < est["ipw"].diagnostics["standard_error"]


def test_text_reward_model_rejects_mismatched_vectors_and_non_binary_rewards() -> None:
    u, v, _, _, _, log = _logistic_world(seed=1, n_rows=500)
    with pytest.raises(OPEError, match=r"must share H"):
        TextRewardModel().fit_predict_folds(u, v[:, :4], log)
    with pytest.raises(OPEError, match=r"the log indexes user"):
        TextRewardModel().fit_predict_folds(u[:5], v, log)
    half = ItemLevelLog(log.user, log.item, log.reward * 0.5, log.pscore)
    with pytest.raises(OPEError, match=r"rewards must be 0/1 clicks"):
        TextRewardModel().fit_predict_folds(u, v, half)
    with pytest.raises(OPEError, match=r"n_components must be a positive integer"):
        TextRewardModel(n_components=0).fit_predict_folds(u, v, log)


def test_score_item_reward_model_calibrates_a_monotone_score_and_dm_recovers_the_value() -> None:
    u, v, p, logging, target, log = _logistic_world(seed=6)
    score = (u @ v.T) * 7.0 + 3.0  # the true logit, rescaled and shifted: ranks right, probabilities wrong
    q_logged, predict = ScoreItemRewardModel(score).fit_predict_folds(log, n_folds=2, seed=0)
    assert np.abs(q_logged - p[log.user, log.item]).max() < 0.05
    truth = float((target * p).sum(axis=1)[log.user].mean())
    est = evaluate_items(log, target, q_logged=q_logged, q_target=predict(target), methods=("dm",))
    assert abs(est["dm"].estimate - truth) < 0.01
    with pytest.raises(OPEError, match=r"calibrate=False needs scores that are probabilities"):
        ScoreItemRewardModel(score, calibrate=False).fit_predict_folds(log)
    raw_q, _ = ScoreItemRewardModel(p, calibrate=False).fit_predict_folds(log)
    assert np.array_equal(raw_q, p[log.user, log.item])


def test_extra_features_carry_what_the_text_cannot_see() -> None:
    # The click depends on an id-free item feature (popularity) and a (user, item) pool flag, not on the text.
    rng = np.random.default_rng(4)
    n_users, n_items, n_rows = 40, 300, 20_000
    u, v = rng.normal(size=(n_users, 8)), rng.normal(size=(n_items, 8))  # pure noise "text"
    pop = rng.normal(size=n_items)
    pool = rng.random((n_users, n_items)) < 0.2
    q = 1.0 / (1.0 + np.exp(-(-1.0 + 1.2 * pop[None, :] + 1.5 * pool)))
    users, items = rng.integers(0, n_users, n_rows), rng.integers(0, n_items, n_rows)
    log = ItemLevelLog(users, items, (rng.random(n_rows) < q[users, items]).astype(float), np.full(n_rows, 1 / n_items))
    plain = TextRewardModel(n_components=None).cross_fit(u, v, log, n_folds=2, seed=0)
    extra = TextRewardModel(n_components=None, extra_item=pop, extra_pair=(pool,)).cross_fit(u, v, log, 2, 0)
    everything = np.arange(n_users)
    err_plain = np.abs(plain.models[0](everything) - q).mean()
    err_extra = np.abs(extra.models[0](everything) - q).mean()
    assert err_extra < 0.03 < err_plain, (err_extra, err_plain)
    # A per-user feature enters the same way: one-hot of a user group that shifts every click of the group.
    group = (np.arange(n_users) % 2).astype(float)
    with_user = TextRewardModel(n_components=None, extra_user=group, extra_item=pop, extra_pair=(pool,))
    assert with_user.cross_fit(u, v, log, 2, 0).q_logged.shape == (n_rows,)


def test_extra_features_must_match_the_users_and_items() -> None:
    rng = np.random.default_rng(0)
    log = _noise_log()
    u, v = rng.normal(size=(30, 4)), rng.normal(size=(200, 4))
    with pytest.raises(OPEError, match=r"extra_item must be a finite \(200, d\) array"):
        TextRewardModel(extra_item=np.ones(199)).cross_fit(u, v, log)
    with pytest.raises(OPEError, match=r"extra_user must be a finite \(30, d\) array"):
        TextRewardModel(extra_user=np.full((30, 1), np.nan)).cross_fit(u, v, log)
    with pytest.raises(OPEError, match=r"extra_pair\[0\] must be a finite \(N users, I items\) = \(30, 200\)"):
        TextRewardModel(extra_pair=(np.zeros((200, 30)),)).cross_fit(u, v, log)
