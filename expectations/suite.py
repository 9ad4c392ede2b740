"""The GX expectation suite for the canonical interaction log, built in code from a GateConfig."""

from __future__ import annotations

from collections.abc import Collection

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation

from expectations.config import EVENT_ID, POSITION, PROPENSITY, TS, GateConfig
from expectations.custom import (
    ExpectColumnValuesToBeNumbersBetween,
    ExpectColumnValuesToBeNumbersInSet,
    ExpectColumnValuesToBeUtcTimestamps,
    ExpectColumnValuesToBeWholeNumbers,
)

SUITE_NAME = "recdo_canonical_log"
# The key under an expectation's meta that holds its rule name, e.g. "click in {0,1}".
RULE_KEY = "rule"
EVENT_ID_UNIQUE = f"{EVENT_ID} unique"
TS_PARSEABLE = f"{TS} parseable"
POSITION_NON_NEGATIVE = f"{POSITION} >= 0"
POSITION_INTEGER = f"{POSITION} is an integer"
PROPENSITY_RANGE = f"{PROPENSITY} in (0,1]"


def exists_rule(column: str) -> str:
    return f"{column} exists"


def not_null_rule(column: str) -> str:
    return f"{column} not null"


def binary_rule(outcome: str) -> str:
    return f"{outcome} in {{0,1}}"


def rule_name(expectation: Expectation) -> str:
    """The short human rule name stored in the expectation's meta by build_suite."""
    return str((expectation.meta or {})[RULE_KEY])


def build_suite(config: GateConfig, *, columns: Collection[str] | None = None) -> gx.ExpectationSuite:
    """Expectations for a canonical log, one rule name each (in meta["rule"]).

    `columns` are the log's columns: optional columns (position, propensity) get their rules only
    when present. Left out, the suite holds every rule (to document or inspect it).
    """
    present = set(columns) if columns is not None else {POSITION, PROPENSITY}

    def rule(name: str, kind: type[Expectation], **kwargs: object) -> Expectation:
        return kind(meta={RULE_KEY: name}, **kwargs)

    required = config.required_columns
    expectations: list[Expectation] = [rule(exists_rule(c), gxe.ExpectColumnToExist, column=c) for c in required]
    expectations += [rule(not_null_rule(c), gxe.ExpectColumnValuesToNotBeNull, column=c) for c in required]
    expectations.append(rule(EVENT_ID_UNIQUE, gxe.ExpectColumnValuesToBeUnique, column=EVENT_ID))
    expectations.append(rule(TS_PARSEABLE, ExpectColumnValuesToBeUtcTimestamps, column=TS))
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
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
