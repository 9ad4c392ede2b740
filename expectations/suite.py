"""The GX expectation suite for the canonical interaction log, built in code from a GateConfig."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.expectation import Expectation

from expectations.config import (
    EVENT_ID,
    ITEM_ID,
    ITEM_TEXT,
    KEY_COLUMNS,
    POSITION,
    PROPENSITY,
    TREATMENT_COLUMNS,
    TS,
    USER_ID,
    GateConfig,
    feature_columns,
)
from expectations.custom import (
    ExpectColumnValuesToBeNumbersBetween,
    ExpectColumnValuesToBeNumbersInSet,
    ExpectColumnValuesToBeTimestampsNotAfter,
    ExpectColumnValuesToBeUtcTimestamps,
    ExpectColumnValuesToBeWholeNumbers,
    ExpectColumnValuesToHaveNoControlCharacters,
)

SUITE_NAME = "recdo_canonical_log"
# The key under an expectation's meta that holds its rule name, e.g. "click in {0,1}".
RULE_KEY = "rule"
EVENT_ID_UNIQUE = f"{EVENT_ID} unique"
TS_PARSEABLE = f"{TS} parseable"
POSITION_NON_NEGATIVE = f"{POSITION} >= 0"
POSITION_INTEGER = f"{POSITION} is an integer"
PROPENSITY_RANGE = f"{PROPENSITY} in (0,1]"
TS_NOT_FUTURE = f"{TS} not in the future"


def exists_rule(column: str) -> str:
    return f"{column} exists"


def not_null_rule(column: str) -> str:
    return f"{column} not null"


def binary_rule(outcome: str) -> str:
    return f"{outcome} in {{0,1}}"


def control_rule(column: str) -> str:
    return f"{column} has no control characters"


def latest_ts(config: GateConfig, now: dt.datetime | None = None) -> str:
    """The latest ts the gate accepts, ISO 8601 in UTC to the microsecond: `now` (default: this moment) + tolerance."""
    moment = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if moment.tzinfo is None:
        moment = moment.tz_localize("UTC")  # naive: UTC, as the gate reads naive timestamps
    latest = moment.tz_convert("UTC") + pd.Timedelta(seconds=config.future_tolerance_s)
    return latest.floor("us").isoformat()


def text_columns(config: GateConfig, present: Collection[str]) -> tuple[str, ...]:
    """Columns whose strings may not hold control characters: ids, treatments, features (item_text apart)."""
    treatments = (config.treatment, *config.treatments, *(c for c in TREATMENT_COLUMNS if c in present))
    numeric = {POSITION, PROPENSITY, *config.outcomes}
    wanted = [USER_ID, ITEM_ID, *treatments, *feature_columns(present)]
    return tuple(dict.fromkeys(c for c in wanted if c is not None and c not in numeric))


def rule_name(expectation: Expectation) -> str:
    """The short human rule name stored in the expectation's meta by build_suite."""
    return str((expectation.meta or {})[RULE_KEY])


def build_suite(
    config: GateConfig,
    *,
    columns: Collection[str] | None = None,
    epoch_unit: str | None = None,
    latest: str | None = None,
) -> gx.ExpectationSuite:
    """Expectations for a canonical log, one rule name each (in meta["rule"]).

    `columns` are the log's columns, in order: optional columns (position, propensity, features, item_text)
    get their rules only when present. Left out, the suite holds every rule of the config's own columns
    (to document or inspect it). `epoch_unit`: the unit a numeric ts is read in (expectations.epoch).
    `latest`: the latest ts accepted (latest_ts; default: now plus the config's tolerance).
    """
    present = list(columns) if columns is not None else [POSITION, PROPENSITY]

    def rule(name: str, kind: type[Expectation], **kwargs: object) -> Expectation:
        return kind(meta={RULE_KEY: name}, **kwargs)

    required = config.required_columns
    expectations: list[Expectation] = [rule(exists_rule(c), gxe.ExpectColumnToExist, column=c) for c in required]
    expectations += [rule(not_null_rule(c), gxe.ExpectColumnValuesToNotBeNull, column=c) for c in required]
    expectations.append(rule(EVENT_ID_UNIQUE, gxe.ExpectColumnValuesToBeUnique, column=EVENT_ID))
    expectations.append(rule(TS_PARSEABLE, ExpectColumnValuesToBeUtcTimestamps, column=TS, epoch_unit=epoch_unit))
    expectations.append(
        rule(
            TS_NOT_FUTURE,
            ExpectColumnValuesToBeTimestampsNotAfter,
            column=TS,
            max_value=latest or latest_ts(config),
            epoch_unit=epoch_unit,
        )
    )
    expectations += [
        rule(binary_rule(o), ExpectColumnValuesToBeNumbersInSet, column=o, value_set=[0, 1]) for o in config.outcomes
    ]
    if POSITION in present:
        # Not null too: the clean log stores position as int64, which has no missing value.
        expectations.append(rule(not_null_rule(POSITION), gxe.ExpectColumnValuesToNotBeNull, column=POSITION))
        expectations.append(
            rule(POSITION_NON_NEGATIVE, ExpectColumnValuesToBeNumbersBetween, column=POSITION, min_value=0)
        )
        expectations.append(rule(POSITION_INTEGER, ExpectColumnValuesToBeWholeNumbers, column=POSITION))
    if PROPENSITY in present:
        # A missing logging probability would make the row unusable for IPW/DR estimates.
        expectations.append(rule(not_null_rule(PROPENSITY), gxe.ExpectColumnValuesToNotBeNull, column=PROPENSITY))
        expectations.append(
            rule(
                PROPENSITY_RANGE,
                ExpectColumnValuesToBeNumbersBetween,
                column=PROPENSITY,
                min_value=0,
                max_value=1,
                strict_min=True,
            )
        )
    # Optional features: a null would become a stratum of its own downstream, so it is quarantined unless the
    # config keeps it as the state "missing" (GateConfig.missing_as_state).
    kept = set(config.missing_as_state) | set(required) | set(KEY_COLUMNS)
    expectations += [
        rule(not_null_rule(c), gxe.ExpectColumnValuesToNotBeNull, column=c)
        for c in feature_columns(present)
        if c not in kept
    ]
    # A control character (a NUL from a C writer, a stray \x1f separator) makes a look-alike arm or id.
    expectations += [
        rule(control_rule(c), ExpectColumnValuesToHaveNoControlCharacters, column=c)
        for c in text_columns(config, present)
    ]
    if ITEM_TEXT in present:  # free text: tab, newline and carriage return are fine there
        expectations.append(
            rule(
                control_rule(ITEM_TEXT),
                ExpectColumnValuesToHaveNoControlCharacters,
                column=ITEM_TEXT,
                allow_whitespace=True,
            )
        )
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
