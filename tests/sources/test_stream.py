"""write_canonical: any layout to one canonical Parquet dataset, batch by batch, with the table loader's errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sources
from sources.stream import META
from tests.conftest import OBD, REPO


def _log(n: int, start: int = 0, day: str = "2024-03-01") -> pd.DataFrame:
    i = np.arange(start, start + n)
    return pd.DataFrame(
        {
            "event_id": [f"e{k:07d}" for k in i],
            "ts": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(i % 86_400, unit="s"),
            "user_id": [f"u{k % 97}" for k in i],
            "item_id": (i % 13).astype(str),
            "policy": np.where(i % 2 == 0, "random", "bts"),
            "position": (i % 3).astype("int64"),
            "propensity": np.full(n, 0.25),
            "click": (i % 7 == 0).astype("int64"),
        }
    )


def _canonical(layout_path, tmp_path, column_map=None, **kw) -> tuple[sources.CanonicalLog, pd.DataFrame]:
    log = sources.write_canonical(sources.detect(layout_path), column_map, tmp_path / "work", **kw)
    return log, pd.read_parquet(log.path)


def test_multi_file_log_has_the_rows_of_the_files_in_parts_of_at_most_batch_rows(tmp_path):
    data = tmp_path / "logs"
    data.mkdir()
    frames = [_log(n, start) for n, start in ((700, 0), (1, 700), (1300, 701))]
    for k, frame in enumerate(frames):
        frame.to_parquet(data / f"part-{k}.parquet", index=False)
    log, got = _canonical(data, tmp_path, batch_rows=500)
    want = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(
        got.sort_values("event_id", ignore_index=True), want.sort_values("event_id", ignore_index=True)
    )
    parts = sorted(Path(log.path).glob("part-*.parquet"))
    assert [pq.ParquetFile(p).metadata.num_rows for p in parts] == [500, 500, 500, 500, 1]
    assert (log.n_rows, log.parts, log.source) == (2001, 5, "table:logs/")
    assert json.loads((Path(log.path) / META).read_text())["n_rows"] == 2001


def test_a_rerun_gives_the_same_files_and_hash_and_reuses_a_finished_folder(tmp_path):
    _log(1200).to_parquet(tmp_path / "log.parquet", index=False)
    layout = sources.detect(tmp_path / "log.parquet")
    first = sources.write_canonical(layout, None, tmp_path / "a", batch_rows=500)
    other = sources.write_canonical(layout, None, tmp_path / "b", batch_rows=500)
    assert first.data_hash == other.data_hash == sources.load_table(tmp_path / "log.parquet").data_hash
    assert Path(first.path).name == Path(other.path).name
    for a in Path(first.path).glob("part-*"):
        assert a.read_bytes() == (Path(other.path) / a.name).read_bytes()
    stamp = os.stat(Path(first.path) / "part-000000.parquet").st_mtime_ns
    assert sources.write_canonical(layout, None, tmp_path / "a", batch_rows=500) == first
    assert os.stat(Path(first.path) / "part-000000.parquet").st_mtime_ns == stamp  # found, not rewritten
    assert [p.name for p in (tmp_path / "a").iterdir()] == [Path(first.path).name]  # no temporary left
    mapped = sources.write_canonical(layout, {"click": "clicked"}, tmp_path / "a", batch_rows=500)
    assert mapped.path != first.path and mapped.data_hash == first.data_hash  # other settings, other folder


def test_folder_hash_covers_names_relative_to_the_folder(tmp_path):
    for day in ("2024-03-01", "2024-03-02"):
        (tmp_path / f"date={day}").mkdir()
    _log(10).to_parquet(tmp_path / "date=2024-03-01" / "p.parquet", index=False)
    _log(20).to_parquet(tmp_path / "date=2024-03-02" / "p.parquet", index=False)
    before = sources.write_canonical(sources.detect(tmp_path), None, tmp_path.parent / "w1").data_hash
    (tmp_path / "date=2024-03-01" / "p.parquet").rename(tmp_path / "date=2024-03-01" / "q.parquet")
    assert sources.write_canonical(sources.detect(tmp_path), None, tmp_path.parent / "w2").data_hash != before


def test_hive_date_becomes_the_partition_column_unless_the_log_has_one(tmp_path):
    data = tmp_path / "hive"
    for k, day in enumerate(("2024-03-01", "2024-03-02")):
        (data / f"date={day}").mkdir(parents=True)
        _log(30, 30 * k, day).to_parquet(data / f"date={day}" / "part-0.parquet", index=False)
    _, got = _canonical(data, tmp_path)
    assert got.groupby("partition").size().to_dict() == {"2024-03-01": 30, "2024-03-02": 30}
    assert "date" not in got.columns and got.columns[-1] == "partition"
    _, own = _canonical(data, tmp_path, column_map={"policy": "partition"})  # the log's own partition column
    assert set(own["partition"]) == {"random", "bts"} and set(own["date"]) == {"2024-03-01", "2024-03-02"}


def test_files_with_different_columns_and_widths_make_one_schema(tmp_path):
    data = tmp_path / "logs"
    data.mkdir()
    pq.write_table(pa.table({"event_id": ["a", "b"], "click": pa.array([0, 1], pa.int32())}), data / "0.parquet")
    pq.write_table(pa.table({"event_id": ["c"], "click": [1], "extra": ["x"]}), data / "1.parquet")
    frame = _log(3, 3).astype({"policy": "category"}).set_axis([10, 11, 12])  # a categorical, an index
    frame.to_parquet(data / "2.parquet")
    log, got = _canonical(data, tmp_path)
    assert got["click"].dtype == np.int64 and got["extra"].isna().tolist() == [True, True, False] + [True] * 3
    assert got["event_id"].tolist() == ["a", "b", "c", "e0000003", "e0000004", "e0000005"]
    assert pd.api.types.is_string_dtype(got["policy"]) and "__index_level_0__" not in got.columns
    assert "['__index_level_0__'] columns: a pandas index written into the file" in log.notes
    pq.write_table(pa.table({"event_id": ["d"], "click": ["yes"]}), data / "3.parquet")
    with pytest.raises(sources.SourceError, match=r"column 'click' is int64 in '0.parquet' but string in '3.parquet'"):
        _canonical(data, tmp_path)


def test_csv_keeps_none_na_and_null_as_labels_and_infers_numbers(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "event_id,reason,click,propensity,flag,empty\n"
        "e1,None,1,0.5,True,\n"
        "e2,NA,0,,False,\n"
        "e3,null,1,0.25,,\n"
        'e4,,0,1e-1,true,""\n'
    )
    log, got = _canonical(path, tmp_path, batch_rows=3)
    assert got["reason"].iloc[:3].tolist() == ["None", "NA", "null"] and pd.isna(got["reason"].iloc[3])
    assert got["click"].dtype == np.int64 and got["propensity"].dtype == np.float64
    assert np.isnan(got["propensity"].iloc[1]) and got["propensity"].iloc[3] == pytest.approx(0.1)
    assert got["flag"].tolist()[:2] == [True, False] and got["empty"].isna().all()
    assert log.parts == 2 and log.data_hash == sources.load_table(path).data_hash


def test_csv_types_are_settled_over_the_whole_file_not_the_first_block(tmp_path, monkeypatch):
    monkeypatch.setattr("sources.csvread.BLOCK_BYTES", 1 << 10)  # many blocks
    rows = [f"e{k},{k}" for k in range(2000)] + ["e2000,n/a"]
    path = tmp_path / "log.csv"
    path.write_text("event_id,position\n" + "\n".join(rows) + "\n")
    _, got = _canonical(path, tmp_path)
    assert pd.api.types.is_string_dtype(got["position"]) and got["position"].iloc[-1] == "n/a"
    assert got["position"].iloc[5] == "5" and len(got) == 2001


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("event_id,click,ts,click\ne1,1,2024-03-01,0\n")
    with pytest.raises(sources.SourceError) as info:
        _canonical(path, tmp_path)
    assert str(info.value) == (
        f"{str(path)!r} names the column 'click' twice in its header; rename one of them "
        "(every column is read by its name)"
    )


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.csv", "is empty: no header and no rows"),
        (b"event_id,ts\n", "header_only.csv", "holds a header but no rows"),
        (b"a,b\n1,2,3\n", "ragged.csv", "cannot read .* as csv"),
        (b"\x00\x01not parquet", "broken.parquet", "cannot read .* as parquet"),
    ],
)
def test_unreadable_files_fail_as_the_table_loader_fails(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(sources.SourceError, match=message):
        _canonical(path, tmp_path)


def test_column_map_errors_name_the_columns(tmp_path):
    _log(5).to_parquet(tmp_path / "log.parquet", index=False)
    with pytest.raises(sources.SourceError, match=r"column mapping names \['clicked'\], which .*log.parquet"):
        _canonical(tmp_path / "log.parquet", tmp_path, {"clicked": "click"})
    with pytest.raises(sources.SourceError, match=r"column mapping gives \['user_id', 'item_id'\] the one name"):
        _canonical(tmp_path / "log.parquet", tmp_path, {"item_id": "user_id"})


def test_a_folder_of_files_without_rows_is_refused(tmp_path):
    data = tmp_path / "logs"
    data.mkdir()
    for k in range(2):
        _log(0).to_parquet(data / f"{k}.parquet", index=False)
    with pytest.raises(sources.SourceError, match=r"holds 2 Parquet files but no rows"):
        _canonical(data, tmp_path)
    assert not any((tmp_path / "work").iterdir())  # the temporary folder is gone


def test_open_bandit_and_simulate_layouts_end_as_the_same_dataset(tmp_path):
    log, got = _canonical(OBD, tmp_path, batch_rows=6000)
    loaded = sources.load_obd(OBD)
    pd.testing.assert_frame_equal(got, loaded.frame)
    assert (log.source, log.data_hash, log.notes, log.parts) == (loaded.source, loaded.data_hash, loaded.notes, 4)
    sim = tmp_path / "sim"
    sim.mkdir()
    _log(50).to_parquet(sim / "log.parquet", index=False)
    (sim / "truth.json").write_text("[]")
    log, got = _canonical(sim, tmp_path)
    table = sources.load_table(sim)
    pd.testing.assert_frame_equal(got, table.frame)
    assert (log.source, log.data_hash) == (table.source, table.data_hash)


_RSS_SCRIPT = textwrap.dedent(
    """
    import sys, sources
    def kb(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1])
    layout = sources.detect(sys.argv[1])
    before = kb("VmRSS:")
    log = sources.write_canonical(layout, None, sys.argv[2], batch_rows=250_000)
    print(log.n_rows, (kb("VmHWM:") - before) // 1024)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak RSS from /proc")
def test_a_2m_row_log_is_written_without_holding_it(tmp_path):
    data = tmp_path / "logs"
    data.mkdir()
    for k in range(8):  # 8 files of 250,000 rows with a text column and 8 features: ~830 MB read whole in pandas
        frame = _log(250_000, 250_000 * k)
        frame["item_text"] = "title of the item " + frame["event_id"] + frame["item_id"] * 8
        for j in range(8):
            frame[f"feature_{j}"] = np.arange(len(frame)) * (j + 0.5)
        frame.to_parquet(data / f"part-{k}.parquet", index=False, row_group_size=50_000)
    script = tmp_path / "rss.py"
    script.write_text(_RSS_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(data), str(tmp_path / "work")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    rows, growth_mb = map(int, done.stdout.split())
    assert rows == 2_000_000
    assert growth_mb < 400, f"peak RSS grew by {growth_mb} MB writing 2M rows"
