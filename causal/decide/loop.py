"""The closed loop's pure parts: allocations of the policies a loop compares, their regret, and the next file.

An allocation here is `{segment value: {treatment value: probability}}` (the file's `allocation` field). Regret
is expected, not sampled: the allocation's probabilities weigh the exact per-segment gaps to the best value, so
two policies that serve the same allocation have the same regret whatever their logs happened to draw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from causal.decide.allocation import SCHEMA, allocate, check_floor
from causal.decide.posterior import Decision

Alloc = dict[str, dict[str, float]]
COUNT_COLUMNS = ("segment_value", "value", "n", "positives")  # a log's arms, as `count_arms` gives them


@dataclass(frozen=True)
class RegretSummary:
    """Regret per impression of each day, its mean over all days and over the last `last` days."""

    per_day: tuple[float, ...]
    overall: float
    final: float
    last: int


def check_allocation(allocation: Mapping[str, Mapping[str, float]], values: Sequence[str]) -> None:
    """Every segment's probabilities are over `values`, non-negative and sum to 1; else a ValueError naming it."""
    for segment, row in allocation.items():
        unknown = sorted(set(row) - set(values))
        probs = np.array(list(row.values()), dtype=float)
        if unknown or (probs < 0).any() or not math.isclose(float(probs.sum()), 1.0, abs_tol=1e-9):
            raise ValueError(
                f"allocation[{segment!r}] = {dict(row)} is not a distribution over {list(values)} (unknown "
                f"{unknown}, sum {probs.sum():.6f}); give each segment non-negative probabilities summing to 1"
            )


def regret(
    allocation: Mapping[str, Mapping[str, float]],
    mu: Mapping[str, Mapping[str, float]],
    share: Mapping[str, float],
) -> float:
    """sum_a share[a] * sum_v alloc(v | a) * (max_w mu[a][w] - mu[a][v]): expected regret per impression.

    `mu[a][v]` is the exact E[outcome | do(v), segment a] and `share[a]` the segment's share of impressions.
    """
    missing = sorted(set(share) - set(allocation))
    if missing:
        raise ValueError(f"the allocation has no row for segments {missing}; give every segment of the truth a row")
    total = 0.0
    for a, weight in share.items():
        check_allocation({a: allocation[a]}, tuple(mu[a]))
        best = max(mu[a].values())
        total += weight * sum(p * (best - mu[a][v]) for v, p in allocation[a].items())
    return float(total)


def oracle(mu: Mapping[str, Mapping[str, float]]) -> Alloc:
    """Each segment served its truly best value (the first of equal ones): the allocation with regret 0."""
    out = {}
    for a, row in mu.items():
        best = max(row, key=row.get)
        out[a] = {v: float(v == best) for v in row}
    return out


def uniform_over(segments: Sequence[str], values: Sequence[str]) -> Alloc:
    return {a: {v: 1.0 / len(values) for v in values} for a in segments}


def count_arms(log: pd.DataFrame, segment: str, treatment: str, outcome: str) -> pd.DataFrame:
    """Rows and positive outcomes per (segment value, treatment value) of a log, as `COUNT_COLUMNS`."""
    missing = sorted({segment, treatment, outcome} - set(log.columns))
    if missing:
        raise ValueError(f"the log lacks columns {missing}; a loop counts {segment}, {treatment} and {outcome}")
    keys = [log[segment].astype(str).rename("segment_value"), log[treatment].astype(str).rename("value")]
    grouped = log[outcome].groupby(keys).agg(["count", "sum"]).reset_index()
    return grouped.rename(columns={"count": "n", "sum": "positives"})[list(COUNT_COLUMNS)]


def pool_counts(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The counts of several logs (days) added up per arm."""
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(COUNT_COLUMNS))
    return frame.groupby(["segment_value", "value"], as_index=False)[["n", "positives"]].sum()


def _best_rate(counts: pd.DataFrame, values: Sequence[str]) -> str:
    """The value with the highest click rate among those with rows (the first of equal ones); all unseen: the first."""
    by = counts.groupby("value")[["n", "positives"]].sum()
    rates = {v: by.loc[v, "positives"] / by.loc[v, "n"] for v in values if v in by.index and by.loc[v, "n"] > 0}
    return max(rates, key=rates.get) if rates else values[0]


def greedy_naive(counts: pd.DataFrame, segments: Sequence[str], values: Sequence[str]) -> Alloc:
    """Everyone gets the value with the best pooled naive click rate: no adjustment, no exploration."""
    best = _best_rate(counts, values)
    return {a: {v: float(v == best) for v in values} for a in segments}


def epsilon_greedy(counts: pd.DataFrame, segments: Sequence[str], values: Sequence[str], epsilon: float = 0.1) -> Alloc:
    """Per segment: `epsilon` spread uniformly, the rest on the segment's best empirical click rate."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1]; got {epsilon!r}; use e.g. 0.1")
    out = {}
    for a in segments:
        best = _best_rate(counts[counts["segment_value"] == a], values)
        out[a] = {v: epsilon / len(values) + (1.0 - epsilon) * (v == best) for v in values}
    return out


def thompson_allocation(decisions: Sequence[Decision], floor: float, segments: Sequence[str]) -> Alloc:
    """recdo's next allocation from one pair's decisions, with a row for every segment (the default where absent)."""
    made = allocate(tuple(decisions), floor, run_id="loop", created="")
    return {a: dict(made.allocation.get(a, made.default)) for a in segments}


def summarise(per_day: Sequence[float], last: int = 10) -> RegretSummary:
    if not per_day:
        raise ValueError("no day's regret to summarise; run the loop for at least one day")
    days = tuple(float(r) for r in per_day)
    tail = days[-last:]
    return RegretSummary(per_day=days, overall=float(np.mean(days)), final=float(np.mean(tail)), last=len(tail))


def read_previous(path: str | Path) -> dict | None:
    """The allocation file that served the new data, or None when there is none yet (the loop's first day)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc}); remove it or point the flow at an allocation file") from None
    if not isinstance(body, dict) or body.get("schema") != SCHEMA or not body.get("run_id"):
        raise ValueError(
            f"{path} is not one allocation of schema {SCHEMA!r} with a run_id (schema "
            f"{body.get('schema') if isinstance(body, dict) else type(body).__name__!r}); remove it or write it "
            "with `recdo decide --policy-out`"
        )
    return body


def pooling_breach(treatment: str, segment_column: str | None, adjusted: Sequence[str] | None) -> str | None:
    """Why partitions served by changing allocations of `treatment` cannot be pooled; None when they can.

    An allocation keyed by `segment_column` serves each segment with its own, day by day changing, probabilities:
    in the pooled log the segment then drives the treatment, so it must be in the adjustment set the network used
    (assumed: a segment's outcome rates under each value do not drift between the pooled days). One allocation
    for everyone (no segment column) changes P(treatment) by day only, which the same assumption makes harmless.
    """
    if segment_column is None:
        return None
    if adjusted is None:
        return f"{treatment}: the run has no network estimate whose adjustment set could be checked"
    if segment_column not in adjusted:
        return (
            f"{treatment} was served per {segment_column!r} (the previous allocation), which the pooled run's network "
            f"does not adjust for (adjustment set {sorted(adjusted)})"
        )
    return None


def previous_of(previous: Mapping | None, run_id: str) -> str | None:
    """The run the next allocation follows: the previous file's, or what that file followed if it is this run's own.

    A re-run of the same partition has the same run id and reads the file it wrote before; chaining to itself
    would lose the run it really follows.
    """
    if previous is None:
        return None
    if previous.get("run_id") == run_id:
        return previous.get("previous_run_id")
    return str(previous["run_id"])


def next_allocation(
    decisions: Sequence[Decision],
    *,
    floor: float,
    run_id: str,
    created: str,
    previous_run_id: str | None,
    policy_values: Sequence[dict] = (),
) -> dict:
    """The next allocation file's body (docs/allocation.md) of one pair, naming the run whose file it replaces."""
    check_floor(floor)
    pairs = {(d.treatment, d.outcome) for d in decisions}
    if len(pairs) != 1:
        raise ValueError(f"an allocation file is of one (treatment, outcome) pair; got {sorted(pairs)}")
    body = allocate(tuple(decisions), floor, run_id, created).to_json()
    body["previous_run_id"] = previous_run_id
    body["policy_value"] = [dict(v) for v in policy_values]
    segment_rows = [body["allocation"][k] for k in body["allocation"]] + [body["default"]]
    for row in segment_rows:  # a serving system trusts each row as a distribution: fail here, not there
        check_allocation({"row": row}, tuple(row))
    return body
