"""The arm rule: an estimate involving a treatment value needs enough positive and negative outcomes in its rows.

`check_arms` takes {value: (rows, positives)}, which one DuckDB GROUP BY gives without reading the log, so a
pre-flight can call it before any training; the effect estimators call it on the counts they already hold.
It refuses a treatment that cannot be compared at all (`TreatmentArmsError`) and otherwise says, per thin arm,
the sentence every row involving that arm stores instead of a number.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from causal.config import CausalConfig
from common.errors import InputError

MIN_ARM_ROWS = 2  # a variance (ddof=1) needs two rows, whatever min_arm_events says
SHOWN_VALUES = 10  # values an error message lists before "…"


class TreatmentArmsError(InputError):
    """The treatment cannot be compared at all: a single value in the data, or the baseline absent from it."""


@dataclass(frozen=True)
class Arm:
    """The rows served one treatment value (or one value within one segment) and how many had outcome 1."""

    value: str
    rows: int
    positives: int

    @property
    def negatives(self) -> int:
        return self.rows - self.positives


@dataclass(frozen=True, eq=False)
class ArmCheck:
    """Every arm of one (treatment, outcome), the baseline, and why each arm that fails the rule has no number."""

    treatment: str
    outcome: str
    baseline: str
    min_events: int
    arms: tuple[Arm, ...]  # every value, sorted as text
    thin: dict[str, str]  # value -> the sentence stored on each row involving it

    @property
    def passing(self) -> tuple[str, ...]:
        """The values whose arms pass the rule."""
        return tuple(a.value for a in self.arms if a.value not in self.thin)

    def why(self, *values: str) -> str | None:
        """The sentences of the thin arms among `values`, each once; None when all of them pass."""
        reasons = [self.thin[v] for v in dict.fromkeys(values) if v in self.thin]
        return " ".join(reasons) if reasons else None


def shortfall(label: str, rows: int, positives: int, outcome: str, min_events: int, fix: str) -> str | None:
    """The sentence for an arm that fails the rule (`label` names it, `fix` says what to log), or None.

    Below min_events positives (or negatives) a bootstrap interval is the network's prior or collapses to a
    point (0 clicks: [0, 0]), and the Wald interval's normal approximation does not hold.
    """
    negatives = rows - positives
    short = [kind for kind, n in (("positives", positives), ("negatives", negatives)) if n < min_events]
    if not short and rows >= MIN_ARM_ROWS:
        return None
    counts = f"{rows:,} row{'' if rows == 1 else 's'} ({positives:,} with {outcome}=1, {negatives:,} with {outcome}=0)"
    if short:
        rule = f"fewer than {' and '.join(f'{min_events} {kind}' for kind in short)} (min_arm_events={min_events})"
        remedy = f"log more rows of {fix}, or lower min_arm_events"
    else:
        rule = f"fewer than {MIN_ARM_ROWS} rows (a variance needs {MIN_ARM_ROWS})"
        remedy = f"log more rows of {fix}"
    return (
        f"{label} has {counts}: {rule}, so no estimate: its interval would come from the prior or collapse to a "
        f"point, not from the data; {remedy}."
    )


def thin_arms(
    arms: tuple[Arm, ...], treatment: str, outcome: str, baseline: str, min_events: int, within: str | None = None
) -> dict[str, str]:
    """{value: sentence} for every arm below the rule; `within` ("segment=state") names a CATE segment's arms."""
    thin = {}
    for arm in arms:
        name = f"{treatment}={arm.value}" + (f" within {within}" if within else "")
        label = f"the baseline {name}" if arm.value == baseline else name
        fix = name + (" (or pass another baseline)" if arm.value == baseline and not within else "")
        reason = shortfall(label, arm.rows, arm.positives, outcome, min_events, fix)
        if reason:
            thin[arm.value] = reason
    return thin


def check_arms(counts: Mapping[str, tuple[int, int]], config: CausalConfig) -> ArmCheck:
    """The arms of config's (treatment, outcome) from {value: (rows, positives)}, checked against the arm rule.

    Raises TreatmentArmsError (one line: the treatment, its values, the fix) when fewer than two values have
    rows or the configured baseline has none. A thin arm is no error: it is named in `thin`. With no
    baseline configured, the baseline is the first value (sorted as text) that passes the rule, else the first.
    """
    t = config.treatment
    arms = []
    for value, (rows, positives) in sorted((str(v), c) for v, c in counts.items()):
        whole = all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in (rows, positives))
        if not (whole and 0 <= positives <= rows):
            raise ValueError(
                f"arm {t}={value} counts must be whole numbers with 0 <= positives <= rows; "
                f"got rows={rows!r}, positives={positives!r}; count the log's rows again"
            )
        arms.append(Arm(value, int(rows), int(positives)))
    present = [a for a in arms if a.rows > 0]
    listed = ", ".join(f"{a.value!r} ({a.rows:,} rows)" for a in present[:SHOWN_VALUES])
    shown = listed + (" …" if len(present) > SHOWN_VALUES else "")
    if len(present) < 2:
        raise TreatmentArmsError(
            f"treatment {t!r} takes only the value(s) [{shown or 'no rows'}] in this log: there is nothing to compare; "
            f"pass a treatment column that holds at least two values, or a log in which {t!r} varies"
        )
    if config.baseline is None:
        rule_free = thin_arms(tuple(present), t, config.outcome, "", config.min_arm_events)
        baseline = next((a.value for a in present if a.value not in rule_free), present[0].value)
    else:
        baseline = config.baseline
    if baseline not in {a.value for a in present}:
        raise TreatmentArmsError(
            f"baseline {baseline!r} is not a value of {t!r} in this log; its values: {shown}; "
            f"pass one of them as the baseline (--baseline {t}=VALUE; 'none': the first value that passes the arm rule)"
        )
    arms_t = tuple(arms)
    return ArmCheck(
        treatment=t,
        outcome=config.outcome,
        baseline=baseline,
        min_events=config.min_arm_events,
        arms=arms_t,
        thin=thin_arms(arms_t, t, config.outcome, baseline, config.min_arm_events),
    )
