"""GX validates the file gate's per-rule summaries and writes one result row per expectation, as the pandas gate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.expectation import Expectation

from expectations import runner
from expectations.gate import _EXAMPLES, READ_AS, RESULTS_COLUMNS, DatasetError, _exception_message, json_ready
from expectations.suite import RULE_KEY, SUITE_NAME, rule_name

_COUNT_PREFIX = "rows breaking: "


@dataclass(frozen=True)
class RuleSummary:
    """What DuckDB found for one rule over the whole log.

    `unexpected_count` follows GX: every row whose value breaks the rule (for "event_id unique", every
    copy of a repeated id, the kept first copy included). `checked` is the count the GX share is taken
    of: every row for a "not null" rule, the rows with a value for the others. `examples` are the first
    values that broke it, in row order. A rule about the table (a column exists) has no counts.
    `note`: how the column was read (a numeric ts's epoch unit), reported under READ_AS.
    """

    rule: str
    column: str
    table_level: bool
    unexpected_count: int = 0
    checked: int = 0
    examples: tuple[Any, ...] = ()
    note: str | None = None


def summary_suite(expectations: list[Expectation]) -> gx.ExpectationSuite:
    """The GX suite over the summary table: each column exists, and no row broke each row-level rule."""
    checks: list[Expectation] = []
    for expectation in expectations:
        meta = {RULE_KEY: rule_name(expectation)}
        if isinstance(expectation, gxe.ExpectColumnToExist):
            checks.append(gxe.ExpectColumnToExist(column=expectation.column, meta=meta))
        else:
            column = _COUNT_PREFIX + rule_name(expectation)
            checks.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=0, meta=meta))
    return gx.ExpectationSuite(name=f"{SUITE_NAME}_summaries", expectations=checks)


def summary_frame(columns: list[str], summaries: list[RuleSummary]) -> pd.DataFrame:
    """One row: a cell per log column (so GX can check that it exists) and each rule's count of broken rows."""
    counts = {_COUNT_PREFIX + s.rule: s.unexpected_count for s in summaries if not s.table_level}
    clash = sorted(set(counts) & set(columns))
    if clash:
        raise DatasetError(
            f"the log has column(s) {clash}, names the gate's summary table uses; rename them on the command line "
            f"with --map '{clash[0]}=renamed' (column_map={{{clash[0]!r}: 'renamed'}} in Python)"
        )
    cells: dict[str, list[Any]] = {c: [None] for c in columns}
    cells.update({name: [count] for name, count in counts.items()})
    return pd.DataFrame(cells, columns=list(cells))


def validate_summaries(
    expectations: list[Expectation], columns: list[str], summaries: list[RuleSummary]
) -> pd.DataFrame:
    """GX's verdict on each rule's summary, as the pandas gate's result rows (RESULTS_COLUMNS).

    The verdict is GX's; observed_value and unexpected_count are the whole log's, in the pandas gate's
    format: {"unexpected_percent": ..., "examples": [...]} (null for a table-level rule).
    """
    by_rule = {s.rule: s for s in summaries}
    verdicts: dict[str, bool] = {}
    for result in runner.validate(summary_frame(columns, summaries), summary_suite(expectations)):
        rule = rule_name(result.expectation_config)
        error = _exception_message(result)
        if error is not None:
            raise DatasetError(f"GX could not check the summary of rule {rule!r}: {error}")
        verdicts[rule] = bool(result.success)
    rows = []
    for expectation in expectations:
        summary = by_rule[rule_name(expectation)]
        rows.append(
            {
                "expectation": summary.rule,
                "column": summary.column,
                "success": verdicts[summary.rule],
                "observed_value": _observed(summary),
                "unexpected_count": summary.unexpected_count,
            }
        )
    frame = pd.DataFrame(rows, columns=list(RESULTS_COLUMNS))
    return frame.astype({"success": "bool", "unexpected_count": "int64"})


def _observed(summary: RuleSummary) -> str:
    if summary.table_level:
        observed: Any = None
    else:
        share = 100 * summary.unexpected_count / summary.checked if summary.checked else 0.0
        observed = {"unexpected_percent": round(share, 4), "examples": list(summary.examples)[:_EXAMPLES]}
        if summary.note:
            observed[READ_AS] = summary.note
    return json.dumps(json_ready(observed), ensure_ascii=False, allow_nan=False)
