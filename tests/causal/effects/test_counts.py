"""The network on weighted counts: a log's contingency table gives the rows' numbers; the bootstrap reweights cells."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from causal.config import CausalConfig
from causal.effects.ab import ArmCounts, ab_test, arm_interval
from causal.effects.bootstrap import bootstrap_chunk
from causal.effects.cells import bootstrap_weights, half_weights, permuted_column, with_coin
from causal.effects.engine import Engine
from causal.effects.estimate import EffectReport, estimate_effects
from causal.effects.prepare import prepare_effects
from causal.network.discretize import Discretized, discretize
from causal.network.hillclimb import hill_climb
from causal.network.joint import encode_states, fit_counts
from causal.network.scores import EncodedData, LocalScore, compress
from causal.sim.confounded import ConfoundedLog
from causal.sim.simulator import SimulatorConfig, simulate

SIM_CONFIG = CausalConfig(treatment="strategy", baseline="random", n_bootstrap=200, progress=False)
ATE_VALUES = ("collaborative", "content", "popular")  # each against the baseline "random"


def as_counts(disc: Discretized) -> Discretized:
    """The contingency table of a discretised log: one row per distinct row, weighted by how often it occurs."""
    cells = disc.data.groupby(list(disc.data.columns), sort=False).size().reset_index(name="_n")
    cells = cells.sample(frac=1.0, random_state=0)  # the cells' order must not matter
    zero = cells.iloc[:1].assign(_n=0)  # nor must a cell that holds no row
    cells = pd.concat([cells, zero], ignore_index=True)
    return replace(disc, data=cells.drop(columns="_n"), weights=cells["_n"].to_numpy(dtype=float))


def rows_of(disc: Discretized) -> EncodedData:
    return encode_states(disc.data.loc[:, list(disc.nodes)], disc.state_names)


def by_key(report: EffectReport) -> dict:
    return {(e.method, e.estimand, e.treatment_value, e.segment): e for e in report.estimates}


def same(a: float, b: float, tol: float = 1e-12) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


@pytest.fixture(scope="module")
def sim20k():
    return simulate(SimulatorConfig(impressions=20_000, seed=4))


@pytest.fixture(scope="module")
def sim_reports(sim20k):
    """B = 200 on the simulated log: cells from its counts, and the rows redrawn (the reference)."""
    disc = discretize(sim20k.log, SIM_CONFIG)
    cells = estimate_effects(as_counts(disc), SIM_CONFIG)
    rows = estimate_effects(sim20k.log, replace(SIM_CONFIG, resample="rows"))
    return cells, rows


# -- the table itself -----------------------------------------------------------------------------------


def test_compress_gives_the_distinct_rows_with_their_weights_in_lexicographic_order():
    enc = EncodedData(("a", "b"), np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 1]]), (2, 2), (("x", "y"), ("p", "q")))
    cells = compress(enc)
    assert cells.codes.tolist() == [[0, 1, 1], [1, 0, 1]] and cells.weights.tolist() == [2.0, 2.0, 1.0]
    assert (cells.n_cells, cells.n_rows, cells.total_weight) == (3, 5, 5.0)
    # Weights add up; a row weighing 0 is no cell; compressing twice changes nothing.
    weighted = EncodedData(enc.names, enc.codes, enc.cards, enc.states, np.array([0.5, 0.0, 2.0, 3.0, 1.0]))
    again = compress(weighted)
    assert again.codes.tolist() == [[0, 1, 1], [1, 0, 1]] and again.weights.tolist() == [3.0, 2.5, 1.0]
    twice = compress(again)
    assert twice.codes.tolist() == again.codes.tolist() and twice.weights.tolist() == again.weights.tolist()
    with pytest.raises(ValueError, match=r"weights has shape \(2,\); the data has 5 rows"):
        EncodedData(enc.names, enc.codes, enc.cards, enc.states, np.ones(2))
    with pytest.raises(ValueError, match=r"weights must be finite and non-negative"):
        EncodedData(enc.names, enc.codes, enc.cards, enc.states, -np.ones(5))


@pytest.mark.parametrize("score", ["bic", "bdeu", "k2"])
def test_scores_search_and_fit_on_cells_equal_those_on_rows(score):
    disc = discretize(ConfoundedLog().simulate(800, 2), CausalConfig())
    rows = rows_of(disc)
    cells = compress(rows)
    assert cells.n_cells < rows.n_cells and cells.n_rows == rows.n_rows == 800
    on_rows, on_cells = LocalScore(rows, score), LocalScore(cells, score)
    for node in range(len(rows.names)):
        for parents in ([], [p for p in range(len(rows.names)) if p != node][:2]):
            assert on_cells(node, parents) == pytest.approx(on_rows(node, parents), abs=1e-9)
    assert hill_climb(cells, score).edges == hill_climb(rows, score).edges
    edges = hill_climb(rows, score).edges
    fit_rows, fit_cells = fit_counts(rows, edges, 1.0), fit_counts(cells, edges, 1.0)
    for node in rows.names:
        np.testing.assert_allclose(fit_cells.cpds[node], fit_rows.cpds[node], rtol=0, atol=1e-14)


def test_ab_test_on_counts_equals_it_on_outcomes():
    def clicks(k: int, n: int) -> np.ndarray:
        return np.r_[np.ones(k), np.zeros(n - k)]

    # The last pair sits below the arm rule: with min_events=0 the arithmetic at rates 0 and 1 is compared too.
    for (kt, nt), (kc, nc) in (((42, 10_000), (38, 10_000)), ((100, 1000), (50, 700)), ((0, 5), (3, 3))):
        on_rows = ab_test(clicks(kt, nt), clicks(kc, nc), min_events=0).as_diagnostics()
        on_counts = ab_test(ArmCounts(nt, kt), ArmCounts(nc, kc), min_events=0).as_diagnostics()
        for key, value in on_rows.items():
            assert on_counts[key] == (value if isinstance(value, (str, int)) else pytest.approx(value, rel=1e-12))
        assert arm_interval(ArmCounts(nt, kt)) == pytest.approx(arm_interval(clicks(kt, nt)), rel=1e-12)
    # An arm of one row has no variance: no test, on counts as on outcomes, and the verdict says which arm.
    for one in (ArmCounts(1, 1), clicks(1, 1)):
        res = ab_test(ArmCounts(10, 1), one, min_events=0)
        assert math.isnan(res.diff) and math.isnan(res.ci_low) and math.isnan(res.p_value) and res.n_c == 1
        assert res.verdict.startswith("no verdict: the control arm has 1 row (1 with outcome=1, 0 with outcome=0): ")
        assert "fewer than 2 rows (a variance needs 2)" in res.verdict and "treatment arm" not in res.verdict


# -- point estimates: counts give exactly the rows' numbers ---------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("which", ["confounded", "simulator"])
def test_counts_give_the_rows_point_estimates_exactly(which, sim20k):
    if which == "confounded":
        log, config = ConfoundedLog().simulate(1500, 3), CausalConfig(baseline="old", n_bootstrap=20, progress=False)
    else:
        log, config = sim20k.log, replace(SIM_CONFIG, n_bootstrap=20)
    disc = discretize(log, config)
    from_rows = estimate_effects(log, config)
    from_counts = estimate_effects(as_counts(disc), config)

    # The reference: the engine on every row, uncompressed and unweighted.
    prepared = prepare_effects(as_counts(disc), config)
    engine = Engine(disc, config)
    rows = rows_of(disc)
    edges, ident = engine.learn(rows)
    net = engine.fit(rows, edges)
    np.testing.assert_allclose(prepared.point_do, engine.means(net, ident), rtol=0, atol=1e-12)
    assert prepared.edges == edges and prepared.identification.adjustment_set == ident.adjustment_set
    if prepared.segment:
        reference = engine.cate(net, edges, ident, prepared.segment)
        np.testing.assert_allclose(prepared.point_cate, reference, rtol=0, atol=1e-12)

    assert from_counts.edges == from_rows.edges and from_counts.adjustment_set == from_rows.adjustment_set
    a, b = by_key(from_rows), by_key(from_counts)
    assert a.keys() == b.keys() and any(k[1] == "cate" for k in a)
    for key, e in a.items():
        f = b[key]
        assert same(f.estimate, e.estimate), key
        assert f.n_rows == e.n_rows, key  # log rows (all of them, an arm, a segment), never cells
        if e.method != "ab_diff":  # the same cells are redrawn from the same seed: the same intervals
            assert (f.ci_low, f.ci_high) == (e.ci_low, e.ci_high), key
        else:  # from counts instead of 0/1 arrays: the same numbers up to float rounding
            assert same(f.ci_low, e.ci_low) and same(f.ci_high, e.ci_high), key
    assert {e.n_rows for e in from_counts.estimates if e.method == "bn_do" and e.estimand != "cate"} == {len(log)}
    assert from_counts.overlap == from_rows.overlap and from_counts.refutations == from_rows.refutations
    assert from_counts.edge_frequency == from_rows.edge_frequency


def test_overlap_and_withholding_are_the_same_on_counts():
    # Policy "y" is never served to segment "b" (40% of the rows): its bn_do numbers are withheld.
    rng = np.random.default_rng(0)
    seg = rng.choice(["a", "b"], size=3000, p=[0.6, 0.4])
    policy = np.where(seg == "b", "x", rng.choice(["x", "y"], size=3000))
    click = (rng.random(3000) < np.where(policy == "y", 0.3, 0.2)).astype(int)
    log = pd.DataFrame({"user_segment": seg, "policy": policy, "click": click})
    config = CausalConfig(n_bootstrap=10, progress=False)
    reports = [
        estimate_effects(log, config),
        estimate_effects(log, replace(config, resample="rows")),
        estimate_effects(as_counts(discretize(log, config)), config),
    ]
    overlaps = [r.overlap for r in reports]
    assert overlaps[0] == overlaps[1] == overlaps[2]
    assert set(overlaps[0]["no_overlap"]) == {"y"} and "user_segment=b" in overlaps[0]["no_overlap"]["y"]
    for report in reports:
        withheld = by_key(report)[("bn_do", "interventional_mean", "y", None)]
        assert math.isnan(withheld.estimate) and withheld.explanation.startswith("No overlap: policy=y")


def test_counts_refuse_row_resampling_and_fractions():
    disc = as_counts(discretize(ConfoundedLog().simulate(300, 1), CausalConfig()))
    with pytest.raises(ValueError, match=r"resample='rows' redraws the log's rows, but this Discretized holds counts"):
        prepare_effects(disc, CausalConfig(resample="rows", progress=False))
    halves = replace(disc, weights=disc.weights + 0.5)
    with pytest.raises(ValueError, match=r"Discretized.weights must be whole, non-negative numbers"):
        prepare_effects(halves, CausalConfig(progress=False))


# -- the bootstrap on cells ------------------------------------------------------------------------------


def test_cell_draws_are_the_row_draws_counted():
    enc = compress(rows_of(discretize(ConfoundedLog().simulate(2000, 5), CausalConfig())))
    rng = np.random.default_rng(1)
    w = enc.weights
    draws = np.array([bootstrap_weights(rng, enc) for _ in range(4000)])
    assert (draws.sum(axis=1) == 2000).all()  # N rows drawn with replacement
    # Multinomial(N, w / N): mean w, variance w (1 - w / N), as counts of rows drawn with replacement.
    np.testing.assert_allclose(draws.mean(axis=0), w, atol=4 * np.sqrt(w / 4000).max())
    np.testing.assert_allclose(draws.var(axis=0), w * (1 - w / 2000), rtol=0.15)
    a, b = half_weights(rng, enc)
    assert (a + b == w).all() and a.sum() == 1000 and (a >= 0).all() and (b >= 0).all()
    # The permuted treatment keeps its counts and the other columns' counts, and is a new table.
    t = enc.index("policy")
    placebo = permuted_column(rng, enc, "policy")
    assert placebo.n_rows == 2000
    for i in range(len(enc.names)):
        keep = np.bincount(enc.codes[i], weights=w, minlength=enc.cards[i])
        np.testing.assert_array_equal(np.bincount(placebo.codes[i], weights=placebo.weights), keep)
    rest = [i for i in range(len(enc.names)) if i != t]
    assert np.array_equal(compress(_columns(placebo, rest)).weights, compress(_columns(enc, rest)).weights)
    coin = with_coin(rng, enc, "coin", ("coin", *enc.names))
    assert coin.names[0] == "coin" and coin.n_rows == 2000
    assert np.array_equal(compress(_columns(coin, list(range(1, len(coin.names))))).weights, w)


def _columns(enc: EncodedData, keep: list[int]) -> EncodedData:
    return EncodedData(
        tuple(enc.names[i] for i in keep),
        enc.codes[keep],
        tuple(enc.cards[i] for i in keep),
        tuple(enc.states[i] for i in keep),
        enc.weights,
    )


@pytest.mark.slow
def test_cells_and_rows_intervals_agree_and_cover_the_truth(sim20k, sim_reports):
    cells, rows = sim_reports
    a, b = by_key(cells), by_key(rows)
    for v in ATE_VALUES:
        truth = sim20k.truth_value("strategy", v, estimand="ate")
        for report in (a, b):
            ate = report[("bn_do", "ate", v, None)]
            assert ate.ci_low <= truth <= ate.ci_high, (v, truth, ate.ci_low, ate.ci_high)
    for key, e in a.items():
        if e.method not in ("bn_do", "naive"):
            continue
        f = b[key]
        assert f.estimate == pytest.approx(e.estimate, abs=1e-12), key
        width = e.ci_high - e.ci_low
        # Two independent B = 200 percentile endpoints differ by about 0.07 of the width (Monte Carlo error).
        assert abs(f.ci_low - e.ci_low) < 0.25 * width and abs(f.ci_high - e.ci_high) < 0.25 * width, key


@pytest.mark.slow
def test_refutations_on_counts_pass_and_fail_like_on_rows(sim_reports):
    cells, rows = sim_reports
    for v in ATE_VALUES:
        for report in (cells, rows):
            checks = report.refutations[v]
            assert checks["placebo"]["ci_low"] <= 0 <= checks["placebo"]["ci_high"]
            assert checks["placebo"]["passed"] and checks["random_common_cause"]["passed"]
        # Random halves are not compared: the same rule on halves of the same sizes, but each half is a fresh
        # random draw that passes about 95% of the time (test_cell_draws_are_the_row_draws_counted checks the sizes).


@pytest.mark.slow
def test_a_chunk_costs_cells_not_rows():
    config = replace(SIM_CONFIG, n_bootstrap=6, bootstrap_chunk=3)
    prepared = {}
    for size in (20_000, 200_000):
        disc = discretize(simulate(SimulatorConfig(impressions=size, seed=4)).log, config)
        prepared[size] = prepare_effects(as_counts(disc), config)
        assert prepared[size].n_rows == size and prepared[size].rows is None  # log rows reported, no rows kept
    # The cells are bounded by the states, not the rows: every combination of them is 3 * 4 * 4 * 5 * 2.
    bound = math.prod(prepared[200_000].enc.cards)
    assert bound == 480 and all(p.enc.n_cells <= bound for p in prepared.values())
    assert prepared[200_000].enc.n_cells - prepared[20_000].enc.n_cells <= 0.05 * bound

    big = prepared[200_000]
    seen: list[int] = []
    learn = big.engine.learn

    def recording(enc: EncodedData):
        seen.append(enc.n_cells)
        return learn(enc)

    big.engine.learn = recording  # every replicate, the placebo's included, learns on the cells
    chunk = bootstrap_chunk(big, 0)
    assert len(seen) >= 6 and max(seen) <= bound < 200_000
    assert chunk.do.shape == (3, 4) and np.isfinite(chunk.do).all()
