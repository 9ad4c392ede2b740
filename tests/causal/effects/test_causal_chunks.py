"""The bootstrap in seeded chunks: prepare → chunks in any order or place → combine gives one report."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from causal.config import BOOTSTRAP_STREAM, PLACEBO_STREAM, REFUTE_STREAM, CausalConfig
from causal.effects.estimate import EffectReport, bootstrap_chunk, combine_effects, estimate_effects, prepare_effects
from causal.sim.confounded import ConfoundedLog

# 11 replicates in chunks of 4: chunks of 4, 4 and 3 replicates, so the short last chunk is exercised.
CONFIG = CausalConfig(baseline="old", n_bootstrap=11, bootstrap_chunk=4, progress=False)


@pytest.fixture(scope="module")
def log():
    return ConfoundedLog().simulate(1500, 3)


@pytest.fixture(scope="module")
def prepared(log):
    return prepare_effects(log, CONFIG)


def timeless(report: EffectReport) -> EffectReport:
    return replace(report, seconds=0.0)  # compute time is the one field that may differ


def test_chunks_in_order_reversed_or_parallel_give_the_same_report(log, prepared):
    assert CONFIG.n_chunks == 3 and [len(CONFIG.chunk_replicates(c)) for c in range(3)] == [4, 4, 3]
    in_order = combine_effects(prepared, [bootstrap_chunk(prepared, c) for c in range(3)])
    reversed_ = combine_effects(prepared, [bootstrap_chunk(prepared, c) for c in (2, 1, 0)])
    # In parallel on copies, as a worker of another process would get them (pickled).
    shipped = pickle.loads(pickle.dumps(prepared))
    with ThreadPoolExecutor(3) as pool:
        parallel = list(pool.map(lambda c: bootstrap_chunk(shipped, c), (1, 2, 0)))
    parallel_report = combine_effects(prepared, parallel)
    sequential = estimate_effects(log, CONFIG)
    assert timeless(in_order) == timeless(reversed_) == timeless(parallel_report) == timeless(sequential)
    assert len(in_order.estimates) == 12 and in_order.refutations  # the placebo's replicates are chunked too
    bn = [e for e in in_order.estimates if e.method == "bn_do"]
    assert all(e.ci_low < e.ci_high for e in bn)


def test_a_chunk_depends_only_on_its_number(prepared):
    first = bootstrap_chunk(prepared, 1)
    bootstrap_chunk(prepared, 0)
    again = bootstrap_chunk(prepared, 1)
    for name in ("do", "naive", "cate", "placebo"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name), err_msg=name)
    assert first.edge_counts == again.edge_counts and first.same_set == again.same_set
    other = bootstrap_chunk(prepared, 0)
    assert not np.array_equal(first.do, other.do)  # each chunk has its own stream
    assert first.do.shape == (4, 2) and bootstrap_chunk(prepared, 2).do.shape == (3, 2)


def test_chunk_size_is_part_of_the_result_and_the_points_are_not(log):
    a = estimate_effects(log, CONFIG)
    b = estimate_effects(log, replace(CONFIG, bootstrap_chunk=5))
    bn_a = [e for e in a.estimates if e.method == "bn_do"]
    bn_b = [e for e in b.estimates if e.method == "bn_do"]
    assert [e.estimate for e in bn_a] == [e.estimate for e in bn_b]
    assert [e.ci_low for e in bn_a] != [e.ci_low for e in bn_b]


def test_streams_never_replay_each_other():
    # numpy's SeedSequence ignores trailing zeros: [seed, c] would make chunk 0 the old single stream
    # and chunk 7 the refutations' stream. Tagged streams keep every chunk's draws apart.
    config = CausalConfig(seed=3)
    first_draws = {("bootstrap", c): config.rng(BOOTSTRAP_STREAM, c).integers(0, 2**62) for c in range(10)} | {
        ("placebo", c): config.rng(PLACEBO_STREAM, c).integers(0, 2**62) for c in range(10)
    }
    first_draws[("refute",)] = config.rng(REFUTE_STREAM).integers(0, 2**62)
    first_draws[("plain seed",)] = np.random.default_rng(3).integers(0, 2**62)
    assert len(set(first_draws.values())) == len(first_draws)


def test_combine_needs_every_chunk_exactly_once(prepared):
    chunks = [bootstrap_chunk(prepared, c) for c in range(3)]
    message = (
        r"combining policy → click needs each of the bootstrap chunks 0..2 exactly once; got chunks \[0, 2\]; "
        r"pass bootstrap_chunk\(prepared, c\) for every c in range\(config.n_chunks\)"
    )
    with pytest.raises(ValueError, match=message):
        combine_effects(prepared, chunks[::2])
    with pytest.raises(ValueError, match=r"got chunks \[0, 1, 1, 2\]"):
        combine_effects(prepared, chunks + chunks[1:2])
    with pytest.raises(
        ValueError, match=r"bootstrap chunk 3 does not exist: n_bootstrap=11 in chunks of 4 makes chunks 0..2"
    ):
        bootstrap_chunk(prepared, 3)
