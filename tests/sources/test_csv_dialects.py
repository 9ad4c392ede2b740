"""Loaders on CSV and Parquet files as users send them: other delimiters, "None" labels, repeated columns, epoch ts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sources
from expectations import GateConfig, run_file_gate
from sources import partitions
from tests.sources.test_stream import _canonical, _log


@pytest.mark.parametrize("sep", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_a_csv_with_another_delimiter_is_read_column_by_column_and_noted(sep: str, tmp_path: Path) -> None:
    want = _log(40).assign(
        ts=lambda f: f["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), item_id=lambda f: f["item_id"].astype(int)
    )
    path = tmp_path / "log.csv"
    want.to_csv(path, index=False, sep=sep)
    log, got = _canonical(path, tmp_path)
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    name = {";": "semicolon", "\t": "tab", "|": "pipe"}[sep]
    assert log.notes == (
        f"the comma as the CSV delimiter: the header splits into 8 columns at {sep!r}: read as a {name}-delimited file"
    )
    assert sources.load_table(path).frame.shape == (40, 8)  # the in-memory loader reads it alike


def test_a_comma_csv_whose_values_hold_semicolons_stays_comma_delimited(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text('event_id,item_text\ne1,"a; b; c"\ne2,plain\n')
    log, got = _canonical(path, tmp_path)
    assert got["item_text"].tolist() == ["a; b; c", "plain"] and log.notes == ""


def test_the_table_loader_reads_none_na_and_null_as_labels(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("event_id,reason,damage\ne1,None,Mild\ne2,NA,None\ne3,null,\n")
    frame = sources.load_table(path).frame
    assert frame["reason"].tolist() == ["None", "NA", "null"]
    assert frame["damage"].tolist()[:2] == ["Mild", "None"] and pd.isna(frame["damage"].iloc[2])  # empty: missing


def _twice(path: Path) -> Path:
    table = pa.Table.from_pandas(_log(4), preserve_index=False).append_column("click", pa.array([0, 1, 0, 1]))
    pq.write_table(table, path)
    return path


def test_a_parquet_file_naming_a_column_twice_is_refused_by_every_reader(tmp_path: Path) -> None:
    path = _twice(tmp_path / "log.parquet")
    message = (
        f"{str(path)!r} holds more than one column named 'click'; every column is read by its name: rewrite the "
        "file with each column named once (rename one of them, e.g. 'click_2')"
    )
    with pytest.raises(sources.SourceError) as streamed:
        _canonical(path, tmp_path)
    with pytest.raises(sources.SourceError) as whole:
        sources.load_table(path)
    assert str(streamed.value) == str(whole.value) == message


def _epoch_ms(n: int = 30) -> pd.DataFrame:
    log = _log(n)
    log["ts"] = log["ts"].astype("datetime64[ms, UTC]").astype("int64") + np.arange(n) * 3_600_000  # across 2 days
    return log


def test_epoch_milliseconds_are_noted_by_the_loader_and_dated_by_partitions(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    _epoch_ms().to_csv(path, index=False)
    log, got = _canonical(path, tmp_path)
    assert got["ts"].dtype == np.int64  # the loader changes no value: the gate reads the unit
    assert log.notes == "ts as numbers: epoch milliseconds (by magnitude), read as UTC times by the gate"
    assert partitions.partitions_in(got) == ["2024-03-01", "2024-03-02"]
    assert partitions.partition_of(got).value_counts().to_dict() == {"2024-03-01": 24, "2024-03-02": 6}

    gate = run_file_gate(log.path, GateConfig(treatment="policy"), tmp_path / "gate")
    assert (gate.n_clean, gate.notes) == (30, ("ts: epoch milliseconds (by magnitude), read as UTC times",))
    clean = pd.read_parquet(gate.clean_path)
    assert clean["ts"].iloc[-1] == pd.Timestamp("2024-03-02T05:00:29", tz="UTC")


def test_a_ts_of_mixed_epoch_units_gets_no_note_and_no_partition(tmp_path: Path) -> None:
    log = _epoch_ms(4)
    log.loc[0, "ts"] = 1_709_251_200  # seconds among milliseconds: the gate refuses the log
    path = tmp_path / "log.parquet"
    log.to_parquet(path, index=False)
    written, got = _canonical(path, tmp_path)
    assert written.notes == ""
    assert set(partitions.partition_of(got)) == {"unknown"}
