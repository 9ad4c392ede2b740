"""Checks that go with every effect: placebo treatment, random common cause, random halves, and overlap."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from causal.config import PLACEBO_STREAM, REFUTE_STREAM, CausalConfig
from causal.effects.engine import Engine
from causal.network.discretize import Discretized
from causal.network.joint import encode_states, resample
from causal.network.scores import EncodedData
from common.values import percentile_intervals

RANDOM_COMMON_CAUSE = "random_common_cause"
THIN_STRATUM_ROWS = 5  # fewer rows of a treatment value than this in a stratum: flagged, not withheld


def overlap_report(
    data: pd.DataFrame, treatment: str, values, adjust, min_share: float, outcome: str = "outcome"
) -> dict:
    """Where each treatment value was never (or barely) served within the adjustment strata.

    A value unseen in a stratum holding at least `min_share` of the rows has no overlap: the
    network would answer for that stratum from its prior, so the value's numbers are withheld
    (`no_overlap` maps it to the sentence stored instead). Smaller gaps are warnings.
    """
    adjust = list(adjust)
    n = len(data)
    report: dict = {"adjustment_set": adjust, "min_stratum_share": min_share, "values": {}, "no_overlap": {}}
    if not adjust:
        counts = data[treatment].value_counts()
        for v in values:
            unseen = int(counts.get(v, 0) == 0)
            report["values"][v] = {"strata": 1, "unseen_strata": unseen, "unseen_share": 0.0, "thin_strata": 0}
        return report
    table = pd.crosstab([data[c] for c in adjust], data[treatment]).reindex(columns=list(values), fill_value=0)
    share = table.sum(axis=1) / n
    for v in values:
        unseen = table[v] == 0
        thin = (table[v] > 0) & (table[v] < THIN_STRATUM_ROWS)
        unseen_share = float(share[unseen].sum())
        entry = {
            "strata": int(len(table)),
            "unseen_strata": int(unseen.sum()),
            "unseen_share": round(unseen_share, 4),
            "thin_strata": int(thin.sum()),
        }
        big = share[unseen & (share >= min_share)]
        if len(big):
            labels = [
                ", ".join(f"{c}={s}" for c, s in zip(adjust, key if isinstance(key, tuple) else (key,)))
                for key in big.index[:3]
            ]
            report["no_overlap"][v] = (
                f"No overlap: {treatment}={v} was never served in {len(big)} stratum(s) of {adjust} holding "
                f"{big.sum():.1%} of the rows ({'; '.join(labels)}), so P({outcome} | do({treatment}={v})) would "
                f"come from the prior there, not from data. Ask about the strata where {v} was served, "
                f"or log {v} for those users too."
            )
        elif unseen_share > 0:
            entry["warning"] = (
                f"{treatment}={v} unseen in strata holding {unseen_share:.2%} of rows (each under {min_share:.0%}); "
                "that part of the estimate leans on the prior"
            )
        report["values"][v] = entry
    return report


@dataclass(frozen=True, eq=False)
class RefutationPoints:
    """What the refutations take from all rows, drawn once: the placebo's permuted treatment and the point answers."""

    placebo_treatment: np.ndarray  # (n_rows,) the treatment's codes permuted across rows
    placebo: np.ndarray  # (values,) interventional means with the permuted treatment
    common_cause: np.ndarray  # (values,) with a random coin made parent of treatment and outcome
    half_a: np.ndarray  # (values,) on one random half of the rows
    half_b: np.ndarray  # (values,) on the other half

    def placebo_data(self, enc: EncodedData, treatment: str) -> EncodedData:
        """All rows with the treatment permuted (rebuilt on use: this value carries one column, not the log)."""
        return _with_codes(enc, treatment, self.placebo_treatment)


def _with_codes(enc: EncodedData, column: str, codes: np.ndarray) -> EncodedData:
    replaced = enc.codes.copy()
    replaced[enc.names.index(column)] = codes
    return EncodedData(enc.names, replaced, enc.cards, enc.states)


def refutation_points(disc: Discretized, config: CausalConfig, engine: Engine, enc: EncodedData) -> RefutationPoints:
    """Placebo permutation, random common cause and random halves on all rows, from the refutations' own stream."""
    rng = config.rng(REFUTE_STREAM)  # its own stream: refuting never moves the estimate's draws
    t_row = enc.names.index(config.treatment)

    # Placebo: the treatment permuted across rows keeps its distribution and loses every link to the outcome.
    permuted = rng.permutation(enc.codes[t_row])

    # Random common cause: a coin flip made a parent of treatment and outcome; adjusting for it must not move
    # the answer.
    coin = np.where(rng.random(len(disc.data)) < 0.5, "1", "0").astype(object)
    users = tuple(disc.user_features) + (RANDOM_COMMON_CAUSE,)
    with_coin = replace(
        disc,
        data=disc.data.assign(**{RANDOM_COMMON_CAUSE: coin}),
        tiers=(users,) + tuple(tier for tier in disc.tiers if not set(tier) <= set(disc.user_features)),
        user_features=users,
        state_names={**disc.state_names, RANDOM_COMMON_CAUSE: ("0", "1")},
    )
    coin_engine = engine.variant(
        with_coin, extra_required=((RANDOM_COMMON_CAUSE, config.treatment), (RANDOM_COMMON_CAUSE, config.outcome))
    )
    coin_enc = encode_states(with_coin.data.loc[:, list(with_coin.nodes)], with_coin.state_names)

    # Random halves: two disjoint halves should agree within the sampling noise of a half.
    n = enc.n_rows
    order = rng.permutation(n)
    return RefutationPoints(
        placebo_treatment=permuted,
        placebo=engine.point(_with_codes(enc, config.treatment, permuted)),
        common_cause=coin_engine.point(coin_enc),
        half_a=engine.point(resample(enc, np.sort(order[: n // 2]))),
        half_b=engine.point(resample(enc, np.sort(order[n // 2 :]))),
    )


def placebo_replicates(
    points: RefutationPoints, engine: Engine, enc: EncodedData, config: CausalConfig, chunk: int
) -> np.ndarray:
    """(replicates, values) placebo means of one bootstrap chunk, seeded per chunk like the estimate's replicates.

    As many replicates as the estimate has: the percentile tails need the draws.
    """
    rng = config.rng(PLACEBO_STREAM, chunk)
    placebo = points.placebo_data(enc, config.treatment)
    n = enc.n_rows
    draws = [engine.point(resample(placebo, rng.integers(0, n, size=n))) for _ in config.chunk_replicates(chunk)]
    return np.array(draws)


def refute(
    points: RefutationPoints, boot_do: np.ndarray, placebo_boot: np.ndarray, base: int, values, level: float
) -> dict[str, dict]:
    """Per non-baseline treatment value: placebo, random common cause and random halves, each with its rule."""
    lo, hi = percentile_intervals(boot_do - boot_do[:, [base]], level)
    p_lo, p_hi = percentile_intervals(placebo_boot - placebo_boot[:, [base]], level)
    p_point, coin_point, half_a, half_b = points.placebo, points.common_cause, points.half_a, points.half_b

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
            },
        }
    return out


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)
