"""The file gate (DuckDB over Parquet part files) splits a log as the pandas gate does, in bounded memory."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expectations import (
    DatasetError,
    GateConfig,
    GateResult,
    build_suite,
    log_files,
    run_file_gate,
    run_gate,
    sql_rules,
)
from expectations.custom import as_numbers, parse_timestamps
from expectations.scan import FileGateResult
from expectations.suite import rule_name
from tests.expectations.synthetic_log import CONFIG, KINDS, bad_kind, write_log
from tests.expectations.test_expectations import BROKEN, POLICY, make_log

REPO = Path(__file__).resolve().parents[2]


def _assert_same_split(got: FileGateResult, want: GateResult, *, exact: bool = True) -> None:
    """The file gate's outputs equal the pandas gate's frames: quarantine, clean rows, results, counts.

    Not `exact`: an integer column with a missing value is float64 in pandas, so there the pandas gate
    writes 422.0 into row_json and keeps the column float64 in the clean rows; the file gate keeps the
    file's 422 and int64. The values are compared, not their types.
    """
    assert (got.n_in, got.n_clean, got.n_quarantined) == (want.n_in, want.n_clean, want.n_quarantined)
    assert got.n_in == got.n_clean + got.n_quarantined
    assert got.rule_counts == want.rule_counts
    quarantine = pd.read_parquet(got.quarantine_path)
    if exact:
        pd.testing.assert_frame_equal(quarantine, want.quarantine)
    else:
        pd.testing.assert_frame_equal(quarantine.drop(columns="row_json"), want.quarantine.drop(columns="row_json"))
        assert [json.loads(r) for r in quarantine["row_json"]] == [json.loads(r) for r in want.quarantine["row_json"]]
    pd.testing.assert_frame_equal(pd.read_parquet(got.clean_path), want.clean, check_dtype=exact)
    results = pd.read_parquet(got.results_path)
    if not exact:  # examples of broken values: 2 from the file, 2.0 from pandas
        results["observed_value"] = results["observed_value"].map(json.loads)
        want = dataclasses.replace(
            want, results=want.results.assign(observed_value=want.results.observed_value.map(json.loads))
        )
    pd.testing.assert_frame_equal(results, want.results)


def _pandas_gate(files: list[Path], config: GateConfig) -> GateResult:
    """Today's gate on the log read whole: the part files concatenated in path order."""
    return run_gate(pd.concat([pd.read_parquet(f) for f in files], ignore_index=True), config)


def _write(log: pd.DataFrame, path: Path) -> Path:
    """The log as Parquet; a column mixing numbers and text (pandas allows it, Parquet not) is written as text."""
    try:
        log.to_parquet(path, index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        for column in [c for c in log.columns if log[c].dtype == object]:
            log[column] = log[column].map(lambda v: None if pd.isna(v) else str(v))
        log.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def part_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """60,000 rows in 4 part files; 60 bad rows, every kind of synthetic_log.KINDS at least twice, in every file."""
    return write_log(tmp_path_factory.mktemp("log") / "log", n_rows=60_000, n_files=4, batch_rows=7_000)


@pytest.mark.slow
def test_multi_file_log_is_split_as_the_pandas_gate_splits_it(part_files: list[Path], tmp_path: Path) -> None:
    folder = part_files[0].parent
    (folder / "_SUCCESS").touch()  # markers and writers' temporary files are not part of the log
    (folder / ".part-00009.parquet").write_bytes(b"half written")
    got = run_file_gate(folder, CONFIG, tmp_path)
    _assert_same_split(got, _pandas_gate(part_files, CONFIG), exact=False)

    quarantine = pd.read_parquet(got.quarantine_path)
    expected = {row: kind[1] for row in range(got.n_in) if (kind := bad_kind(row)) and kind[1]}
    assert dict(zip(quarantine["row_number"], quarantine["rule"])) == expected
    assert got.n_in == 60_000 and got.n_quarantined == len(expected) == 56
    row_rules = {rule_name(e) for e in build_suite(CONFIG).expectations if not rule_name(e).endswith(" exists")}
    row_rules -= {"item_id has no control characters"}  # an integer column here: it holds no characters
    row_rules |= {"user_segment not null", "user_score not null"}  # optional features: a null and a NaN
    assert set(got.rule_counts) == row_rules  # every rule of the config's columns broken at least once
    assert set(quarantine["row_number"] // 15_000) == {0, 1, 2, 3}  # in every file
    first = json.loads(quarantine.loc[quarantine["rule"] == "event_id unique", "row_json"].iloc[-1])
    assert first["event_id"] == "e0000025499"  # a copy of a row of the file before: the later copy goes


@pytest.mark.slow
def test_one_file_and_its_part_files_give_the_same_split(part_files: list[Path], tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.concat_tables([pq.read_table(f) for f in part_files]), whole)
    one = run_file_gate(whole, CONFIG, tmp_path / "one")
    parts = run_file_gate(part_files[0].parent, CONFIG, tmp_path / "parts")
    for name in ("clean_path", "quarantine_path", "results_path"):
        pd.testing.assert_frame_equal(pd.read_parquet(getattr(one, name)), pd.read_parquet(getattr(parts, name)))
    assert log_files(whole) == [whole]


def test_key_value_folders_add_their_column_as_pandas_does(tmp_path: Path) -> None:
    log = make_log(20).drop(columns="partition")
    log.loc[[3, 14], "click"] = 5
    for day, rows in (("2024-03-01", log.iloc[:10]), ("2024-03-02", log.iloc[10:])):
        (tmp_path / "log" / f"partition={day}").mkdir(parents=True)
        rows.to_parquet(tmp_path / "log" / f"partition={day}" / "part-0.parquet", index=False)
    got = run_file_gate(tmp_path / "log", POLICY, tmp_path / "out")
    want = run_gate(pd.read_parquet(tmp_path / "log"), POLICY)  # partition: categorical in pandas, text here
    pd.testing.assert_frame_equal(pd.read_parquet(got.quarantine_path), want.quarantine)
    want_clean = want.clean.assign(partition=want.clean["partition"].astype(str))
    pd.testing.assert_frame_equal(pd.read_parquet(got.clean_path), want_clean, check_dtype=False)
    assert json.loads(pd.read_parquet(got.quarantine_path)["row_json"][1])["partition"] == "2024-03-02"


@pytest.mark.slow
@pytest.mark.parametrize(("mutate", "rows", "rule"), BROKEN)
def test_each_broken_row_is_judged_as_the_pandas_gate_judges_it(
    mutate: Callable[[pd.DataFrame], None], rows: list[int], rule: str, tmp_path: Path
) -> None:
    log = make_log(10)
    mutate(log)
    path = _write(log, tmp_path / "log.parquet")
    got = run_file_gate(path, POLICY, tmp_path / "out")
    _assert_same_split(got, run_gate(pd.read_parquet(path), POLICY))
    assert pd.read_parquet(got.quarantine_path)["row_number"].tolist() == rows


def test_text_columns_are_read_as_the_pandas_gate_reads_them(tmp_path: Path) -> None:
    log = make_log(12)
    log["click"] = ["1", "0", "yes", " 1", "1_000", "nan", "1.0", "", "0", "+1", "1e0", "2"]
    log["position"] = ["0", "n/a", "2.0", "-1", "1.5", " 3", "inf", "1e999", "-0", "7", "0x1", "4"]
    log["ts"] = [
        "2024-01-01T00:00:00Z",
        "2024-01",  # pandas reads these three
        " 2024-01-01",
        "2024-01-01T00:00:00+0200",
        "2024-01-01T00:00:00 UTC",  # and refuses these, though DuckDB's cast reads them
        "2024-01-01T24:00:00",
        "99999-01-01",
        "20240101",
        "2024-02-30",
        "2024-01-01 10:00:00.123456789",
        "2024-01-01T10:00:00-00:30",
        "2024-01-01 10:00",
    ]
    path = _write(log, tmp_path / "log.parquet")
    got = run_file_gate(path, POLICY, tmp_path / "out")
    _assert_same_split(got, run_gate(pd.read_parquet(path), POLICY))
    assert got.n_quarantined > 6


def test_strings_duckdb_casts_itself_are_read_as_pandas_reads_them() -> None:
    """The fast path of expectations.sql_rules: every string its patterns let DuckDB cast agrees with pandas."""
    dates = ["2024-01-01", "2024-02-29", "2023-02-29", "2024-13-01", "2024-04-31", "0001-01-01", "9999-12-31"]
    times = ["", "T00:00", " 23:59:59", "T12:30:00.5", "T12:30:00.123456", "T24:00:00", "T10:60"]
    offsets = ["", "Z", "+02:00", "-11:30", "+23:59"]
    stamps = [d + t + (o if t else "") for d, t, o in itertools.product(dates, times, offsets)]
    stamps = [x for x in stamps if re.fullmatch(sql_rules._TS_PATTERN, x)]
    numbers = ["1", "-0", "+1", ".5", "1.", "1e3", "1E-5", "007", "1.5e+10", "1" * 30, "0.1", "1e99", "-2.5e-07"]
    assert len(stamps) > 150 and all(re.fullmatch(sql_rules._NUMBER_PATTERN, x) for x in numbers)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        cast = con.execute(
            "SELECT epoch_us(TRY_CAST(s AS TIMESTAMPTZ)) FROM unnest(?) WITH ORDINALITY t(s, i) ORDER BY i", [stamps]
        ).fetchall()
        numbers_cast = con.execute(
            "SELECT TRY_CAST(s AS DOUBLE) FROM unnest(?) WITH ORDINALITY t(s, i) ORDER BY i", [numbers]
        ).fetchall()
    parsed = parse_timestamps(pd.Series(stamps, dtype=object))
    want = [None if pd.isna(v) else int(v.asm8.view("i8")) for v in parsed]
    assert [c[0] for c in cast] == want
    assert [c[0] for c in numbers_cast] == as_numbers(pd.Series(numbers, dtype=object)).tolist()


@pytest.mark.slow  # both gates on several logs: the full suite runs it
@pytest.mark.parametrize(
    "ts",
    [
        pd.Series(pd.date_range("2024-03-01", periods=6, freq="h", tz="Europe/Paris")),
        pd.Series(pd.date_range("2024-03-01", periods=6, freq="h")),  # naive: taken as UTC
        pd.Series(pd.date_range("2024-03-01", periods=6, freq="D").date),
        pd.Series([1.7e9] * 6),  # epoch seconds, told by magnitude
    ],
    ids=["tz-aware", "naive", "date", "epoch"],
)
def test_typed_ts_columns_are_judged_as_the_pandas_gate_judges_them(ts: pd.Series, tmp_path: Path) -> None:
    log = make_log(6)
    log["ts"] = ts
    log.loc[2, "click"] = 3  # quarantined: its ts goes into row_json as it came
    path = _write(log, tmp_path / "log.parquet")
    got = run_file_gate(path, POLICY, tmp_path / "out")
    want = run_gate(pd.read_parquet(path), POLICY)
    pd.testing.assert_frame_equal(pd.read_parquet(got.clean_path), want.clean)
    pd.testing.assert_frame_equal(pd.read_parquet(got.results_path), want.results)
    quarantine = pd.read_parquet(got.quarantine_path)
    assert quarantine[["row_number", "rule"]].equals(want.quarantine[["row_number", "rule"]])
    for mine, theirs in zip(quarantine["row_json"], want.quarantine["row_json"]):
        mine, theirs = json.loads(mine), json.loads(theirs)
        if isinstance(mine["ts"], str) and "T" in mine["ts"]:  # the same instant; DuckDB writes it in UTC
            assert pd.Timestamp(mine.pop("ts")) == pd.Timestamp(theirs.pop("ts"))
        assert mine == theirs


def test_nan_and_null_are_both_missing_and_an_int_id_is_its_string(tmp_path: Path) -> None:
    table = pa.table(
        {
            "event_id": pa.array([1, 2, 2, None, 5], pa.int64()),
            "ts": ["2024-01-01T00:00:00Z"] * 5,
            "user_id": ["u1", "u2", "u3", "u4", "u5"],
            "item_id": pa.array([1, None, 3, 4, 5], pa.int64()),
            "click": pa.array([1, 0, 1, 0, 1], pa.int8()),
            "propensity": pa.array([0.5, float("nan"), 0.5, 0.5, None], pa.float64(), from_pandas=False),
        }
    )
    pq.write_table(table, tmp_path / "log.parquet")
    got = run_file_gate(tmp_path / "log.parquet", GateConfig(), tmp_path / "out")
    quarantine = pd.read_parquet(got.quarantine_path)
    assert quarantine["rule"].tolist() == [
        "item_id not null; propensity not null",
        "event_id unique",
        "event_id not null",
        "propensity not null",
    ]
    assert json.loads(quarantine["row_json"][0]) == {
        "event_id": 2,
        "ts": "2024-01-01T00:00:00Z",
        "user_id": "u2",
        "item_id": None,
        "click": 0,
        "propensity": None,
    }
    clean = pd.read_parquet(got.clean_path)
    assert clean["event_id"].tolist() == ["1"] and clean["click"].dtype == np.int64


def test_whole_log_failures_are_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no log at"):
        run_file_gate(tmp_path / "absent", POLICY, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"holds no Parquet part files"):
        run_file_gate(tmp_path / "empty", POLICY, tmp_path / "out")
    with pytest.raises(DatasetError, match=r"lacks required column\(s\) \['policy'\].*column_map"):
        run_file_gate(_write(make_log(5).drop(columns=["policy"]), tmp_path / "a.parquet"), POLICY, tmp_path / "o")
    with pytest.raises(DatasetError, match="0 rows"):
        run_file_gate(_write(make_log(5).iloc[:0], tmp_path / "b.parquet"), POLICY, tmp_path / "o")
    with pytest.raises(DatasetError, match=r"\['file_index'\], names the file gate keeps"):
        run_file_gate(_write(make_log(5).assign(file_index=1), tmp_path / "c.parquet"), POLICY, tmp_path / "o")
    with pytest.raises(ValueError, match=r"(?s)memory_limit 'lots' .* write e.g. '2GB'"):
        run_file_gate(_write(make_log(5), tmp_path / "d.parquet"), POLICY, tmp_path / "o", memory_limit="lots")


def test_validate_log_returns_the_same_gate_ref(part_files: list[Path], tmp_path: Path) -> None:
    from tasks.refs import GateRef
    from tasks.validate import validate_log

    strict = GateConfig(treatment="strategy", max_rejected_share=0.0)
    ref = validate_log.fn(str(part_files[0].parent), strict, str(tmp_path), "r-1")
    assert [f.name for f in dataclasses.fields(GateRef)] == [
        "clean_path",
        "quarantine_path",
        "results_path",
        "n_in",
        "n_clean",
        "n_quarantined",
        "rule_counts",
        "failure",
        "notes",
    ]
    assert ref.notes == ()  # the synthetic log's ts are text, not epoch numbers
    assert ref.clean_path == str(tmp_path / "clean.parquet") and Path(ref.results_path).is_file()
    assert (ref.n_in, ref.n_clean + ref.n_quarantined) == (60_000, 60_000)
    assert ref.failure is not None and "WHERE run_id = 'r-1'" in ref.failure


_MEASURE = """
import json, sys
from expectations import run_file_gate, runner
from tests.expectations.synthetic_log import CONFIG
runner.context()  # GX's import and context are the baseline, not the gate's cost

def kib(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key))

base = kib("VmRSS:")
try:
    open("/proc/self/clear_refs", "w").write("5")  # peak RSS from here on
except OSError:
    pass
result = run_file_gate(sys.argv[1], CONFIG, sys.argv[2], threads=2)
counts = [result.n_in, result.n_clean, result.n_quarantined]
print(json.dumps({"growth_mb": (kib("VmHWM:") - base) / 1024, "counts": counts}))
"""


@pytest.mark.slow
@pytest.mark.integration
def test_two_million_rows_are_gated_in_bounded_memory(tmp_path: Path) -> None:
    files = write_log(tmp_path / "log", n_rows=2_000_000, n_files=8)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_MEASURE), str(files[0].parent), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    n_in, n_clean, n_quarantined = measured["counts"]
    assert n_in == 2_000_000 == n_clean + n_quarantined
    assert n_quarantined == 2_000 * sum(1 for _, rule in KINDS if rule) // len(KINDS)  # 0.1%, less the odd-but-valid
    assert measured["growth_mb"] < 500, f"peak RSS grew by {measured['growth_mb']:.0f} MB gating 2M rows"


@pytest.mark.slow
def test_repeated_ids_are_found_alike_in_one_pass_or_many(part_files: list[Path], tmp_path: Path, monkeypatch) -> None:
    import expectations.scan as scan

    one = run_file_gate(part_files[0].parent, CONFIG, tmp_path / "one")
    monkeypatch.setattr(scan, "_IDS_PER_PASS", 7_000)  # 9 slices of the hash space for 60,000 rows
    many = run_file_gate(part_files[0].parent, CONFIG, tmp_path / "many")
    assert one.rule_counts["event_id unique"] > 0
    for name in ("clean_path", "quarantine_path", "results_path"):
        pd.testing.assert_frame_equal(pd.read_parquet(getattr(one, name)), pd.read_parquet(getattr(many, name)))
