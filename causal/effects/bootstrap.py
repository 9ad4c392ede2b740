"""One seeded chunk of bootstrap replicates: redraw the log (cells or rows), relearn, refit and requery."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from causal.config import BOOTSTRAP_STREAM
from causal.effects.cells import bootstrap_weights
from causal.effects.prepare import PreparedEffects
from causal.effects.refute import placebo_replicates
from causal.network.joint import resample
from causal.network.scores import reweight
from causal.values import Edge


@dataclass(frozen=True, eq=False)
class BootstrapChunk:
    """The replicates of one bootstrap chunk (`config.chunk_replicates(chunk)`), one row per replicate."""

    chunk: int
    do: np.ndarray  # (replicates, values); nan where a replicate's structure did not identify the effect
    naive: np.ndarray  # (replicates, values)
    cate: np.ndarray  # (replicates, values, segment states)
    edge_counts: dict[Edge, int]  # replicates whose relearned structure held the edge
    same_set: int  # replicates identifying with the full data's strategy and adjustment set
    placebo: np.ndarray | None  # (replicates, values) placebo means; None when there is no placebo
    seconds: float


def bootstrap_chunk(prepared: PreparedEffects, chunk: int) -> BootstrapChunk:
    """Replicates `config.chunk_replicates(chunk)`: redraw the log, relearn, refit and requery in each.

    resample="cells": a replicate is Multinomial(N, w / N) weights over the cells (N log rows drawn with
    replacement, counted by cell), so it costs cells, not rows. resample="rows": the rows themselves are
    redrawn (the reference). Chunk c draws from its own Generator, seeded (seed, BOOTSTRAP_STREAM, c), so a
    chunk gives the same arrays wherever and whenever it runs.
    """
    start = time.perf_counter()
    config, engine, ident = prepared.config, prepared.engine, prepared.identification
    data = prepared.resampled
    replicates = len(config.chunk_replicates(chunk))
    rng = config.rng(BOOTSTRAP_STREAM, chunk)
    n, k, segment = data.n_cells, len(prepared.values), prepared.segment
    boot_do = np.full((replicates, k), np.nan)
    boot_naive = np.empty((replicates, k))
    boot_cate = np.full((replicates, k, len(prepared.segment_states)), np.nan)
    edge_counts: Counter[Edge] = Counter()
    same_set = 0
    for b in range(replicates):
        if config.resample == "rows":
            rows = rng.integers(0, n, size=n)
            replicate = resample(data, rows)
            weights = np.bincount(rows, minlength=n).astype(float)
        else:
            weights = bootstrap_weights(rng, data)
            replicate = reweight(data, weights)
        edges_b, ident_b = engine.learn(replicate)
        net_b = engine.fit(replicate, edges_b)
        edge_counts.update(edges_b)
        same_set += ident_b.strategy == ident.strategy and ident_b.adjustment_set == ident.adjustment_set
        boot_do[b] = engine.means(net_b, ident_b)
        if segment:
            boot_cate[b] = engine.cate(net_b, edges_b, ident_b, segment)
        boot_naive[b] = prepared.arms.means(weights)
    placebo = None
    if prepared.refutation is not None:
        placebo = placebo_replicates(prepared.refutation, engine, data, config, chunk)
    return BootstrapChunk(
        chunk=chunk,
        do=boot_do,
        naive=boot_naive,
        cate=boot_cate,
        edge_counts=dict(edge_counts),
        same_set=int(same_set),
        placebo=placebo,
        seconds=time.perf_counter() - start,
    )
