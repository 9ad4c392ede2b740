"""The values every causal module passes around: an `Estimate` row and an `Edge` of a network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Edge = tuple[str, str]  # (parent, child)
Estimand = Literal["interventional_mean", "ate", "cate"]
Method = Literal[
    "bn_do",
    "naive",
    "ab_diff",
    "ipw",
    "snipw",
    "dm",
    "dr",
    "sndr",
    "switch_dr",
    "dr_os",
    "bn_policy",
    "cuped",
    "cupac",
    "mips",
]


@dataclass(frozen=True)
class Estimate:
    """One row of the interventions table: a number, its interval and what it means."""

    treatment: str
    treatment_value: str
    baseline_value: str | None  # None for interventional means
    outcome: str
    estimand: Estimand
    method: Method
    estimate: float  # nan when `explanation` says why there is no number
    ci_low: float
    ci_high: float
    n_rows: int  # rows the estimate used: all rows for bn_do, the arm(s) compared otherwise
    adjustment_set: tuple[str, ...]
    diagnostics: dict = field(default_factory=dict)  # JSON-safe: support, ESS, refutations, overlap, verdicts
    explanation: str | None = None  # why the row carries no number (not identifiable, no overlap)
    segment: str | None = None  # "node=state" for CATE rows
