"""One run's decisions: every pair's replicate sets decided, its segment policy and the policy's values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from causal.decide.policy import PolicyValue, dr_value, network_value, segment_policy
from causal.decide.posterior import ALL, Decision, decide
from causal.decide.replicates import ReplicateSet, replicate_frame, replicate_sets

if TYPE_CHECKING:  # annotations only: deciding from stored rows needs no network library (pgmpy)
    from causal.effects.bootstrap import BootstrapChunk
    from causal.effects.prepare import PreparedEffects


@dataclass(frozen=True, eq=False)
class PairReplicates:
    """What a run keeps for deciding later: the replicates' rows and the segment policy's values."""

    frame: pd.DataFrame  # causal.decide.replicates.COLUMNS
    policy_values: tuple[PolicyValue, ...]


def decide_sets(sets: Iterable[ReplicateSet], level: float = 0.95) -> tuple[Decision, ...]:
    """A decision for each replicate set (population and segment values alike)."""
    return tuple(
        decide(
            r.means,
            r.values,
            r.baseline,
            treatment=r.treatment,
            outcome=r.outcome,
            segment=r.segment,
            segment_value=r.segment_value,
            level=level,
        )
        for r in sets
    )


def segment_sets(sets: Iterable[ReplicateSet], treatment: str, outcome: str) -> tuple[ReplicateSet, ...]:
    return tuple(r for r in sets if (r.treatment, r.outcome) == (treatment, outcome) and r.segment != ALL)


def pair_policy_values(
    sets: tuple[ReplicateSet, ...], cells: pd.DataFrame | str, level: float = 0.95
) -> tuple[PolicyValue, ...]:
    """The segment policy of each pair valued by the network's replicates and by DR on the log's cells.

    `cells` is the log counted as `policy.CELL_COLUMNS`, or the reason there are none (the DR row says it).
    """
    out = []
    nan = float("nan")
    for t, y in dict.fromkeys((r.treatment, r.outcome) for r in sets):
        segs = segment_sets(sets, t, y)
        where = dict(treatment=t, outcome=y, segment=segs[0].segment if segs else ALL)
        n = sum(r.n_rows for r in sets if (r.treatment, r.outcome, r.segment) == (t, y, ALL))
        decisions = decide_sets(segs, level)
        policy = segment_policy(decisions) if segs else None
        if policy is None:  # a row that says why, so every pair has its policy_values rows
            why = (
                "no CATE segment in this run, so the policy is the population's recommendation (`recdo decide`)"
                if not segs
                else "no decision in "
                + ", ".join(f"{d.segment}={d.segment_value} ({d.explanation})" for d in decisions if not d.values)
            )
            out += [
                PolicyValue(
                    **where, method=m, policy={}, estimate=nan, ci_low=nan, ci_high=nan, n_rows=n, explanation=why
                )
                for m in ("bn_do", "dr")
            ]
            continue
        out.append(network_value(segs, policy, level))
        if isinstance(cells, str):
            out.append(
                PolicyValue(
                    **where,
                    method="dr",
                    policy=policy,
                    estimate=nan,
                    ci_low=nan,
                    ci_high=nan,
                    n_rows=n,
                    explanation=cells,
                )
            )
        else:
            out.append(dr_value(cells, policy, **where, level=level))
    return tuple(out)


def pair_replicates(
    prepared: PreparedEffects, chunks: Iterable[BootstrapChunk], cells: pd.DataFrame | str
) -> PairReplicates:
    """The rows to store for one pair; `cells`: the log counted as `policy.CELL_COLUMNS`, or why it cannot be."""
    frame = replicate_frame(prepared, chunks)
    values = pair_policy_values(replicate_sets(frame), cells, prepared.config.ci_level)
    return PairReplicates(frame=frame, policy_values=values)
