"""What the validation gate checks: the canonical log's column names and the gate's settings."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

EVENT_ID = "event_id"
TS = "ts"
USER_ID = "user_id"
ITEM_ID = "item_id"
POSITION = "position"
PROPENSITY = "propensity"
# P(this item | context) under the logging policy (the simulator writes it): how a row was served, not a feature
ITEM_PROPENSITY = "item_propensity"

# Columns every canonical log has, whatever its outcomes and treatment are called.
KEY_COLUMNS: tuple[str, ...] = (EVENT_ID, TS, USER_ID, ITEM_ID)
ITEM_TEXT = "item_text"
# Optional columns with rules of their own; the gate checks them only when the log has them.
CHECKED_OPTIONAL_COLUMNS: tuple[str, ...] = (POSITION, PROPENSITY)
# The canonical columns that name the treatment that served a row; their values become arms downstream.
TREATMENT_COLUMNS: tuple[str, ...] = ("strategy", "policy", "reason_shown")
# One day: more than any clock skew between the platform and the validating machine, and more than the
# largest UTC offset (+14:00), so a log whose local times were written as UTC still passes; a timestamp a
# day or more ahead (a year typo, 2104 for 2014) cannot be a logged impression.
DEFAULT_FUTURE_TOLERANCE_S = 86_400.0


def is_feature_column(name: object) -> bool:
    """A user or item feature column: `user_*` but not user_id, `item_*` but not item_id, item_text, item_propensity."""
    if not isinstance(name, str):
        return False
    if name.startswith("user_"):
        return name != USER_ID
    return name.startswith("item_") and name not in (ITEM_ID, ITEM_TEXT, ITEM_PROPENSITY)


def feature_columns(columns: Iterable[object]) -> tuple[str, ...]:
    """The feature columns among `columns`, in their order."""
    return tuple(str(c) for c in columns if is_feature_column(c))


@dataclass(frozen=True)
class GateConfig:
    """Which columns hold the outcomes and the treatment, and how many bad rows a run may drop."""

    outcomes: tuple[str, ...] = ("click",)
    treatment: str | None = None
    # More treatments of one run (strategy, position, reason_shown): each must be present and non-null.
    # Unlike `treatment`, these may be canonical columns with rules of their own (position).
    treatments: tuple[str, ...] = ()
    max_rejected_share: float = 0.01
    # Feature columns (is_feature_column) whose nulls are kept, to become the level "missing" downstream
    # (causal.network.discretize and sources.counts name a null or NaN value "missing"); the nulls of any
    # other feature column are quarantined ("<column> not null"). A treatment's nulls are always
    # quarantined: a row with no arm cannot be set to one, and the network's plan refuses them.
    missing_as_state: tuple[str, ...] = ()
    # A row whose ts lies more than this many seconds after the time of validation is quarantined
    # ("ts not in the future"); see DEFAULT_FUTURE_TOLERANCE_S for why one day.
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S

    def __post_init__(self) -> None:
        if isinstance(self.outcomes, str):
            raise ValueError(
                f"outcomes must be a tuple of column names, got the string {self.outcomes!r}; "
                f"write outcomes=({self.outcomes!r},)"
            )
        # Lists from pydantic params or YAML are fine; store a tuple so the config stays hashable.
        object.__setattr__(self, "outcomes", tuple(self.outcomes))
        if not self.outcomes:
            raise ValueError("outcomes is empty; name at least one outcome column, e.g. outcomes=('click',)")
        for name in self.outcomes:
            if not isinstance(name, str) or not name:
                raise ValueError(f"outcome column names must be non-empty strings, got {name!r}")
        if len(set(self.outcomes)) != len(self.outcomes):
            raise ValueError(f"outcomes {self.outcomes} name a column twice; list each outcome once")
        reserved = set(KEY_COLUMNS) | set(CHECKED_OPTIONAL_COLUMNS)
        clash = sorted(reserved & set(self.outcomes))
        if clash:
            raise ValueError(
                f"outcomes {clash} are canonical log columns with rules of their own, not outcomes; "
                f"pick the 0/1 outcome column, e.g. 'click'"
            )
        if self.treatment is not None:
            if not isinstance(self.treatment, str) or not self.treatment:
                raise ValueError(f"treatment must be a column name or None, got {self.treatment!r}")
            if self.treatment in self.outcomes or self.treatment in reserved:
                raise ValueError(
                    f"treatment {self.treatment!r} is already an outcome or a canonical column; "
                    f"name the column that holds the policy or strategy, e.g. 'policy'"
                )
        object.__setattr__(self, "treatments", tuple(self.treatments))
        for name in self.treatments:
            if not isinstance(name, str) or not name or name in self.outcomes:
                raise ValueError(
                    f"treatments must be column names that are not outcomes, got {name!r}; "
                    f"outcomes are {list(self.outcomes)}"
                )
        share = self.max_rejected_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or math.isnan(share):
            raise ValueError(f"max_rejected_share must be a number in [0, 1), got {share!r}")
        if not 0.0 <= share < 1.0:
            raise ValueError(
                f"max_rejected_share must be in [0, 1), got {share}; it is a share of rows, e.g. 0.01 for 1%"
            )
        object.__setattr__(self, "max_rejected_share", float(share))
        self._check_missing_as_state()
        tolerance = self.future_tolerance_s
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance):
            raise ValueError(f"future_tolerance_s must be a number of seconds >= 0, got {tolerance!r}; e.g. 86400.0")
        if tolerance < 0:
            raise ValueError(
                f"future_tolerance_s must be >= 0, got {tolerance}; it is how far past the time of validation a "
                f"ts may lie, e.g. 86400.0 for one day"
            )
        object.__setattr__(self, "future_tolerance_s", float(tolerance))

    def _check_missing_as_state(self) -> None:
        if isinstance(self.missing_as_state, str):
            raise ValueError(
                f"missing_as_state must be a tuple of column names, got the string {self.missing_as_state!r}; "
                f"write missing_as_state=({self.missing_as_state!r},)"
            )
        object.__setattr__(self, "missing_as_state", tuple(self.missing_as_state))
        treatments = {self.treatment, *self.treatments}
        for name in self.missing_as_state:
            if name in treatments or name in self.outcomes:
                raise ValueError(
                    f"missing_as_state names {name!r}, a treatment or outcome; their nulls are always quarantined "
                    f"(a row needs a known arm and outcome): leave {name!r} out of missing_as_state"
                )
            if not is_feature_column(name):
                raise ValueError(
                    f"missing_as_state names {name!r}, which is not a feature column; only user_* and item_* "
                    f"columns (not user_id, item_id, item_text) may keep nulls as the state 'missing'"
                )
        if len(set(self.missing_as_state)) != len(self.missing_as_state):
            raise ValueError(f"missing_as_state {self.missing_as_state} names a column twice; list each once")

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns the log must have, in the order the gate reports them."""
        extra = (self.treatment,) if self.treatment is not None else ()
        more = tuple(t for t in self.treatments if t not in extra and t not in KEY_COLUMNS)
        return KEY_COLUMNS + self.outcomes + extra + more
