"""The network's policy value (bn_policy): known truth on a simulated log, the do() cross-check, real OBD rows."""

from __future__ import annotations

import numpy as np
import pytest

from causal.config import CausalConfig
from causal.network.query import VariableElimination, mutilate
from causal.policy.network_value import bn_policy_value, policy_network
from causal.policy.policies import bts_action_dist
from tests.causal.policy.test_ope import SlotBandit
from tests.conftest import OBD

SIM = SlotBandit()
CONFIG = CausalConfig(treatment="item_id", n_bootstrap=30, seed=0, progress=False)


@pytest.fixture(scope="module")
def sim_log():
    return SIM.simulate(20_000, 11)


def test_bn_policy_recovers_a_known_policy_value(sim_log):
    # A context-free target: the same item distribution for every segment (segment 0's).
    pi = SIM.target[0]  # (A, K)
    truth = SIM.value(np.broadcast_to(pi, SIM.target.shape))
    est = bn_policy_value(sim_log, pi, CONFIG)
    assert est.method == "bn_policy" and est.n_rows == 20_000
    assert est.ci_low <= est.estimate <= est.ci_high
    assert est.ci_low <= truth <= est.ci_high, (est, truth)
    assert abs(est.estimate - truth) < 0.01
    # The segment drives the click and the (contextual) logger: the network finds both and adjusts.
    assert "user_segment->click" in est.diagnostics["edges"]
    assert "user_segment->item_id" in est.diagnostics["edges"]
    assert est.adjustment_set == ("user_segment",)
    assert est.diagnostics["share_of_target_mass_on_cells_without_data"] == 0.0
    # Without adjusting for the segment the logged click rate is far off.
    assert truth - sim_log["click"].mean() > 0.05


def test_bn_policy_with_a_per_row_policy(sim_log):
    pi = SIM.target_for(sim_log)  # (n, A, K): depends on the segment
    est = bn_policy_value(sim_log, pi, CONFIG)
    assert est.ci_low <= SIM.value() <= est.ci_high
    assert abs(est.estimate - SIM.value()) < 0.01


def test_value_agrees_with_do_on_the_mutilated_network(sim_log):
    net = policy_network(sim_log, CONFIG)
    model = net.model()
    for item, slot in (("4", 0), ("1", 1)):
        mutilated = mutilate(mutilate(model, "item_id", item), "position", str(slot))
        expected = VariableElimination(mutilated).query(["click"], show_progress=False).get_value(click="1")
        p1, _ = net._click_table(net.cpds()["click"], None)
        pu = net._user_marginal(net.cpds())
        assert float(np.tensordot(p1[int(item), slot], pu, axes=1)) == pytest.approx(expected, abs=1e-12)
        assert abs(expected - float(SIM.p_x @ SIM.q[:, int(item), slot])) < 0.02


def test_bn_policy_on_the_obd_random_log(obd_log):
    random_rows = obd_log[obd_log["policy"] == "random"]
    pi = bts_action_dist(OBD / "bts_prior.yaml", "all", 80, 3, n_sim=5000)
    est = bn_policy_value(random_rows, pi, CausalConfig(n_bootstrap=10, progress=False))
    assert est.ci_low <= est.estimate <= est.ci_high
    assert 0.001 < est.estimate < 0.01  # clicks are rare: 38 in 10,000 rows
    assert {"item_id->click", "position->click"} <= set(est.diagnostics["edges"])
    assert est.diagnostics["share_of_target_mass_on_cells_without_data"] == 0.0
    # Every policy puts its mass somewhere: a point mass on a never-clicked item gets a near-zero value.
    never = random_rows.groupby("item_id")["click"].sum()
    item = int(never[never == 0].index[0])
    only = np.zeros((80, 3))
    only[item] = 1.0
    low = bn_policy_value(random_rows, only, CausalConfig(n_bootstrap=5, progress=False))
    assert low.estimate < 0.002
