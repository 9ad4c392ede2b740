"""CPD fitting: BDeu arithmetic by hand, numpy counting equals pgmpy, states survive resampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.config import CausalConfig
from causal.network.fit import CountFitter, fit_network

CONFIG = CausalConfig(equivalent_sample_size=4.0)


def small() -> pd.DataFrame:
    # t: 6 x "a", 4 x "b"; y=1 in 1 of the "a" rows and 3 of the "b" rows; z is unrelated.
    return pd.DataFrame(
        {
            "t": ["a"] * 6 + ["b"] * 4,
            "y": ["1", "0", "0", "0", "0", "0", "1", "1", "1", "0"],
            "z": ["p", "q", "r"] * 3 + ["p"],
        }
    )


def test_bdeu_posterior_mean_by_hand():
    model = fit_network(small(), [("t", "y")], CONFIG)
    # y | t: r = 2, q = 2, pseudo-count 4 / (2 * 2) = 1 per cell: P(y=1 | a) = (1 + 1) / (6 + 2)
    cpd = model.get_cpds("y")
    assert cpd.get_evidence() == ["t"]
    assert cpd.values[1] == pytest.approx([2 / 8, 4 / 6])
    # t has no parents: pseudo-count 4 / 2 = 2 per state: P(t=a) = (6 + 2) / (10 + 4)
    assert model.get_cpds("t").values == pytest.approx([8 / 14, 6 / 14])
    assert "z" in model.nodes() and model.get_cpds("z") is not None  # isolated node kept


def test_count_fitter_equals_pgmpy_estimator():
    rng = np.random.default_rng(0)
    n = 500
    df = pd.DataFrame({c: rng.choice(list("abc"), size=n) for c in ("u", "v", "t", "y")})
    edges = [("u", "t"), ("v", "t"), ("u", "y"), ("t", "y")]
    ours = CountFitter(df, edges, CONFIG).fit()
    theirs = fit_network(df, edges, CONFIG)
    for cpd in theirs.get_cpds():
        mine = ours.get_cpds(cpd.variable)
        assert mine.variables == cpd.variables
        assert mine.state_names == cpd.state_names
        assert np.abs(mine.values - cpd.values).max() < 1e-12


def test_weights_are_resampled_rows():
    df = small()
    idx = np.array([0, 0, 1, 6, 6, 6, 9, 3, 3, 4])  # rows 2, 5, 8 (z="r") never drawn
    weights = np.bincount(idx, minlength=len(df)).astype(float)
    fitter = CountFitter(df, [("t", "y")], CONFIG)
    by_weight = fitter.fit(weights)
    by_rows = fit_network(df.iloc[idx].reset_index(drop=True), [("t", "y")], CONFIG, state_names=fitter.state_names)
    for cpd in by_rows.get_cpds():
        assert np.abs(by_weight.get_cpds(cpd.variable).values - cpd.values).max() < 1e-12
    # the resample has no z="r" row, yet the state stays in the network
    assert by_rows.get_cpds("z").state_names["z"] == ["p", "q", "r"]


def test_unknown_edge_node_raises():
    message = r"edge \('t', 'w'\) names a node that is not a column; known nodes: \['t', 'y', 'z'\]"
    with pytest.raises(ValueError, match=message):
        fit_network(small(), [("t", "w")], CONFIG)
