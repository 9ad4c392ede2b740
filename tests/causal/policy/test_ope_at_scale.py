"""Off-policy evaluation of a large log: IPW/SNIPW from counts equal the rows', the rest on a seeded sample."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from causal.config import CausalConfig, OffPolicyConfig
from causal.policy.cells import cell_estimates
from causal.policy.estimators import evaluate_policy, point_estimates
from causal.policy.logged import OPEError, bandit_log
from causal.policy.policies import bts_action_dist, load_bts_prior
from sources import bandit_counts
from tasks.causal import evaluate_target_policy
from tests.conftest import OBD

PRIOR = OBD / "bts_prior.yaml"


@pytest.fixture(scope="module")
def obd_files(obd_log: pd.DataFrame, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The bundled Open Bandit sample's canonical log as three Parquet part files."""
    folder = tmp_path_factory.mktemp("obd")
    third = -(-len(obd_log) // 3)
    for k in range(3):
        obd_log.iloc[k * third : (k + 1) * third].to_parquet(folder / f"part-{k}.parquet", index=False)
    return folder, obd_log


def _items() -> tuple[str, ...]:
    alpha, _ = load_bts_prior(PRIOR, "all")
    return tuple(str(i) for i in range(len(alpha)))


@pytest.mark.slow  # two bootstraps over the real sample
def test_counts_give_the_rows_ipw_and_snipw_and_intervals_of_the_same_width(obd_files) -> None:
    folder, frame = obd_files
    cells = bandit_counts.bandit_cells(folder, "policy", "random", "click", _items())
    logged = frame[frame.policy == "random"]
    log = bandit_log(logged, n_actions=len(_items()))
    assert cells.n_rows == len(logged) and cells.count.size < len(logged)
    pi = bts_action_dist(PRIOR, "all", log.n_actions, log.len_list, n_sim=20_000)
    by_rows = point_estimates(log, pi, methods=("ipw", "snipw"))
    by_cells = {e.method: e for e in cell_estimates(cells, pi, n_bootstrap=400, seed=1)}
    for m in ("ipw", "snipw"):
        assert by_cells[m].estimate == pytest.approx(by_rows[m], rel=0, abs=1e-12)
    rows_ci = {e.method: e for e in evaluate_policy(log, pi, ("ipw", "snipw"), n_bootstrap=400, seed=1)}
    for m in ("ipw", "snipw"):
        width_cells = by_cells[m].ci_high - by_cells[m].ci_low
        width_rows = rows_ci[m].ci_high - rows_ci[m].ci_low
        # two bootstraps of the same statistic: widths within Monte Carlo error of B=400 (~10%)
        assert width_cells == pytest.approx(width_rows, rel=0.2)
        assert by_cells[m].ci_low < by_cells[m].estimate < by_cells[m].ci_high


def test_the_sample_is_fixed_by_the_seed_whatever_the_files(obd_files, tmp_path: Path) -> None:
    folder, frame = obd_files
    one = tmp_path / "one.parquet"
    frame.iloc[::-1].to_parquet(one, index=False)  # other file layout, other row order
    a = bandit_counts.seeded_sample(folder, "policy", "random", 500, seed=7)
    b = bandit_counts.seeded_sample(one, "policy", "random", 500, seed=7)
    c = bandit_counts.seeded_sample(folder, "policy", "random", 500, seed=8)
    assert len(a) == 500 and set(a.policy) == {"random"} and a.event_id.is_unique
    assert a.event_id.tolist() == b.event_id.tolist()
    assert len(set(a.event_id) & set(c.event_id)) < 100  # another seed, mostly other rows (~500/10000 overlap)
    everything = bandit_counts.seeded_sample(folder, "policy", "random", 10**9, seed=7)
    assert len(everything) == int((frame.policy == "random").sum())


@pytest.mark.slow
def test_a_log_above_max_rows_is_evaluated_from_counts_and_a_sample(obd_files) -> None:
    folder, frame = obd_files
    scored = folder.parent / "scored.parquet"
    frame.to_parquet(scored, index=False)
    config = CausalConfig(treatment="policy", outcome="click", n_bootstrap=20, seed=0, progress=False)
    off = OffPolicyConfig(prior=str(PRIOR), refits=2, max_rows=1000)
    found = {e.method: e for e in evaluate_target_policy.fn(str(scored), off, config)}
    n_logged = int((frame.policy == "random").sum())
    truth = frame.loc[frame.policy == "bts", "click"].mean()
    assert set(found) == {"ipw", "snipw", "dm", "dr", "sndr", "switch_dr", "dr_os", "bn_policy"}
    for method, e in found.items():
        assert e.n_rows == (n_logged if method in ("ipw", "snipw") else 1000)
        assert e.diagnostics["on_policy_value"] == pytest.approx(truth)
        assert ("sample" in e.diagnostics) == (method not in ("ipw", "snipw"))
        json.dumps(e.diagnostics)
    small = {
        e.method: e for e in evaluate_target_policy.fn(str(scored), OffPolicyConfig(prior=str(PRIOR), refits=2), config)
    }
    assert found["ipw"].estimate == pytest.approx(small["ipw"].estimate, abs=1e-12)  # all rows, either way


def test_bad_propensities_are_refused_from_counts(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "event_id": ["a", "b"],
            "policy": "random",
            "item_id": [0, 1],
            "position": 0,
            "propensity": [0.5, 0.0],
            "click": [1, 0],
        }
    )
    frame.to_parquet(tmp_path / "x.parquet", index=False)
    with pytest.raises(OPEError, match=r"1 logged rows have a propensity outside \(0, 1\]"):
        bandit_counts.bandit_cells(tmp_path / "x.parquet", "policy", "random", "click", ("0", "1"))
