"""The allocation file: per segment value, a serving probability per treatment value (docs/allocation.md).

Thompson sampling serves each value with the probability that it is best, which the replicates give as
P(best); an exploration floor keeps every value at >= floor / k so the next log carries propensities for all
of them and stays analysable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causal.decide.posterior import ALL, Decision

SCHEMA = "recdo.allocation/1"


@dataclass(frozen=True)
class Allocation:
    """What a serving system reads: {segment value: {treatment value: probability}}, each summing to 1."""

    run_id: str
    created: str  # ISO 8601, UTC
    treatment: str
    outcome: str
    segment_column: str | None  # the log column the segment values are of; None: one allocation for everyone
    floor: float
    allocation: dict[str, dict[str, float]]
    default: dict[str, float]  # for a segment value the file does not list
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "created": self.created,
            "treatment": self.treatment,
            "outcome": self.outcome,
            "segment_column": self.segment_column,
            "floor": self.floor,
            "allocation": self.allocation,
            "default": self.default,
            "notes": list(self.notes),
        }


def check_floor(floor: float) -> float:
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0.0 <= floor <= 1.0:
        raise ValueError(
            f"the exploration floor must be in [0, 1]; got {floor!r}; use e.g. 0.05 (each value served >= 0.05 / k)"
        )
    return float(floor)


def thompson(p_best: dict[str, float], floor: float) -> dict[str, float]:
    """floor / k + (1 - floor) * P(best) for each of the k values: at least floor / k each, summing to 1."""
    check_floor(floor)
    k = len(p_best)
    probs = np.array([floor / k + (1.0 - floor) * p for p in p_best.values()])
    probs = probs / probs.sum()  # P(best) sums to 1 up to rounding; this makes the file's rows exact
    return {v: float(p) for v, p in zip(p_best, probs)}


def uniform(values: tuple[str, ...]) -> dict[str, float]:
    return {v: 1.0 / len(values) for v in values}


def allocate(decisions: tuple[Decision, ...], floor: float, run_id: str, created: str) -> Allocation:
    """The allocation of one pair from its population decision ("all") and its segment decisions.

    A segment without a decision gets the population's allocation (or uniform when that has none too): serving
    it keeps exploring, and the notes say which segments fell back.
    """
    check_floor(floor)
    population = next((d for d in decisions if d.segment == ALL), None)
    if population is None:
        raise ValueError("an allocation needs the pair's population decision (segment 'all'); none was given")
    values = tuple(v.value for v in population.values) or ()
    notes = []
    if population.recommended is None:
        notes.append(f"population: no decision ({population.explanation}); served uniformly")
        default = None
    else:
        default = thompson({v.value: v.p_best for v in population.values}, floor)
    segments = [d for d in decisions if d.segment != ALL]
    allocation: dict[str, dict[str, float]] = {}
    for d in segments:
        if d.recommended is not None:
            allocation[d.segment_value] = thompson({v.value: v.p_best for v in d.values}, floor)
            values = values or tuple(v.value for v in d.values)
        else:
            notes.append(f"{d.segment}={d.segment_value}: no decision ({d.explanation}); served the default")
    if not values:
        raise ValueError(
            f"no decision for {population.treatment} on {population.outcome} in any segment, so no allocation: "
            f"{population.explanation}; run with a log that identifies the effect"
        )
    default = default or uniform(values)
    for d in segments:
        allocation.setdefault(d.segment_value, dict(default))
    if not segments:
        allocation[ALL] = dict(default)
    return Allocation(
        run_id=run_id,
        created=created,
        treatment=population.treatment,
        outcome=population.outcome,
        segment_column=segments[0].segment if segments else None,
        floor=floor,
        allocation=allocation,
        default=default,
        notes=tuple(notes),
    )
