"""The small typed values that travel along the DAG's arrows (paths and counts, never big frames)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LogRef:
    """The canonical log written to disk by the loader."""

    path: str
    n_rows: int
    data_hash: str
    source: str
    notes: str


@dataclass(frozen=True)
class GateRef:
    """What the validation gate kept and rejected; `failure` is set when too much was rejected."""

    clean_path: str
    quarantine_path: str
    results_path: str
    n_in: int
    n_clean: int
    n_quarantined: int
    rule_counts: dict[str, int] = field(default_factory=dict)
    failure: str | None = None
    notes: tuple[str, ...] = ()  # what the gate did besides judging rows (how a numeric ts was read)


@dataclass(frozen=True)
class ScoreRef:
    """The clean log with the scorer's P(outcome) per row, and the scorer's metrics."""

    scored_path: str
    backbone: str
    metrics: dict[str, float] = field(default_factory=dict)
    catalogue_path: str | None = None  # every (user context, item) scored, when the log has item propensities
    catalogue_note: str | None = None  # why there is no catalogue
