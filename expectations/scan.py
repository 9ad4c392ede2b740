"""The gate over a Parquet log of any size: the rules as DuckDB SQL over its files, GX validating per-rule summaries."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import great_expectations.expectations as gxe
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from great_expectations.expectations.expectation import Expectation

from expectations.config import EVENT_ID, TS, GateConfig
from expectations.epoch import OTHER, UNITS, EpochVerdict, decide
from expectations.gate import _EXAMPLES, DatasetError, check_columns, result_notes, row_json
from expectations.parquet_log import (
    DEFAULT_MEMORY_LIMIT,
    SOURCE,
    log_files,
    row_counts,
    session,
    size_bytes,
    source_view,
)
from expectations.sql_rules import (
    FIRST_COPY,
    PARSED_TS,
    ROW_NUMBER,
    as_id,
    as_timestamp,
    epoch_ranges,
    is_epoch_kind,
    is_missing,
    literal,
    normalised,
    quote,
    unexpected,
)
from expectations.suite import TS_PARSEABLE, build_suite, latest_ts, rule_name
from expectations.summaries import RuleSummary, validate_summaries

BATCH_ROWS = 50_000  # quarantined rows turned into JSON per batch
# Event ids hashed per pass of the repeated-id search. Every pass reads every id, so the search costs
# ceil(n / _IDS_PER_PASS) scans: with 2.5M a pass it was 40 scans at 10^8 rows (the gate took 316 s there,
# 17.5x its 10^7 time). DuckDB's hash aggregate spills beyond the connection's memory cap on its own: one
# pass over 10^8 ids took 22 s at 1.97 GB peak RSS under the 2 GB cap. Passes only start beyond 10^9 ids.
_IDS_PER_PASS = 1_000_000_000
# DuckDB's order-keeping COPY buffers the row groups that threads finish ahead of their turn, up to the
# memory limit (about 900 MB for 10M rows at 2GB); this much of the limit keeps it fast and small.
_ORDERED_COPY_BYTES = 512 * 2**20
QUARANTINE_SCHEMA = pa.schema([("row_number", pa.int64()), ("rule", pa.string()), ("row_json", pa.string())])

_MAX_ROWS = 2**31 - 1  # DuckDB indexes a BITSTRING with a 32-bit integer
_DUPS, _BAD = "__recdo_dups", "__recdo_bad"
_BAD_ROWS = "__recdo_bad_rows"  # a session variable
_ID, _COPIES, _RULE = "__recdo_id", "__recdo_n", "__recdo_rule"


@dataclass(frozen=True)
class FileGateResult:
    """Where the file gate put the clean rows, the quarantined rows and GX's results, and how many of each.

    clean_path: one Parquet file, rows in input order, with the pandas gate's dtypes (event_id string,
    ts timestamp[us, UTC], outcomes and position int64, propensity float64). quarantine_path: Parquet with
    row_number (0-based position in the log, files in path order), rule (every rule broken, "; "-joined),
    row_json (the row verbatim). results_path: one row per expectation (expectations.gate.RESULTS_COLUMNS).
    """

    clean_path: str
    quarantine_path: str
    results_path: str
    n_in: int
    n_clean: int
    n_quarantined: int
    rule_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_share(self) -> float:
        return self.n_quarantined / self.n_in if self.n_in else 0.0

    @property
    def notes(self) -> tuple[str, ...]:
        """What the gate did besides judging rows, read from its results file (as GateResult.notes)."""
        return result_notes(pd.read_parquet(self.results_path, columns=["column", "observed_value"]))


def run_file_gate(
    log_path: str | Path,
    config: GateConfig,
    out_dir: str | Path,
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int | None = None,
    batch_rows: int = BATCH_ROWS,
    now: dt.datetime | None = None,
) -> FileGateResult:
    """Validate a Parquet log (one file or a folder of part files) without loading it; write the split.

    Same rules, rule names and quarantine semantics as expectations.gate.run_gate: each row-level rule of
    build_suite becomes a DuckDB condition (expectations.sql_rules); a row breaking several rules is
    quarantined once with all of them; of a repeated event_id the first copy in log order is kept.
    DuckDB stays under `memory_limit` and spills to a folder in `out_dir`; Python holds one batch of
    quarantined rows at a time. GX then validates the per-rule summaries (expectations.summaries).
    `now` is the time of validation that "ts not in the future" counts from (default: this moment).
    """
    files = log_files(log_path)
    counts = row_counts(files)
    n_in = sum(counts)
    if n_in > _MAX_ROWS:
        raise DatasetError(
            f"the log has {n_in} rows; the file gate handles at most {_MAX_ROWS} per run; run it per "
            f"partition (recdo run --partition ...) or split the log"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.parquet" for name in ("clean", "quarantine", "validation")}
    with session(out / ".gate-duckdb", memory_limit, threads) as con:
        columns, kinds = source_view(con, log_path, files, counts)
        check_columns(columns, n_in, config)
        epoch = _epoch_verdict(con, kinds[TS])
        if epoch.error:
            raise DatasetError(epoch.error)
        latest = latest_ts(config, now)
        expectations = list(build_suite(config, columns=columns, epoch_unit=epoch.unit, latest=latest).expectations)
        rules = _row_rules(expectations, kinds)
        _find_repeated_ids(con, kinds[EVENT_ID], n_in)
        n_bad = _flag_bad_rows(con, rules, kinds[EVENT_ID], as_timestamp(TS, kinds[TS], epoch.unit))
        with _atomic(paths["clean"]) as tmp:
            select = normalised(columns, kinds, config, epoch.unit)
            n_clean = _write_clean(con, select, tmp, n_in, n_bad, memory_limit)
        if n_clean + n_bad != n_in:
            raise RuntimeError(
                f"the gate lost rows: {n_in} in, {n_clean} clean + {n_bad} quarantined; this is a bug in "
                f"expectations/scan.py, please report it with the log"
            )
        with _atomic(paths["quarantine"]) as tmp:
            _write_quarantine(con, columns, tmp, batch_rows)
        summaries, rule_counts = _summaries(con, expectations, rules, kinds, n_in)
        summaries = [replace(s, note=epoch.note) if s.rule == TS_PARSEABLE else s for s in summaries]
    results = validate_summaries(expectations, columns, summaries)
    with _atomic(paths["validation"]) as tmp:
        results.to_parquet(tmp, index=False)
    return FileGateResult(
        clean_path=str(paths["clean"]),
        quarantine_path=str(paths["quarantine"]),
        results_path=str(paths["validation"]),
        n_in=n_in,
        n_clean=n_clean,
        n_quarantined=n_bad,
        rule_counts=rule_counts,
    )


@contextmanager
def _atomic(out: Path) -> Iterator[Path]:
    """A temporary path beside `out`, renamed onto it when the block succeeds."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _epoch_verdict(con: duckdb.DuckDBPyConnection, kind: str) -> EpochVerdict:
    """How a numeric ts is read, as expectations.gate.epoch_verdict decides it for a frame."""
    if not is_epoch_kind(kind):
        return EpochVerdict()
    ranges, other = epoch_ranges(TS, kind)
    counts = ", ".join(f"count(*) FILTER (WHERE {c})" for c in [*ranges, other])
    found = con.execute(f"SELECT {counts} FROM {SOURCE}").fetchone()
    examples: list[object] = []
    if found[-1] and not any(found[:-1]):  # quoted only when no number is an epoch
        sql = f"SELECT {quote(TS)} FROM {SOURCE} WHERE {other} ORDER BY {ROW_NUMBER} LIMIT 3"
        examples = [row[0] for row in con.execute(sql).fetchall()]
    return decide(dict(zip([name for name, _, _ in UNITS] + [OTHER], map(int, found))), examples)


def _row_rules(expectations: list[Expectation], kinds: dict[str, str]) -> dict[str, str]:
    """Each row-level rule's SQL condition, by rule name in suite order (a name listed twice counts once).

    The ts rules read PARSED_TS, which _flag_bad_rows computes once per row.
    """
    rules: dict[str, str] = {}
    for expectation in expectations:
        condition = unexpected(expectation, kinds, parsed_ts=True)
        if condition is not None:
            rules.setdefault(rule_name(expectation), condition)
    return rules


def _find_repeated_ids(con: duckdb.DuckDBPyConnection, id_kind: str, n_in: int) -> None:
    """Table _DUPS: each event id held by more than one row, its first row and its number of copies.

    First the 64-bit hashes held more than once, a slice of the hash space per pass (each pass's hash
    table holds at most about _IDS_PER_PASS 8-byte keys, spilled by DuckDB beyond its cap); then the ids themselves
    among the rows with such a hash: a hash collision costs a little work, never a wrong id.
    """
    ids = f"SELECT {as_id(EVENT_ID, id_kind)} AS {_ID}, {ROW_NUMBER} FROM {SOURCE}"
    passes = max(1, -(-n_in // _IDS_PER_PASS))
    con.execute(f"CREATE TEMP TABLE {_DUPS}_hashes (h UBIGINT)")
    for part in range(passes):
        con.execute(
            f"INSERT INTO {_DUPS}_hashes SELECT h FROM (SELECT hash({_ID}) AS h FROM ({ids}) WHERE {_ID} IS NOT NULL) "
            f"WHERE h % {passes} = {part} GROUP BY h HAVING count(*) > 1"
        )
    con.execute(
        f"CREATE TEMP TABLE {_DUPS} AS SELECT {_ID}, min({ROW_NUMBER}) AS {FIRST_COPY}, count(*) AS {_COPIES} "
        f"FROM ({ids}) WHERE {_ID} IS NOT NULL AND hash({_ID}) IN (SELECT h FROM {_DUPS}_hashes) "
        f"GROUP BY {_ID} HAVING count(*) > 1"
    )


def _flag(i: int) -> str:
    return f"__recdo_f{i}"


def _flag_bad_rows(con: duckdb.DuckDBPyConnection, rules: dict[str, str], id_kind: str, parsed_ts: str) -> int:
    """Table _BAD: every row breaking a rule, with a flag per rule and the "; "-joined rule names.

    `parsed_ts`: the SQL of ts as a timestamp, the column PARSED_TS the ts rules read.
    """
    flags = ", ".join(f"{condition} AS {_flag(i)}" for i, condition in enumerate(rules.values()))
    any_flag = " OR ".join(_flag(i) for i in range(len(rules))) or "FALSE"
    labels = ", ".join(f"CASE WHEN {_flag(i)} THEN {literal(rule)} END" for i, rule in enumerate(rules))
    label = f"concat_ws('; ', {labels})" if rules else "''"
    con.execute(
        f"CREATE TEMP TABLE {_BAD} AS SELECT *, {label} AS {_RULE} FROM ("
        f"SELECT *, {flags} FROM (SELECT s.*, {as_id(EVENT_ID, id_kind)} AS {_ID}, d.{FIRST_COPY}, "
        f"{parsed_ts} AS {PARSED_TS} "
        f"FROM {SOURCE} s LEFT JOIN {_DUPS} d ON {as_id(EVENT_ID, id_kind)} = d.{_ID})"
        f") WHERE {any_flag}"
    )
    return int(con.execute(f"SELECT count(*) FROM {_BAD}").fetchone()[0])


def _write_clean(
    con: duckdb.DuckDBPyConnection,
    select_list: list[str],
    out: Path,
    n_in: int,
    n_bad: int,
    memory_limit: str,
) -> int:
    """Every row not in _BAD, normalised, streamed by DuckDB into one Parquet file in log order.

    The bad rows are a bitmap over row positions (n_in bits, in DuckDB): a filter, not a join, so the
    scan keeps its order without sorting the log.
    """
    keep = "TRUE"
    if n_bad:
        con.execute(f"SET VARIABLE {_BAD_ROWS} = (SELECT bitstring_agg({ROW_NUMBER}, 0, {n_in - 1}) FROM {_BAD})")
        keep = f"get_bit(getvariable({literal(_BAD_ROWS)}), {ROW_NUMBER}::INTEGER) = 0"
    select = ", ".join(select_list)
    con.execute(f"SET memory_limit = '{min(_ORDERED_COPY_BYTES, size_bytes(memory_limit))}B'")
    try:
        written = con.execute(
            f"COPY (SELECT {select} FROM {SOURCE} WHERE {keep}) TO {literal(str(out))} (FORMAT parquet)"
        ).fetchone()
    finally:
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
    return int(written[0])


def _write_quarantine(con: duckdb.DuckDBPyConnection, columns: list[str], out: Path, batch_rows: int) -> None:
    """The rows of _BAD in log order as (row_number, rule, row_json), written one batch at a time."""
    raw = ", ".join(quote(c) for c in columns)
    reader = con.sql(f"SELECT {ROW_NUMBER}, {_RULE}, {raw} FROM {_BAD} ORDER BY {ROW_NUMBER}").to_arrow_reader(
        batch_rows
    )
    with pq.ParquetWriter(out, QUARANTINE_SCHEMA) as writer:
        for batch in reader:
            values = zip(*(batch.column(i + 2).to_pylist() for i in range(len(columns))))
            jsons = pa.array([row_json(columns, row) for row in values], type=pa.string())
            writer.write_batch(
                pa.record_batch(
                    [batch.column(0).cast(pa.int64()), batch.column(1).cast(pa.string()), jsons],
                    schema=QUARANTINE_SCHEMA,
                )
            )


def _summaries(
    con: duckdb.DuckDBPyConnection,
    expectations: list[Expectation],
    rules: dict[str, str],
    kinds: dict[str, str],
    n_in: int,
) -> tuple[list[RuleSummary], dict[str, int]]:
    """Each rule's counts and first examples, as GX reports them; the rows each rule quarantined."""
    index = {rule: i for i, rule in enumerate(rules)}
    counts = ", ".join(f"count(*) FILTER (WHERE {_flag(i)})" for i in index.values()) or "0"
    flagged = dict(zip(rules, con.execute(f"SELECT {counts} FROM {_BAD}").fetchone()))
    missing: dict[str, int] = {}
    for expectation in expectations:
        if isinstance(expectation, gxe.ExpectColumnValuesToNotBeNull):
            missing[str(expectation.column)] = int(flagged[rule_name(expectation)])

    def present(column: str) -> int:
        if column not in missing:  # no "not null" rule counted them: count here
            sql = f"SELECT count(*) FILTER (WHERE {is_missing(column, kinds[column])}) FROM {SOURCE}"
            missing[column] = int(con.execute(sql).fetchone()[0])
        return n_in - missing[column]

    summaries: dict[str, RuleSummary] = {}
    for expectation in expectations:
        rule, column = rule_name(expectation), str(expectation.column)  # type: ignore[attr-defined]
        if rule in summaries:
            continue
        if rule not in rules:
            summaries[rule] = RuleSummary(rule, column, table_level=True)
        elif isinstance(expectation, gxe.ExpectColumnValuesToNotBeNull):
            count = int(flagged[rule])
            summaries[rule] = RuleSummary(rule, column, False, count, n_in, (None,) * min(count, _EXAMPLES))
        elif isinstance(expectation, gxe.ExpectColumnValuesToBeUnique):
            copies = int(con.execute(f"SELECT coalesce(sum({_COPIES}), 0) FROM {_DUPS}").fetchone()[0])
            examples = con.execute(
                f"SELECT {_ID} FROM (SELECT {_ID}, {FIRST_COPY} AS rn FROM {_DUPS} UNION ALL "
                f"SELECT {_ID}, {ROW_NUMBER} FROM {_BAD} WHERE {_flag(index[rule])}) ORDER BY rn LIMIT {_EXAMPLES}"
            ).fetchall()
            summaries[rule] = RuleSummary(rule, column, False, copies, present(column), tuple(e[0] for e in examples))
        else:
            examples = con.execute(
                f"SELECT {quote(column)} FROM {_BAD} WHERE {_flag(index[rule])} ORDER BY {ROW_NUMBER} LIMIT {_EXAMPLES}"
            ).fetchall()
            count = int(flagged[rule])
            summaries[rule] = RuleSummary(rule, column, False, count, present(column), tuple(e[0] for e in examples))
    rule_counts = {rule: int(n) for rule, n in flagged.items() if n}
    return list(summaries.values()), rule_counts
