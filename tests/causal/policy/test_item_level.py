"""Item-level OPE on a catalogue with an exact value: MIPS/IPW unbiased, DM/DR with a perfect model, support, errors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from causal.policy.item_level import ITEM_METHODS, ItemLevelLog, evaluate_items, item_level_log
from causal.policy.item_support import cluster_marginal
from causal.policy.logged import OPEError


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True, eq=False)
class ClusterWorld:
    """50 users x 400 items in 10 clusters; the click probability depends on (user, cluster) only.

    Users are drawn uniformly; the logger and the target are per-user softmaxes over items, the
    target leaning towards each user's good clusters, so the exact value is
    mean_u sum_a target[u, a] q[u, a].
    """

    n_users: int = 50
    n_items: int = 400
    n_clusters: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        clusters = np.arange(self.n_items) % self.n_clusters
        base = rng.uniform(0.05, 0.6, size=(self.n_users, self.n_clusters))
        object.__setattr__(self, "clusters", clusters)
        object.__setattr__(self, "q", base[:, clusters])
        object.__setattr__(self, "logging", _softmax(rng.normal(0.0, 1.0, (self.n_users, self.n_items))))
        target = _softmax(rng.normal(0.0, 1.0, (self.n_users, self.n_items)) + 2.0 * base[:, clusters])
        object.__setattr__(self, "target", target)

    def value(self, target: np.ndarray | None = None) -> float:
        pi = self.target if target is None else target
        return float((pi * self.q).sum(axis=1).mean())

    def draw(
        self, n_rows: int, seed: int, users: np.ndarray | None = None, logging: np.ndarray | None = None
    ) -> ItemLevelLog:
        rng = np.random.default_rng(seed)
        pi_0 = self.logging if logging is None else logging
        u = rng.integers(0, self.n_users, n_rows) if users is None else users
        cdf = np.cumsum(pi_0, axis=1)[u]  # (M, I): inverse-CDF draw of each row's item
        a = np.minimum((cdf < rng.random(n_rows)[:, None]).sum(axis=1), self.n_items - 1)
        r = (rng.random(n_rows) < self.q[u, a]).astype(float)
        return ItemLevelLog(u, a, r, pi_0[u, a])


def test_mips_and_ipw_are_unbiased_over_seeds_and_mips_varies_far_less() -> None:
    world = ClusterWorld()
    truth = world.value()
    runs = {"ipw": [], "mips": []}
    covered = {"ipw": 0, "mips": 0}
    for seed in range(200):
        est = evaluate_items(
            world.draw(2000, seed + 1),
            world.target,
            logging=world.logging,
            clusters=world.clusters,
            methods=("ipw", "mips"),
        )
        for m in runs:
            runs[m].append(est[m].estimate)
            covered[m] += est[m].ci_low <= truth <= est[m].ci_high
    ipw, mips = np.array(runs["ipw"]), np.array(runs["mips"])
    for name, v in (("ipw", ipw), ("mips", mips)):
        mc_error = v.std(ddof=1) / math.sqrt(v.size)
        assert abs(v.mean() - truth) < 4 * mc_error, (name, v.mean(), truth, mc_error)
    # Item weights reach ~70 on this log, cluster weights stay below ~3: measured variance ratio ~8.
    assert mips.var() < ipw.var() / 4, (mips.var(), ipw.var())
    assert covered["mips"] / 200 >= 0.85
    assert covered["ipw"] / 200 >= 0.8


def test_dm_with_the_true_q_is_exact_and_dr_is_exact_up_to_noise() -> None:
    world = ClusterWorld()
    truth = world.value()
    users = np.arange(4000) % world.n_users  # every user equally often: the rows' user mix is the population's
    log = world.draw(4000, seed=7, users=users)
    est = evaluate_items(
        log,
        world.target,
        q_logged=world.q[log.user, log.item],
        q_target=(world.target * world.q).sum(axis=1)[log.user],
        methods=("dm", "dr", "sndr"),
    )
    assert est["dm"].estimate == pytest.approx(truth, abs=1e-12)
    for m in ("dr", "sndr"):
        assert est[m].ci_low <= truth <= est[m].ci_high
        assert abs(est[m].estimate - truth) < 4 * est[m].diagnostics["standard_error"]
    # A constant wrong model: DM is off by design, DR's weighted residuals still recover the value.
    wrong = np.full(log.n_rows, 0.9)
    bad = evaluate_items(log, world.target, q_logged=wrong, q_target=wrong, methods=("dm", "dr"))
    assert bad["dm"].estimate == pytest.approx(0.9)
    assert abs(bad["dr"].estimate - truth) < 4 * bad["dr"].diagnostics["standard_error"]


def test_snipw_equals_ipw_when_the_weights_average_exactly_one() -> None:
    logging = np.array([[0.5, 0.5]])
    target = np.array([[0.25, 0.75]])
    log = ItemLevelLog(np.array([0, 0]), np.array([0, 1]), np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    q = np.array([0.3, 0.6])
    est = evaluate_items(
        log, target, q_logged=q, q_target=np.full(2, 0.525), logging=logging, methods=("ipw", "snipw", "dr", "sndr")
    )
    assert est["ipw"].estimate == pytest.approx(0.25)  # weights 0.5 and 1.5: (0.5 * 1 + 1.5 * 0) / 2
    assert est["snipw"].estimate == pytest.approx(est["ipw"].estimate)
    assert est["sndr"].estimate == pytest.approx(est["dr"].estimate)
    assert est["ipw"].diagnostics["mean_weight"] == pytest.approx(1.0)


def test_snipw_differs_from_ipw_when_weights_do_not_average_one() -> None:
    world = ClusterWorld()
    est = evaluate_items(world.draw(500, 3), world.target, methods=("ipw", "snipw"))
    mean_w = est["ipw"].diagnostics["mean_weight"]
    assert abs(mean_w - 1) > 1e-3
    assert est["snipw"].estimate == pytest.approx(est["ipw"].estimate / mean_w)


def test_target_outside_item_support_leaves_ipw_without_a_number_but_mips_keeps_one() -> None:
    world = ClusterWorld()
    logging = world.logging.copy()
    hidden = np.arange(0, world.n_items, 20)  # half of cluster 0's items; its other 20 keep the cluster supported
    logging[:, hidden] = 0.0
    logging /= logging.sum(axis=1, keepdims=True)
    log = world.draw(3000, seed=5, logging=logging)
    est = evaluate_items(log, world.target, logging=logging, clusters=world.clusters, methods=("ipw", "snipw", "mips"))
    expected_share = float(world.target[:, hidden].sum(axis=1)[log.user].mean())
    for m in ("ipw", "snipw"):
        assert math.isnan(est[m].estimate) and math.isnan(est[m].ci_low)
        assert "never shows" in est[m].diagnostics["explanation"]
    mips = est["mips"]
    assert mips.diagnostics["share_of_target_mass_outside_item_support"] == pytest.approx(expected_share)
    assert mips.diagnostics["share_of_target_mass_outside_cluster_support"] == 0.0
    assert mips.diagnostics["cluster_support_ok"] is True
    assert mips.ci_low <= world.value() <= mips.ci_high  # clusters still carry the hidden items' reward


def test_target_outside_cluster_support_leaves_mips_without_a_number() -> None:
    world = ClusterWorld()
    logging = world.logging.copy()
    gone = world.clusters == 3
    logging[:10, gone] = 0.0  # the first ten users never get cluster 3
    logging /= logging.sum(axis=1, keepdims=True)
    log = world.draw(2000, seed=9, logging=logging)
    q_t = (world.target * world.q).sum(axis=1)[log.user]
    est = evaluate_items(
        log,
        world.target,
        q_logged=world.q[log.user, log.item],
        q_target=q_t,
        logging=logging,
        clusters=world.clusters,
        methods=("mips", "dm", "dr"),
    )
    expected = float((cluster_marginal(world.target, world.clusters)[:, 3] * (np.arange(50) < 10))[log.user].mean())
    assert math.isnan(est["mips"].estimate)
    assert "embedding space" in est["mips"].diagnostics["explanation"]
    assert est["mips"].diagnostics["share_of_target_mass_outside_cluster_support"] == pytest.approx(expected)
    assert est["mips"].diagnostics["n_users_with_unsupported_clusters"] == 10
    assert not math.isnan(est["dm"].estimate)
    assert est["dr"].diagnostics["unsupported_mass_covered_by_model_only"] > 0


def test_diagnostics_report_weights_of_each_space() -> None:
    world = ClusterWorld()
    log = world.draw(1000, 2)
    est = evaluate_items(
        log, world.target, logging=world.logging, clusters=world.clusters, methods=("ipw", "mips", "snmips")
    )
    w = world.target[log.user, log.item] / log.pscore
    tc, lc = cluster_marginal(world.target, world.clusters), cluster_marginal(world.logging, world.clusters)
    w_e = tc[log.user, world.clusters[log.item]] / lc[log.user, world.clusters[log.item]]
    assert est["ipw"].diagnostics["max_weight"] == pytest.approx(w.max())
    assert est["ipw"].diagnostics["ess"] == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert est["mips"].diagnostics["max_weight"] == pytest.approx(w_e.max())
    assert est["mips"].estimate == pytest.approx((w_e * log.reward).mean())
    assert est["snmips"].estimate == pytest.approx((w_e * log.reward).sum() / w_e.sum())
    assert est["mips"].diagnostics["ess"] > est["ipw"].diagnostics["ess"]


def test_item_level_log_maps_ids_from_the_canonical_log() -> None:
    frame = pd.DataFrame({"user_id": ["7", "3"], "item_id": ["b", "a"], "click": [1, 0], "item_propensity": [0.2, 0.5]})
    log = item_level_log(frame, users=["3", "7"], items=["a", "b", "c"])
    assert log.user.tolist() == [1, 0] and log.item.tolist() == [1, 0]
    assert log.pscore.tolist() == [0.2, 0.5]
    with pytest.raises(OPEError, match=r"not in the given items"):
        item_level_log(frame, users=["3", "7"], items=["a"])
    with pytest.raises(OPEError, match=r"item_propensity"):
        item_level_log(frame.drop(columns="item_propensity"), users=["3", "7"], items=["a", "b"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"methods": ("mips",)}, r"need clusters .* and logging"),
        ({"methods": ("dr",)}, r"need q_logged"),
        ({"methods": ("dm",), "q_target": np.ones(3)}, r"q_target must be \(4,\)"),
        ({"methods": ("bogus",)}, r"unknown or no estimators \['bogus'\]"),
        ({"target": np.full((2, 3), 0.5)}, r"target must sum to 1 over items for every user; user 0"),
        ({"target": np.full((1, 3), 1 / 3)}, r"target is \(1, 3\) but the log indexes user 1"),
        ({"logging": np.array([[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])}, r"logging gives probability 0 to 1 logged"),
        ({"logging": np.full((2, 3), 1 / 3), "pscore": np.full(4, 0.5)}, r"pscore and logging\[user, item\] disagree"),
        ({"pscore": np.array([0.5, 0.0, 0.5, 0.5])}, r"'ipw' needs the logging probability .* 1 rows"),
        ({"alpha": 1.5}, r"alpha must lie strictly between 0 and 1"),
    ],
)
def test_bad_inputs_name_the_rule(kwargs: dict, match: str) -> None:
    pscore = kwargs.pop("pscore", np.full(4, 1 / 3))
    log = ItemLevelLog(np.array([0, 0, 1, 1]), np.array([0, 1, 2, 0]), np.array([1.0, 0.0, 1.0, 0.0]), pscore)
    target = kwargs.pop("target", np.full((2, 3), 1 / 3))
    kwargs.setdefault("methods", ITEM_METHODS[:1])
    with pytest.raises(OPEError, match=match):
        evaluate_items(log, target, **kwargs)


def test_item_level_log_rejects_ragged_or_float_indices() -> None:
    with pytest.raises(OPEError, match=r"four 1-d arrays of one length"):
        ItemLevelLog(np.array([0, 1]), np.array([0]), np.array([1.0]), np.array([0.5]))
    with pytest.raises(OPEError, match=r"user must hold integer indices"):
        ItemLevelLog(np.array([0.5]), np.array([0]), np.array([1.0]), np.array([0.5]))


def test_dm_carries_no_weight_diagnostics_and_mips_states_its_assumption() -> None:
    world = ClusterWorld()
    log = world.draw(300, 4)
    q = np.full(log.n_rows, 0.3)
    est = evaluate_items(
        log,
        world.target,
        q_logged=q,
        q_target=q,
        logging=world.logging,
        clusters=world.clusters,
        methods=("dm", "ipw", "mips"),
    )
    assert "max_weight" not in est["dm"].diagnostics and "max_weight" in est["ipw"].diagnostics
    assert "no direct effect" in est["mips"].diagnostics["assumption"]
    assert est["dm"].diagnostics["share_of_target_mass_outside_cluster_support"] == 0.0


def test_offcem_with_a_zero_model_is_mips_and_with_a_model_off_per_user_is_unbiased() -> None:
    world = ClusterWorld()
    log = world.draw(3000, seed=11)
    zero = np.zeros(log.n_rows)
    common = dict(logging=world.logging, clusters=world.clusters)
    est = evaluate_items(log, world.target, q_logged=zero, q_target=zero, methods=("mips", "offcem"), **common)
    assert est["offcem"].estimate == pytest.approx(est["mips"].estimate, abs=1e-12)  # V = mean(w_c (r - 0)) + 0
    # A model off by a per-user constant: the cluster-weighted residual removes it, so OffCEM stays unbiased.
    shift = np.random.default_rng(0).uniform(-0.2, 0.2, world.n_users)
    q_wrong = world.q + shift[:, None]
    truth, runs = world.value(), []
    for seed in range(100):
        log = world.draw(2000, seed + 100)
        e = evaluate_items(
            log, world.target, q_logged=q_wrong[log.user, log.item],
            q_target=(world.target * q_wrong).sum(axis=1)[log.user], methods=("offcem",), **common,
        )["offcem"]  # fmt: skip
        runs.append(e.estimate)
        assert e.diagnostics["weights"] == "pi_e(cluster | user) / pi_0(cluster | user)"
    v = np.array(runs)
    assert abs(v.mean() - truth) < 4 * v.std(ddof=1) / math.sqrt(v.size), (v.mean(), truth)


def test_per_user_clusters_give_the_per_item_answer_when_they_agree_and_mips_is_unbiased_with_them() -> None:
    world = ClusterWorld()
    per_user = np.broadcast_to(world.clusters, (world.n_users, world.n_items)).copy()
    assert np.allclose(cluster_marginal(world.target, per_user), cluster_marginal(world.target, world.clusters))
    log = world.draw(2000, seed=5)
    common = dict(logging=world.logging, methods=("mips",))
    one = evaluate_items(log, world.target, clusters=world.clusters, **common)["mips"].estimate
    two = evaluate_items(log, world.target, clusters=per_user, **common)["mips"].estimate
    assert one == pytest.approx(two, abs=1e-12)
    # Split every cluster by a per-user coin: still a function of (user, item), q still depends on it only
    # through the cluster, so MIPS stays unbiased with twice the clusters.
    coin = np.random.default_rng(1).integers(0, 2, (world.n_users, world.n_items))
    split = per_user * 2 + coin
    small = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert np.allclose(cluster_marginal(small, np.array([[1, 1, 0], [0, 2, 2]])), [[0.0, 1.0, 0.0], [0.2, 0.0, 0.8]])
    runs = [
        evaluate_items(world.draw(2000, s + 300), world.target, clusters=split, **common)["mips"].estimate
        for s in range(100)
    ]
    v = np.array(runs)
    assert abs(v.mean() - world.value()) < 4 * v.std(ddof=1) / math.sqrt(v.size)
    with pytest.raises(OPEError, match=r"clusters must be integers >= 0 of shape \(400,\) or \(50, 400\)"):
        evaluate_items(log, world.target, clusters=per_user[:10], **common)
