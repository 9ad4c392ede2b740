"""Checks that go with every effect: placebo treatment, random common cause and random halves.

Each is drawn on the rows (resample="rows", the reference) or on the contingency table's cells
(resample="cells"), where `causal.effects.cells` makes the same draws in distribution at a cost per cell.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from causal.config import PLACEBO_STREAM, REFUTE_STREAM, CausalConfig
from causal.effects.cells import bootstrap_weights, half_weights, permuted_column, with_coin
from causal.effects.engine import Engine
from causal.network.discretize import Discretized
from causal.network.joint import encode_states, resample
from causal.network.scores import EncodedData, reweight
from common.values import percentile_intervals

RANDOM_COMMON_CAUSE = "random_common_cause"


@dataclass(frozen=True, eq=False)
class RefutationPoints:
    """The refutations' point answers on all rows (the placebo's replicates permute afresh, see below)."""

    placebo: np.ndarray  # (values,) interventional means with the permuted treatment
    common_cause: np.ndarray  # (values,) with a random coin made parent of treatment and outcome
    half_a: np.ndarray  # (values,) on one random half of the rows
    half_b: np.ndarray  # (values,) on the other half


def _with_codes(enc: EncodedData, column: str, codes: np.ndarray) -> EncodedData:
    replaced = enc.codes.copy()
    replaced[enc.names.index(column)] = codes
    return EncodedData(enc.names, replaced, enc.cards, enc.states, enc.weights)


def _coin_knowledge(disc: Discretized) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    """Tiers and user features with the random coin added as a user feature (first tier: a pre-treatment cause)."""
    users = tuple(disc.user_features) + (RANDOM_COMMON_CAUSE,)
    tiers = (users,) + tuple(tier for tier in disc.tiers if not set(tier) <= set(disc.user_features))
    return tiers, users


def refutation_points(disc: Discretized, config: CausalConfig, engine: Engine, enc: EncodedData) -> RefutationPoints:
    """Placebo permutation, random common cause and random halves on all rows, from the refutations' own stream.

    `enc` is what the bootstrap resamples: every row (resample="rows") or the cells (resample="cells").
    """
    rng = config.rng(REFUTE_STREAM)  # its own stream: refuting never moves the estimate's draws
    tiers, users = _coin_knowledge(disc)
    # Random common cause: a coin flip made a parent of treatment and outcome; adjusting for it must not move
    # the answer. The coin gets its own in-degree slot: under max_indegree = 3 it used to push a real confounder
    # out of the outcome's CPD (two confounders + treatment + coin = 4), and the check failed on correct estimates
    # (simulated log, user_activity and user_taste adjusted: 9 of 9 coin ATEs 0.025-0.05 off the estimate).
    coin_engine = engine.variant(
        tiers,
        users,
        extra_required=((RANDOM_COMMON_CAUSE, config.treatment), (RANDOM_COMMON_CAUSE, config.outcome)),
        extra_indegree=1,
    )
    if config.resample == "cells":
        # Placebo: the treatment permuted across rows keeps its distribution and loses every link to the outcome.
        placebo = permuted_column(rng, enc, config.treatment)
        coin_enc = with_coin(rng, enc, RANDOM_COMMON_CAUSE, tuple(n for tier in tiers for n in tier))
        # Random halves: two disjoint halves should agree within the sampling noise of a half.
        a, b = half_weights(rng, enc)
        return RefutationPoints(
            placebo=engine.point(placebo),
            common_cause=coin_engine.point(coin_enc),
            half_a=engine.point(reweight(enc, a)),
            half_b=engine.point(reweight(enc, b)),
        )

    # The rows: the same three, drawn row by row (the reference the cells' draws equal in distribution).
    t_row = enc.names.index(config.treatment)
    permuted = rng.permutation(enc.codes[t_row])
    coin = np.where(rng.random(len(disc.data)) < 0.5, "1", "0").astype(object)
    with_column = replace(
        disc,
        data=disc.data.assign(**{RANDOM_COMMON_CAUSE: coin}),
        tiers=tiers,
        user_features=users,
        state_names={**disc.state_names, RANDOM_COMMON_CAUSE: ("0", "1")},
    )
    coin_enc = encode_states(with_column.data.loc[:, list(with_column.nodes)], with_column.state_names)
    n = enc.n_cells
    order = rng.permutation(n)
    return RefutationPoints(
        placebo=engine.point(_with_codes(enc, config.treatment, permuted)),
        common_cause=coin_engine.point(coin_enc),
        half_a=engine.point(resample(enc, np.sort(order[: n // 2]))),
        half_b=engine.point(resample(enc, np.sort(order[n // 2 :]))),
    )


def placebo_replicates(
    points: RefutationPoints, engine: Engine, enc: EncodedData, config: CausalConfig, chunk: int
) -> np.ndarray:
    """(replicates, values) placebo means of one bootstrap chunk, seeded per chunk like the estimate's replicates.

    Each replicate redraws the log as the estimate's replicates do (cells by multinomial weights, or rows)
    and then permutes the treatment afresh. Resampling one fixed permutation would centre the interval on
    that permutation's own chance ATE and leave out its spread, which is about as large as the sampling
    noise: on the 20k simulator such intervals missed 0 for some value in about a third of runs, while the
    placebo ATEs of 30 permutations averaged 0 (sd 1.3 bootstrap standard errors). A fresh permutation per
    replicate keeps the test's point: an estimator that finds an effect where there is none still shows it.
    """
    rng = config.rng(PLACEBO_STREAM, chunk)
    replicates = config.chunk_replicates(chunk)
    if config.resample == "cells":
        return np.array(
            [
                engine.point(permuted_column(rng, reweight(enc, bootstrap_weights(rng, enc)), config.treatment))
                for _ in replicates
            ]
        )
    n, t_row = enc.n_cells, enc.names.index(config.treatment)
    out = []
    for _ in replicates:
        drawn = resample(enc, rng.integers(0, n, size=n))
        out.append(engine.point(_with_codes(drawn, config.treatment, rng.permutation(drawn.codes[t_row]))))
    return np.array(out)


def refute(
    points: RefutationPoints, boot_do: np.ndarray, placebo_boot: np.ndarray, base: int, values, level: float
) -> dict[str, dict]:
    """Per non-baseline treatment value: placebo, random common cause and random halves, each with its rule."""
    lo, hi = percentile_intervals(boot_do - boot_do[:, [base]], level)
    p_lo, p_hi = percentile_intervals(placebo_boot - placebo_boot[:, [base]], level)
    p_point, coin_point, half_a, half_b = points.placebo, points.common_cause, points.half_a, points.half_b

    # The placebo and the halves are tests at the intervals' level: each fails this often with nothing wrong.
    # The random common cause has no such rate: with its own in-degree slot the coin's ATE stays within a few
    # thousandths of the estimate, far inside the interval, unless the estimate leans on how the strata are cut.
    false_alarm = round(1.0 - level, 6)
    out: dict[str, dict] = {}
    for i, v in enumerate(values):
        if i == base:
            continue
        width = hi[i] - lo[i]
        coin_ate = coin_point[i] - coin_point[base]
        a, b = half_a[i] - half_a[base], half_b[i] - half_b[base]
        out[v] = {
            "placebo": {
                "estimate": _num(p_point[i] - p_point[base]),
                "ci_low": _num(p_lo[i]),
                "ci_high": _num(p_hi[i]),
                "passed": bool(p_lo[i] <= 0 <= p_hi[i]),
                "rule": "the ATE of a permuted treatment has an interval containing 0",
                "false_alarm": false_alarm,
            },
            "random_common_cause": {
                "estimate": _num(coin_ate),
                "passed": bool(lo[i] <= coin_ate <= hi[i]),
                "rule": "adding a random parent of treatment and outcome keeps the ATE inside its interval",
            },
            "random_halves": {
                "estimates": [_num(a), _num(b)],
                "passed": bool(abs(a - b) <= width),
                "rule": "two random halves differ by no more than the full data's interval width "
                "(about 1.96 standard errors of their difference)",
                "false_alarm": false_alarm,
            },
        }
    return out


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)
