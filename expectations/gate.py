"""The validation gate: runs the GX suite on a log and splits it into clean and quarantined rows."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import pandas as pd
from great_expectations.core import ExpectationValidationResult

from expectations import runner
from expectations.config import EVENT_ID, POSITION, PROPENSITY, TS, GateConfig, feature_columns, is_feature_column
from expectations.custom import as_numbers, parse_timestamps
from expectations.epoch import EpochVerdict, count_units, decide, epoch_numbers, is_epoch_dtype
from expectations.suite import EVENT_ID_UNIQUE, TS_PARSEABLE, build_suite, latest_ts, rule_name

QUARANTINE_COLUMNS: tuple[str, ...] = ("row_number", "rule", "row_json")
RESULTS_COLUMNS: tuple[str, ...] = ("expectation", "column", "success", "observed_value", "unexpected_count")
_EXAMPLES = 5  # unexpected values quoted in a result's observed_value
READ_AS = "read_as"  # the key of observed_value saying how a numeric ts was read (an epoch unit)


class DatasetError(ValueError):
    """The log as a whole cannot be validated (a required column is missing, no rows, ...)."""


class GateFailed(RuntimeError):
    """More rows were rejected than the run allows (GateConfig.max_rejected_share)."""


@dataclass(frozen=True, eq=False)  # eq=False: DataFrames have no single truth value to compare by
class GateResult:
    """The log split by the gate, plus GX's result for each expectation.

    `clean` holds the rows that passed every row-level rule, index reset, with normalised dtypes
    (event_id str, ts datetime64[us, UTC], outcomes and position int64, propensity float64).
    `quarantine` holds every other input row once: row_number (0-based position in the input),
    rule (every rule it broke, joined by "; "), row_json (the input row verbatim).
    `results` holds one row per expectation with GX's own unexpected_count; for "event_id unique"
    that counts every copy of a repeated id, while rule_counts counts the copies quarantined.
    `rule_counts` maps each rule that rejected rows to the number of rows it rejected.
    """

    clean: pd.DataFrame
    quarantine: pd.DataFrame
    results: pd.DataFrame
    n_in: int
    n_clean: int
    n_quarantined: int
    rule_counts: dict[str, int]

    @property
    def rejected_share(self) -> float:
        return self.n_quarantined / self.n_in if self.n_in else 0.0

    @property
    def notes(self) -> tuple[str, ...]:
        """What the gate did besides judging rows (e.g. "ts: epoch milliseconds (by magnitude), read as UTC times")."""
        return result_notes(self.results)


def result_notes(results: pd.DataFrame) -> tuple[str, ...]:
    """The notes in a gate's result rows: how a numeric ts was read."""
    notes = []
    for column, observed in zip(results["column"], results["observed_value"]):
        found = json.loads(observed) if isinstance(observed, str) else None
        if isinstance(found, dict) and found.get(READ_AS):
            notes.append(f"{column}: {found[READ_AS]}")
    return tuple(dict.fromkeys(notes))


class GateCounts(Protocol):
    """What enforce reads of a gate's outcome: GateResult here, FileGateResult of the file gate."""

    n_in: int
    n_clean: int
    rule_counts: dict[str, int]

    @property
    def rejected_share(self) -> float: ...


def check_dataset(df: pd.DataFrame, config: GateConfig) -> None:
    """Raise DatasetError for failures of the whole log, before any row is looked at."""
    if not isinstance(df, pd.DataFrame):
        raise DatasetError(f"the gate validates a pandas DataFrame, got {type(df).__name__}")
    check_columns(list(df.columns), len(df), config)


def check_columns(columns: list[Any], n_rows: int, config: GateConfig) -> None:
    """Raise DatasetError when a log of `n_rows` rows with these columns cannot be validated at all."""
    if n_rows == 0:
        raise DatasetError(
            f"the log has 0 rows (columns: {list(columns)}); check the source path and the partition "
            f"or date filter that produced it"
        )
    repeated = sorted({str(c) for c in pd.Index(columns)[pd.Index(columns).duplicated()]})
    if repeated:
        raise DatasetError(
            f"the log has more than one column named {repeated[0]!r}; give each column its own name in the file "
            f"(rename one {repeated[0]!r} at the source), or map only one file column onto {repeated[0]!r} "
            f"(--map FILE_COL={repeated[0]})"
        )
    missing = [c for c in config.required_columns if c not in columns]
    if missing:
        raise DatasetError(
            f"the log lacks required column(s) {missing}; found columns {list(columns)}{_delimiter_hint(columns)}; "
            f"map your column onto the canonical name on the command line with --map FILE_COL={missing[0]} "
            f"(column_map={{'FILE_COL': {missing[0]!r}}} in Python; outcome and treatment columns can instead "
            f"be named with --outcome/--treatment)"
        )
    absent = [c for c in config.missing_as_state if c not in columns]
    if absent:
        raise DatasetError(
            f"missing_as_state names {absent}, which the log does not have; its feature columns are "
            f"{list(feature_columns(columns))}; name only columns of this log"
        )


def _delimiter_hint(columns: list[Any]) -> str:
    """A note when the log's one column is a whole delimited header (a CSV read with the wrong delimiter)."""
    if len(columns) != 1:
        return ""
    name = str(columns[0])
    for delimiter, called in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if delimiter in name:
            return (
                f" (one column whose name holds {delimiter!r}: the file is {called}-delimited; read it with "
                f"{delimiter!r} as the delimiter: recdo's CSV reader detects it)"
            )
    return ""


def epoch_verdict(ts: pd.Series) -> EpochVerdict:
    """How a numeric ts column is read (expectations.epoch); a column of other values is no epoch."""
    if not is_epoch_dtype(ts.dtype):
        return EpochVerdict()
    return decide(*count_units(epoch_numbers(ts)))


def run_gate(df: pd.DataFrame, config: GateConfig, *, now: dt.datetime | None = None) -> GateResult:
    """Validate `df` with the GX suite and split it into clean and quarantined rows.

    `now` is the time of validation that "ts not in the future" counts from (default: this moment).
    """
    check_dataset(df, config)
    frame = df.reset_index(drop=True)  # GX reports index labels; with a RangeIndex they are row numbers
    # Judge uniqueness on the ids as they will be stored (strings), so 7 and "7" count as one id.
    frame[EVENT_ID] = _ids_as_str(frame[EVENT_ID])
    epoch = epoch_verdict(frame[TS])
    if epoch.error:
        raise DatasetError(epoch.error)
    suite = build_suite(config, columns=list(frame.columns), epoch_unit=epoch.unit, latest=latest_ts(config, now))
    by_rule = {rule_name(r.expectation_config): r for r in runner.validate(frame, suite)}
    rules = [rule_name(e) for e in suite.expectations]  # suite order, the order rules are reported in

    n = len(frame)
    broken: dict[str, np.ndarray] = {}
    for rule in rules:
        result = by_rule[rule]
        error = _exception_message(result)
        if error is not None:
            raise DatasetError(f"rule {rule!r} could not be evaluated on this log: {error}")
        if "unexpected_index_list" not in result.result:
            if not result.success:  # a table-level rule; check_dataset should have caught it
                raise DatasetError(f"rule {rule!r} failed for the whole log: {_observed(result)}")
            continue
        mask = np.zeros(n, dtype=bool)
        mask[np.asarray(result.result["unexpected_index_list"], dtype=np.int64)] = True
        if rule == EVENT_ID_UNIQUE:
            # GX flags every copy of a repeated id. The first copy is kept: at-least-once pipelines
            # re-deliver events, so the first copy is the impression itself and the later ones are
            # echoes; quarantining every copy would drop real impressions. Keeping the first (not the
            # "best") copy makes the choice depend on input order only, so reruns agree.
            mask &= frame[EVENT_ID].duplicated(keep="first").to_numpy()
        if mask.any():
            broken[rule] = mask

    bad = np.zeros(n, dtype=bool)
    labels = np.full(n, "", dtype=object)
    for rule, mask in broken.items():
        labels[mask] = np.where(bad[mask], labels[mask] + "; " + rule, rule)
        bad |= mask
    bad_rows, good_rows = np.flatnonzero(bad), np.flatnonzero(~bad)

    quarantine = pd.DataFrame(
        {
            "row_number": pd.Series(bad_rows, dtype="int64"),
            "rule": pd.Series(labels[bad_rows], dtype="str"),
            "row_json": pd.Series(_rows_as_json(df.iloc[bad_rows]), dtype="str"),
        },
        columns=list(QUARANTINE_COLUMNS),
    )
    clean = _normalise(df.iloc[good_rows].reset_index(drop=True), frame[EVENT_ID].iloc[good_rows], config, epoch.unit)
    rows = [_result_row(rule, by_rule[rule], epoch.note if rule == TS_PARSEABLE else None) for rule in rules]
    results = pd.DataFrame(rows, columns=list(RESULTS_COLUMNS))
    results = results.astype({"success": "bool", "unexpected_count": "int64"})
    return GateResult(
        clean=clean,
        quarantine=quarantine,
        results=results,
        n_in=n,
        n_clean=len(clean),
        n_quarantined=len(quarantine),
        rule_counts={rule: int(mask.sum()) for rule, mask in broken.items()},
    )


def enforce(result: GateCounts, config: GateConfig, *, run_id: str | None = None) -> None:
    """Raise GateFailed when the gate rejected a larger share of rows than config allows.

    Call it after the quarantine rows are stored, so the rows that stop the run can be inspected.
    """
    share, limit = result.rejected_share, config.max_rejected_share
    if share <= limit:
        return
    shown, shown_limit = _percentages(share, limit)
    counts = "; ".join(f"{rule}: {count} row{'s' if count != 1 else ''}" for rule, count in result.rule_counts.items())
    where = f"'{run_id}'" if run_id else "<run_id>"
    features = [rule[: -len(" not null")] for rule in result.rule_counts if rule.endswith(" not null")]
    features = [c for c in features if is_feature_column(c)]
    keep = " ".join(f"--missing-as-state {c}" for c in features)
    hint = f" Nulls of optional features can instead be kept as the state 'missing': {keep}." if features else ""
    raise GateFailed(
        f"{shown} of {result.n_in} rows were rejected (threshold {shown_limit}): {counts}. "
        f"Inspect them with SELECT * FROM quarantine WHERE run_id = {where}; fix them at the source, "
        f"or raise --max-rejected-share (max_rejected_share) to continue on the {result.n_clean} clean rows.{hint}"
    )


def _ids_as_str(ids: pd.Series) -> pd.Series:
    """Ids as strings, missing ids left missing (so "event_id not null" still sees them)."""
    if isinstance(ids.dtype, pd.StringDtype):
        return ids
    return ids.astype("str").where(ids.notna())  # pandas 2 would turn a missing id into "nan"


def _normalise(clean: pd.DataFrame, event_ids: pd.Series, config: GateConfig, epoch_unit: str | None) -> pd.DataFrame:
    """Give the clean rows the dtypes later stages rely on; the gate's rules guarantee each cast."""
    clean[EVENT_ID] = event_ids.reset_index(drop=True)
    clean[TS] = parse_timestamps(clean[TS], epoch_unit)
    for outcome in config.outcomes:
        clean[outcome] = as_numbers(clean[outcome]).astype("int64")
    if POSITION in clean.columns:
        clean[POSITION] = as_numbers(clean[POSITION]).astype("int64")
    if PROPENSITY in clean.columns:
        clean[PROPENSITY] = as_numbers(clean[PROPENSITY])
    return clean


def _rows_as_json(rows: pd.DataFrame) -> list[str]:
    """Each row as a JSON object of its values as they came in (missing values become null)."""
    names = [str(c) for c in rows.columns]
    return [row_json(names, values) for values in rows.itertuples(index=False, name=None)]


def row_json(names: list[str], values: Iterable[Any]) -> str:
    """One row as a JSON object of its values as they came in (missing values become null)."""
    return json.dumps(dict(zip(names, map(json_ready, values))), ensure_ascii=False, allow_nan=False)


def json_ready(value: Any) -> Any:
    """A JSON-ready copy of one cell: numbers stay numbers, times become ISO 8601 strings."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return float(value) if math.isfinite(value) else str(float(value))  # JSON has no inf
    if isinstance(value, str):
        return value
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
        return None if value is pd.NaT else value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (pd.Timedelta, dt.timedelta)):
        return str(value)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [json_ready(v) for v in value]
    return str(value)


def _exception_message(result: ExpectationValidationResult) -> str | None:
    """The message of an exception GX caught while evaluating an expectation, if there was one."""
    info = result.exception_info or {}
    # GX 1.x nests exception info under metric ids when a metric raised, and keeps it flat otherwise.
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message") or "unknown error")
    return None


def _observed(result: ExpectationValidationResult, note: str | None = None) -> str:
    """What GX saw, as a short JSON string: its observed value, or the share and examples of bad values.

    `note`: how the column was read (an epoch unit), under READ_AS.
    """
    found = result.result
    if "observed_value" in found:
        observed: Any = found["observed_value"]
    elif "unexpected_percent" in found:
        observed = {
            "unexpected_percent": round(float(found.get("unexpected_percent") or 0.0), 4),
            "examples": list(found.get("partial_unexpected_list") or [])[:_EXAMPLES],
        }
        if note:
            observed[READ_AS] = note
    else:
        observed = None
    return json.dumps(json_ready(observed), ensure_ascii=False, allow_nan=False)


def _result_row(rule: str, result: ExpectationValidationResult, note: str | None = None) -> dict[str, Any]:
    column = result.expectation_config.kwargs.get("column")
    return {
        "expectation": rule,
        "column": None if column is None else str(column),
        "success": bool(result.success),
        "observed_value": _observed(result, note),
        "unexpected_count": int(result.result.get("unexpected_count") or 0),
    }


def _percentages(share: float, limit: float) -> tuple[str, str]:
    """Both shares as percentages, with enough decimals that they do not print the same."""
    for digits in (1, 2, 3, 4):
        shown, shown_limit = f"{share:.{digits}%}", f"{limit:.{digits}%}"
        if shown != shown_limit:
            break
    return shown, shown_limit
