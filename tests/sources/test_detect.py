"""What a --data path holds, told by content: each layout, and the one-line refusal of a folder with none."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import sources
from sources.detect import layout_for, source_kind
from tests.conftest import OBD


def _log(n: int, start: int = 0, day: str = "2024-03-01") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"e{i:06d}" for i in range(start, start + n)],
            "ts": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(range(n), unit="s"),
            "user_id": [f"u{i % 7}" for i in range(n)],
            "item_id": [str(i % 5) for i in range(n)],
            "policy": ["a", "b"] * (n // 2) + ["a"] * (n % 2),
            "click": [i % 3 == 0 for i in range(n)],
        }
    ).assign(click=lambda f: f["click"].astype("int64"))


def test_a_parquet_file_is_told_by_its_magic_not_its_name(tmp_path):
    _log(10).to_parquet(tmp_path / "log.parquet", index=False)
    _log(10).to_parquet(tmp_path / "export.dat", index=False)
    for name in ("log.parquet", "export.dat"):
        layout = sources.detect(tmp_path / name)
        assert (layout.kind, layout.format, layout.names) == ("parquet-file", "parquet", (name,))
        assert layout.source == f"table:{name}"


def test_a_csv_file(tmp_path):
    _log(10).to_csv(tmp_path / "log.csv", index=False)
    layout = sources.detect(tmp_path / "log.csv")
    assert (layout.kind, layout.format, layout.files) == ("csv-file", "csv", (tmp_path / "log.csv",))


def test_a_flat_folder_of_parquet_files_ignores_what_is_not_parquet(tmp_path):
    for k in range(3):
        _log(10, 10 * k).to_parquet(tmp_path / f"part-{k}.parquet", index=False)
    (tmp_path / "README.txt").write_text("exported nightly")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".part-3.parquet.tmp").write_text("half written")
    layout = sources.detect(tmp_path)
    assert layout.kind == "parquet-folder" and layout.hive_keys == ()
    assert layout.names == ("part-0.parquet", "part-1.parquet", "part-2.parquet")
    assert layout.ignored == ("README.txt",)
    assert layout.source == f"table:{tmp_path.name}/"


def test_a_hive_folder_names_its_keys_and_each_file_its_values(tmp_path):
    for day in ("2024-03-01", "2024-03-02"):
        (tmp_path / f"date={day}").mkdir()
        _log(10, day=day).to_parquet(tmp_path / f"date={day}" / "part-0.parquet", index=False)
    layout = sources.detect(tmp_path)
    assert layout.kind == "parquet-hive" and layout.hive_keys == ("date",)
    assert layout.names == ("date=2024-03-01/part-0.parquet", "date=2024-03-02/part-0.parquet")
    assert [layout.hive_values(i) for i in range(2)] == [{"date": "2024-03-01"}, {"date": "2024-03-02"}]


def test_a_glob_of_parquet_files_keeps_its_hive_keys(tmp_path):
    for day in ("2024-03-01", "2024-03-02"):
        (tmp_path / f"date={day}").mkdir()
        _log(10, day=day).to_parquet(tmp_path / f"date={day}" / "events.parquet", index=False)
    layout = sources.detect(f"{tmp_path}/date=*/*.parquet")
    assert layout.kind == "parquet-glob" and layout.root == tmp_path and layout.hive_keys == ("date",)
    assert layout.source == f"table:{tmp_path}/date=*/*.parquet"
    flat = sources.detect(f"{tmp_path}/date=2024-03-0[12]/events.parquet")
    assert len(flat.files) == 2


def test_the_open_bandit_directory():
    layout = sources.detect(OBD)
    assert layout.kind == "obd" and layout.format == "obd"
    assert {p.relative_to(OBD).as_posix() for p in layout.files} == {"random/all/all.csv", "bts/all/all.csv"}
    assert source_kind(OBD) == "obd" and source_kind(OBD / "random" / "all" / "all.csv") == "table"


def test_a_simulate_folder_needs_its_truth_beside_the_log(tmp_path):
    _log(10).to_parquet(tmp_path / "log.parquet", index=False)
    assert sources.detect(tmp_path).kind == "parquet-folder"  # a folder holding one Parquet file
    (tmp_path / "truth.json").write_text("[]")
    layout = sources.detect(tmp_path)
    assert layout.kind == "simulate" and layout.files == (tmp_path / "log.parquet",)
    assert layout.source == "table:log.parquet"  # as before: the run's source names the log file


def test_an_unrecognised_folder_says_what_was_looked_for_and_what_is_there(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "a.json").write_text("{}")
    with pytest.raises(sources.SourceError) as info:
        sources.detect(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    for expected in (
        "holds no log layout recdo reads",
        "`recdo simulate` folder (log.parquet and truth.json)",
        "Open Bandit directory (<policy>/<campaign>/<campaign>.csv, e.g. random/all/all.csv)",
        "Parquet files (*.parquet, or in hive folders such as date=2024-03-01/*.parquet)",
        "Found: exports/, notes.txt",
    ):
        assert expected in message


def test_a_folder_of_csv_files_is_refused_with_the_way_out(tmp_path):
    for k in range(2):
        _log(5).to_csv(tmp_path / f"day{k}.csv", index=False)
    with pytest.raises(sources.SourceError, match=r"2 CSV files are there, but a folder of CSV files is not a layout"):
        sources.detect(tmp_path)


@pytest.mark.parametrize(
    ("make", "given", "message"),
    [
        (lambda d: None, "missing.parquet", r"log file '.*missing.parquet' not found; pass the path of a .csv"),
        (lambda d: (d / "log.json").write_text("a,b"), "log.json", r"unknown suffix '.json'"),
        (lambda d: None, "*.parquet", r"no file matches '.*\*.parquet'; check the pattern"),
        (lambda d: (d / "a.csv").write_text("a\n1\n"), "*.csv", r"matches 1 files but no Parquet file \(a.csv\)"),
    ],
    ids=["missing", "suffix", "glob-none", "glob-csv"],
)
def test_paths_that_hold_no_log(tmp_path, make, given, message):
    make(tmp_path)
    with pytest.raises(sources.SourceError, match=message):
        sources.detect(f"{tmp_path}/{given}")


def test_mixed_folder_layouts_and_undated_date_folders_are_refused(tmp_path):
    (tmp_path / "date=2024-03-01").mkdir()
    _log(5).to_parquet(tmp_path / "date=2024-03-01" / "a.parquet", index=False)
    _log(5).to_parquet(tmp_path / "b.parquet", index=False)
    with pytest.raises(sources.SourceError, match=r"mix folder layouts"):
        sources.detect(tmp_path)
    with pytest.raises(sources.SourceError, match=r"sits in hive folders below plain ones; pass the folder that holds"):
        sources.detect(tmp_path.parent)
    (tmp_path / "b.parquet").unlink()
    (tmp_path / "date=March").mkdir()
    _log(5).to_parquet(tmp_path / "date=March" / "a.parquet", index=False)
    with pytest.raises(sources.SourceError, match=r"hive folder date=March .* is not a date .* date=YYYY-MM-DD"):
        sources.detect(tmp_path)


def test_layout_for_honours_a_forced_source(tmp_path):
    assert layout_for(OBD, "obd").kind == "obd"
    assert layout_for(tmp_path, "obd").files == ()  # the OBD loader then names the layout it expected
    with pytest.raises(sources.SourceError, match=r"is an Open Bandit directory .* pass --source obd or auto"):
        layout_for(OBD, "table")
    with pytest.raises(sources.SourceError, match=r"source 'csv' is not a way to read a log"):
        layout_for(OBD, "csv")


def test_source_kind_of_an_unreadable_path_is_table():
    assert source_kind("/nowhere/at/all") == "table"
    assert source_kind(Path(OBD) / "NOTICE.md") == "table"
