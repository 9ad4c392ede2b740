"""OPE estimators on a simulated bandit log with an exact policy value: unbiasedness, robustness, support, errors."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from causal.policy.estimators import OPE_METHODS, PolicyEstimate, evaluate_policy, point_estimates, slope_select
from causal.policy.logged import BanditLog, OPEError, bandit_log
from causal.policy.network_value import evaluate_obd_target, to_estimates
from causal.policy.reward import ConstantRewardModel, FixedRewardModel, LogisticRewardModel, ScoreRewardModel
from causal.policy.support import support_diagnostics
from causal.values import Estimate
from tests.conftest import OBD


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@dataclass(frozen=True)
class SlotBandit:
    """Users in 3 segments, 5 items, 2 slots; the logger and the target both depend on the segment.

    Each logged row is one slot (drawn uniformly) of one user; the logger shows item a there with
    P_b(a | x, k) (full support unless `hide` names an item it never shows) and the click has the
    known probability q(x, a, k). The target's value is exact: sum_x P(x) sum_k 1/K sum_a pi(a|x,k) q.
    """

    p_x: np.ndarray = field(default_factory=lambda: np.array([0.5, 0.3, 0.2]))
    hide: int | None = None

    @property
    def q(self) -> np.ndarray:  # (X, A, K)
        item = np.array([0.05, 0.10, 0.20, 0.30, 0.45])
        segment = np.array([0.0, 0.10, 0.25])
        slot = np.array([0.0, -0.04])
        return np.clip(item[None, :, None] + segment[:, None, None] + slot[None, None, :], 0.01, 0.95)

    @property
    def logger(self) -> np.ndarray:  # (X, A, K): prefers low-value items, more so for segment 0
        z = -np.array([[0.0, 0.3, 0.6, 0.9, 1.2], [0.0, 0.2, 0.4, 0.6, 0.8], [0.0, 0.1, 0.2, 0.3, 0.4]])
        z = np.repeat(z[:, :, None], 2, axis=2)
        if self.hide is not None:
            z[:, self.hide, :] = -np.inf
        return _softmax(z, axis=1)

    @property
    def target(self) -> np.ndarray:  # (X, A, K): prefers high-value items
        z = np.array([[0.0, 0.5, 1.0, 1.5, 2.0], [0.0, 0.2, 0.4, 1.2, 1.6], [1.0, 0.5, 0.0, 0.5, 1.0]])
        return _softmax(np.stack([z, z[:, ::-1] * 0.5], axis=2), axis=1)

    def value(self, pi: np.ndarray | None = None) -> float:
        pi = self.target if pi is None else pi
        return float(np.einsum("x,xak,xak->", self.p_x, pi, self.q) / self.q.shape[2])

    def simulate(self, n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        x = rng.choice(3, size=n, p=self.p_x)
        k = rng.integers(0, 2, size=n)
        probs = self.logger[x, :, k]  # (n, A)
        a = (rng.random(n)[:, None] < probs.cumsum(axis=1)).argmax(axis=1)
        r = (rng.random(n) < self.q[x, a, k]).astype(int)
        return pd.DataFrame(
            {
                "event_id": [f"e{i}" for i in range(n)],
                "user_id": [f"u{i}" for i in range(n)],
                "user_segment": np.array(["s0", "s1", "s2"])[x],
                "item_id": a.astype(str),
                "position": k,
                "propensity": probs[np.arange(n), a],
                "click": r,
            }
        )

    def target_for(self, df: pd.DataFrame) -> np.ndarray:
        x = df["user_segment"].str[1].astype(int).to_numpy()
        return self.target[x]  # (n, A, K)


@dataclass(frozen=True)
class CellMeans:
    """A correctly specified reward model for discrete contexts: cross-fitted mean click per (context, item, slot)."""

    def fit_predict(self, log: BanditLog, n_folds: int = 2, seed: int = 0) -> np.ndarray:
        from sklearn.model_selection import KFold

        _, ctx = np.unique(log.context, axis=0, return_inverse=True)
        ctx = ctx.reshape(-1)
        shape = (int(ctx.max()) + 1, log.n_actions, log.len_list)
        q = np.empty((log.n_rounds, log.n_actions, log.len_list))
        for train, test in KFold(n_folds, shuffle=True, random_state=seed).split(ctx):
            sums, counts = np.zeros(shape), np.zeros(shape)
            cell = (ctx[train], log.action[train], log.position[train])
            np.add.at(sums, cell, log.reward[train])
            np.add.at(counts, cell, 1.0)
            table = np.where(counts > 0, sums / np.maximum(counts, 1), log.reward[train].mean())
            q[test] = table[ctx[test]]
        return q


SIM = SlotBandit()
N_SEEDS, N_ROWS = 150, 2000


def _replicates(model, methods=OPE_METHODS, sim: SlotBandit = SIM) -> dict[str, np.ndarray]:
    found: dict[str, list[float]] = {m: [] for m in methods}
    for seed in range(N_SEEDS):
        df = sim.simulate(N_ROWS, seed)
        log = bandit_log(df)
        q = model.fit_predict(log, 2, seed)
        for m, v in point_estimates(log, sim.target_for(df), q, methods).items():
            found[m].append(v)
    return {m: np.array(v) for m, v in found.items()}


@pytest.fixture(scope="module")
def with_correct_model() -> dict[str, np.ndarray]:
    return _replicates(CellMeans())


def test_truth_of_the_simulator():
    # Hand check of one term: segment 0, slot 0, the target's item distribution softmax(0, .5, 1, 1.5, 2).
    pi = _softmax(np.array([0.0, 0.5, 1.0, 1.5, 2.0]), 0)
    q = np.array([0.05, 0.10, 0.20, 0.30, 0.45])
    assert SIM.value() == pytest.approx(
        sum(SIM.p_x[x] * (SIM.target[x, :, k] * SIM.q[x, :, k]).sum() / 2 for x in range(3) for k in range(2))
    )
    assert (SIM.target[0, :, 0] * SIM.q[0, :, 0]).sum() == pytest.approx((pi * q).sum())
    logger_value = SIM.value(SIM.logger)
    assert SIM.value() - logger_value > 0.05  # the target differs enough from the logger to need reweighting


@pytest.mark.slow
@pytest.mark.parametrize("method", OPE_METHODS)
def test_each_estimator_is_unbiased(with_correct_model, method):
    # Mean over 150 independent logs within two standard errors of the exact value.
    draws = with_correct_model[method]
    se = draws.std(ddof=1) / math.sqrt(draws.size)
    assert abs(draws.mean() - SIM.value()) <= 2 * se, (method, draws.mean(), SIM.value(), se)


@pytest.mark.slow
def test_naive_logged_mean_is_far_from_the_target_value(with_correct_model):
    # What the test would see without reweighting: the logger's own click rate, many SEs away.
    clicks = np.array([SIM.simulate(N_ROWS, s)["click"].mean() for s in range(20)])
    se = with_correct_model["ipw"].std(ddof=1) / math.sqrt(N_SEEDS)
    assert SIM.value() - clicks.mean() > 20 * se


@pytest.mark.slow
def test_dr_stays_unbiased_with_a_wrong_reward_model_and_dm_does_not():
    wrong = _replicates(ConstantRewardModel(0.9), methods=("dm", "dr", "sndr"))
    for method in ("dr", "sndr"):
        draws = wrong[method]
        se = draws.std(ddof=1) / math.sqrt(draws.size)
        assert abs(draws.mean() - SIM.value()) <= 2 * se, (method, draws.mean(), SIM.value(), se)
    assert np.all(wrong["dm"] == pytest.approx(0.9))
    assert abs(wrong["dm"].mean() - SIM.value()) > 0.5  # the same check fails DM: it can fail


def test_support_check_catches_items_the_logger_never_showed():
    sim = SlotBandit(hide=4)  # the logger never shows item 4; the target likes it most
    df = sim.simulate(3000, 0)
    assert "4" not in set(df["item_id"])
    log = bandit_log(df, items=[str(i) for i in range(5)])
    pi = sim.target_for(df)
    diag = support_diagnostics(log, pi)
    assert diag["support_ok"] is False
    expected = float(pi[np.arange(len(df)), 4, log.position].mean())
    assert diag["share_of_target_mass_outside_support"] == pytest.approx(expected)
    assert "item '4' in slot 0" in diag["unsupported_examples"]
    with pytest.raises(OPEError, match=r"never showed \(item '4' in slot 0"):
        evaluate_policy(log, pi, ("ipw", "dm"), n_bootstrap=5, reward_model=CellMeans(), n_folds=2)
    # DM extrapolates through the model and still answers (its number is not claimed to be right).
    (dm,) = evaluate_policy(log, pi, ("dm",), reward_model=CellMeans(), n_bootstrap=5, n_folds=2)
    assert dm.diagnostics["support_ok"] is False
    # Forced through, IPW loses the unsupported mass: it lands well below the truth.
    (ipw,) = evaluate_policy(log, pi, ("ipw",), n_bootstrap=5, allow_unsupported=True)
    assert ipw.estimate < sim.value() - 0.1


def test_support_of_a_known_logger_distribution():
    df = SIM.simulate(500, 1)
    log = bandit_log(df)
    pi = np.full((5, 2), 0.2)
    logger = np.full((5, 2), 0.25)
    logger[3] = 0.0
    diag = support_diagnostics(log, pi, logger_action_dist=logger)
    assert diag["share_of_target_mass_outside_support"] == pytest.approx(0.2)
    assert support_diagnostics(log, pi)["support_ok"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(columns="propensity"), r"no 'propensity' column"),
        (lambda d: d.assign(propensity=np.where(np.arange(len(d)) < 3, 0.0, d["propensity"])), r"3 <= 0"),
        (lambda d: d.assign(propensity=np.where(np.arange(len(d)) < 2, np.nan, d["propensity"])), r"2 missing"),
        (lambda d: d.assign(propensity=1.5), r"in \(0, 1\]"),
    ],
)
def test_weighted_estimators_refuse_unusable_propensities(change, message):
    df = change(SIM.simulate(300, 2))
    log = bandit_log(df)
    with pytest.raises(OPEError, match=message):
        evaluate_policy(log, SIM.target_for(df), ("snipw",), n_bootstrap=5)
    (dm,) = evaluate_policy(log, SIM.target_for(df), ("dm",), reward_model=CellMeans(), n_bootstrap=5, n_folds=2)
    assert 0 < dm.estimate < 1


@pytest.mark.parametrize(
    ("pi", "message"),
    [
        (np.full((5, 2), 0.3), r"sum to 1 over items"),
        (np.full((4, 2), 0.25), r"must be \(n_actions, len_list\) = \(5, 2\)"),
        (np.full((5, 2), np.nan), r"probabilities >= 0"),
    ],
)
def test_bad_action_distributions_are_named(pi, message):
    log = bandit_log(SIM.simulate(100, 3))
    with pytest.raises(OPEError, match=message):
        evaluate_policy(log, pi, ("ipw",), n_bootstrap=5)


def test_unknown_estimator_and_missing_columns():
    df = SIM.simulate(100, 4)
    with pytest.raises(OPEError, match=r"unknown estimators \['ips'\]"):
        evaluate_policy(bandit_log(df), np.full((5, 2), 0.2), ("ips",))
    with pytest.raises(OPEError, match=r"column 'click' is not in the log"):
        bandit_log(df.drop(columns="click"))
    with pytest.raises(OPEError, match=r"item ids \['9'\] of the log are not in the item list"):
        bandit_log(df.assign(item_id="9"), items=["0", "1"])


def test_evaluate_policy_intervals_and_diagnostics():
    df = SIM.simulate(4000, 5)
    log = bandit_log(df)
    found = evaluate_policy(log, SIM.target_for(df), reward_model=CellMeans(), n_bootstrap=100, seed=3, n_folds=2)
    assert [e.method for e in found] == list(OPE_METHODS)
    for est in found:
        assert est.ci_low <= est.estimate <= est.ci_high
        assert est.ci_low <= SIM.value() <= est.ci_high, est  # one log, 95% intervals: all cover here
        assert est.n_rows == 4000
        d = est.diagnostics
        assert d["support_ok"] is True and d["propensity_present"] is True
        assert 0 < d["ess"] < 4000 and d["max_weight"] >= d["mean_weight"] > 0.8
    by = {e.method: e for e in found}
    assert by["ipw"].adjustment_set == () and by["dm"].adjustment_set == ("user_segment",)
    assert by["switch_dr"].diagnostics["tau"] in [10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, "inf"]
    # Same seed, same numbers.
    again = evaluate_policy(log, SIM.target_for(df), reward_model=CellMeans(), n_bootstrap=100, seed=3, n_folds=2)
    assert [(e.estimate, e.ci_low, e.ci_high) for e in again] == [(e.estimate, e.ci_low, e.ci_high) for e in found]


def test_closed_forms_on_a_tiny_log():
    # Two rows, one slot, two items: w = (0.5/0.25, 1.0/0.5) = (2, 2) ... weights computed by hand.
    log = BanditLog(
        action=np.array([0, 1]),
        position=np.array([0, 0]),
        reward=np.array([1.0, 0.0]),
        pscore=np.array([0.25, 0.5]),
        context=np.zeros((2, 0)),
        action_context=np.eye(2),
        items=("a", "b"),
        len_list=1,
    )
    pi = np.array([[0.75], [0.25]])
    q = np.array([[[0.5], [0.1]], [[0.5], [0.1]]])
    w = np.array([0.75 / 0.25, 0.25 / 0.5])  # (3, 0.5)
    q_pi = 0.75 * 0.5 + 0.25 * 0.1  # 0.4
    got = point_estimates(log, pi, q, ("ipw", "snipw", "dm", "dr", "sndr"))
    assert got["ipw"] == pytest.approx((3 * 1 + 0.5 * 0) / 2)
    assert got["snipw"] == pytest.approx(3 / 3.5)
    assert got["dm"] == pytest.approx(q_pi)
    assert got["dr"] == pytest.approx(q_pi + (3 * (1 - 0.5) + 0.5 * (0 - 0.1)) / 2)
    assert got["sndr"] == pytest.approx(q_pi + (3 * 0.5 - 0.05) / w.sum())


def test_slope_prefers_low_variance_when_it_agrees_and_keeps_bias_low_when_it_does_not():
    rng = np.random.default_rng(0)
    noisy = 0.5 + rng.normal(0, 1.0, 5000)
    quiet_same = 0.5 + rng.normal(0, 0.1, 5000)
    quiet_off = 3.0 + rng.normal(0, 0.1, 5000)
    assert slope_select([noisy, quiet_same], [math.inf, 10.0]) == 10.0
    assert slope_select([noisy, quiet_off], [math.inf, 10.0]) == math.inf


def test_logistic_reward_model_cross_fits():
    df = SIM.simulate(600, 6)
    log = bandit_log(df)
    q = LogisticRewardModel().fit_predict(log, n_folds=3, seed=0)
    assert q.shape == (600, 5, 2) and np.all((q > 0) & (q < 1))
    flipped = BanditLog(**{**log.__dict__, "reward": np.r_[1 - log.reward[:1], log.reward[1:]]})
    # Row 0 is predicted by models that never saw it: flipping its click leaves its own q unchanged.
    assert np.allclose(LogisticRewardModel().fit_predict(flipped, 3, 0)[0], q[0])
    in_sample = LogisticRewardModel().fit_predict(log, 1, 0)[0]
    assert not np.allclose(LogisticRewardModel().fit_predict(flipped, 1, 0)[0], in_sample)


def test_score_and_fixed_reward_models_plug_in():
    df = SIM.simulate(1500, 7)
    log = bandit_log(df)
    x = df["user_segment"].str[1].astype(int).to_numpy()
    scores = SIM.q[x, :, 0]  # a scorer that knows slot 0's click rates
    q = ScoreRewardModel(scores).fit_predict(log, 3, 0)
    assert q.shape == (1500, 5, 2)
    assert np.corrcoef(q[:, :, 0].ravel(), scores.ravel())[0, 1] > 0.95  # calibration keeps the ranking
    fixed = FixedRewardModel(SIM.q[x]).fit_predict(log)
    got = point_estimates(log, SIM.target_for(df), fixed, ("dm",))["dm"]
    per_slot = np.einsum("nak,nak->nk", SIM.target_for(df), SIM.q[x])  # (n, K)
    assert got == pytest.approx(float(per_slot[np.arange(1500), log.position].mean()))
    with pytest.raises(OPEError, match=r"scores must be \(n_rows, n_actions\) = \(1500, 5\)"):
        ScoreRewardModel(scores[:10]).fit_predict(log)


def test_to_estimates_rows_are_storable():
    pe = PolicyEstimate("dr", 0.004, 0.002, 0.006, 100, ("user_feature_0",), {"ess": np.float64(12.5), "tau": math.inf})
    (est,) = to_estimates([pe], treatment="policy", treatment_value="bts", outcome="click")
    assert isinstance(est, Estimate)
    assert (est.estimand, est.method, est.baseline_value) == ("interventional_mean", "dr", None)
    assert est.adjustment_set == ("user_feature_0",)
    assert est.diagnostics == {"ess": 12.5, "tau": "inf"}
    json.dumps(est.diagnostics)


@pytest.mark.slow
def test_evaluate_obd_target_on_real_rows(obd_slice):
    found = evaluate_obd_target(
        obd_slice, "random", OBD / "bts_prior.yaml", "all", n_bootstrap=10, seed=0, n_sim=2000, model_refits=2
    )
    assert [e.method for e in found] == [*OPE_METHODS, "bn_policy"]
    truth = obd_slice.loc[obd_slice["policy"] == "bts", "click"].mean()
    for est in found:
        assert (est.treatment, est.treatment_value, est.estimand) == ("policy", "bts", "interventional_mean")
        assert est.n_rows == 2500 and est.ci_low <= est.estimate <= est.ci_high
        assert est.diagnostics["on_policy_value"] == pytest.approx(truth)
        assert est.diagnostics["logged_policy"] == "random"
        json.dumps(est.diagnostics)
    ipw = found[0]
    assert ipw.diagnostics["support_ok"] is True and ipw.diagnostics["min_pscore"] == pytest.approx(1 / 80)
    with pytest.raises(OPEError, match=r"no rows were served by policy='greedy'"):
        evaluate_obd_target(obd_slice, "greedy", OBD / "bts_prior.yaml")
