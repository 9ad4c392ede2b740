"""What the validation gate checks: the canonical log's column names and the gate's settings."""

from __future__ import annotations

import math
from dataclasses import dataclass

EVENT_ID = "event_id"
TS = "ts"
USER_ID = "user_id"
ITEM_ID = "item_id"
POSITION = "position"
PROPENSITY = "propensity"

# Columns every canonical log has, whatever its outcomes and treatment are called.
KEY_COLUMNS: tuple[str, ...] = (EVENT_ID, TS, USER_ID, ITEM_ID)
# Optional columns with rules of their own; the gate checks them only when the log has them.
CHECKED_OPTIONAL_COLUMNS: tuple[str, ...] = (POSITION, PROPENSITY)


@dataclass(frozen=True)
class GateConfig:
    """Which columns hold the outcomes and the treatment, and how many bad rows a run may drop."""

    outcomes: tuple[str, ...] = ("click",)
    treatment: str | None = None
    # More treatments of one run (strategy, position, reason_shown): each must be present and non-null.
    # Unlike `treatment`, these may be canonical columns with rules of their own (position).
    treatments: tuple[str, ...] = ()
    max_rejected_share: float = 0.01

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

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns the log must have, in the order the gate reports them."""
        extra = (self.treatment,) if self.treatment is not None else ()
        more = tuple(t for t in self.treatments if t not in extra and t not in KEY_COLUMNS)
        return KEY_COLUMNS + self.outcomes + extra + more
