"""`recdo watch` / `recdo ingest` without a server: complete files only, one event per (content, partition)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from flows.defaults import RunSettings
from recdo.watch import SettledFiles, WatchConfig, ingest, is_candidate, watch
from sources import partitions
from tests.helpers import query


class Recorder:
    """Stands in for emit_event: remembers what would have been sent."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.payloads: list[dict] = []
        self.fail = fail

    def __call__(self, file: str, partition: str, sha256: str, n_rows: int, run: dict) -> str | None:
        if self.fail:
            raise ConnectionError("server unreachable")
        self.sent.append((Path(file).name, partition))
        self.payloads.append(dict(run))
        return f"event-{len(self.sent)}"


def _log(days: list[str], rows_per_day: int = 5) -> pd.DataFrame:
    ts = pd.to_datetime([f"{d}T{h:02d}:00:00Z" for d in days for h in range(rows_per_day)])
    return pd.DataFrame(
        {"event_id": [f"e{i}" for i in range(len(ts))], "ts": ts, "user_id": "u", "item_id": "i", "click": 0}
    )


@pytest.mark.parametrize(
    "name, ok",
    [
        ("2024-03-01.parquet", True),
        ("day.csv", True),
        ("day.PQ", True),
        (".day.parquet", False),
        ("day.parquet.tmp", False),
        ("day.parquet.part", False),
        ("~day.csv", False),
        ("_day.parquet", False),
        ("day.csv.crdownload", False),
        ("day.json", False),
        ("day.parquet.inprogress", False),
    ],
)
def test_only_finished_log_names_are_candidates(name, ok):
    assert is_candidate(Path(name)) is ok


def test_a_file_counts_once_its_size_holds_still(tmp_path):
    files = SettledFiles(settle_s=2.0)
    f = tmp_path / "a.csv"
    f.write_text("x\n1\n")
    assert files.poll(tmp_path, now=0.0) == []  # first sight
    assert files.poll(tmp_path, now=1.0) == []  # not settled yet
    with f.open("a") as fh:  # still being written: the clock starts again
        fh.write("2\n")
    os.utime(f, ns=(1, 2))
    assert files.poll(tmp_path, now=2.5) == []
    assert files.poll(tmp_path, now=4.0) == []
    assert files.poll(tmp_path, now=4.6) == [f]
    files.handled(f)
    assert files.poll(tmp_path, now=10.0) == []  # handed out once per version


def test_partitions_come_from_the_partition_column_else_the_event_date():
    frame = _log(["2024-03-01", "2024-03-02"])
    assert partitions.partitions_in(frame) == ["2024-03-01", "2024-03-02"]
    assert partitions.partitions_in(frame.assign(partition="2024-01-09")) == ["2024-01-09"]
    with pytest.raises(
        partitions.PartitionError,
        match=r"partition '2024-03-05' has no rows in this log; it holds \['2024-03-01', '2024-03-02'\]",
    ):
        partitions.select(frame, "2024-03-05")
    with pytest.raises(partitions.PartitionError, match="write partitions as YYYY-MM-DD"):
        partitions.check_partition("03/01/2024")
    assert partitions.date_range("2024-02-28", "2024-03-01") == ["2024-02-28", "2024-02-29", "2024-03-01"]
    with pytest.raises(partitions.PartitionError, match="end 2024-03-01 is before start 2024-03-02"):
        partitions.date_range("2024-03-02", "2024-03-01")


def test_ingest_announces_each_partition_of_new_content_once(tmp_path):
    db = str(tmp_path / "r.duckdb")
    path = tmp_path / "two-days.parquet"
    _log(["2024-03-01", "2024-03-02"]).to_parquet(path, index=False)
    emit = Recorder()

    arrivals, seen = ingest(path, db, emit)
    assert [a.partition for a in arrivals] == ["2024-03-01", "2024-03-02"] and seen == []
    assert emit.sent == [("two-days.parquet", "2024-03-01"), ("two-days.parquet", "2024-03-02")]
    assert ingest(path, db, emit) == ([], ["2024-03-01", "2024-03-02"])  # the same file again
    copy = tmp_path / "renamed.parquet"
    shutil.copy(path, copy)
    assert ingest(copy, db, emit)[0] == []  # the same bytes under another name
    assert len(emit.sent) == 2
    # Nothing said: the events carry only the database, as an absolute path (the worker runs elsewhere).
    assert emit.payloads == [{"db": str(Path(db).resolve())}] * 2
    ledger = query(db, 'SELECT "partition", n_rows, event_id, emitted_at FROM ingested_files ORDER BY 1')
    assert ledger.n_rows.tolist() == [5, 5] and ledger.event_id.tolist() == ["event-1", "event-2"]
    assert ledger.emitted_at.notna().all()


def test_a_failed_emit_is_not_recorded_so_the_file_is_announced_later(tmp_path):
    db = str(tmp_path / "r.duckdb")
    path = tmp_path / "day.csv"
    _log(["2024-03-03"]).to_csv(path, index=False)
    with pytest.raises(ConnectionError):
        ingest(path, db, Recorder(fail=True))
    assert query(db, "SELECT count(*) n FROM ingested_files").n[0] == 0
    emit = Recorder()
    assert [a.partition for a in ingest(path, db, emit)[0]] == ["2024-03-03"]


@pytest.mark.slow
def test_watch_reads_renamed_files_once_and_ignores_partial_ones(tmp_path):
    incoming, db = tmp_path / "incoming", str(tmp_path / "r.duckdb")
    incoming.mkdir()
    emit = Recorder()
    lines: list[str] = []
    stop = threading.Event()
    run = RunSettings(treatments=("strategy",), baselines={"strategy": "popular"}, work_dir=str(tmp_path / "w"))
    config = WatchConfig(directory=str(incoming), db=db, settle_s=0.3, interval_s=0.05, run=run)

    def run() -> None:
        for line in watch(config, emit, stop.is_set):
            lines.append(line)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        partial = incoming / "day1.parquet.part"
        _log(["2024-03-01"]).to_parquet(partial, index=False)
        (incoming / "junk.parquet.tmp").write_bytes(b"PAR1 not yet")  # never renamed: never read
        threading.Event().wait(0.8)
        assert emit.sent == []
        partial.rename(incoming / "day1.parquet")  # write-then-rename
        _wait(lambda: len(emit.sent) == 1)
        shutil.copy(incoming / "day1.parquet", incoming / ".copy.tmp")
        (incoming / ".copy.tmp").rename(incoming / "day1-again.parquet")
        _wait(lambda: any("already ingested" in line for line in lines))
    finally:
        stop.set()
        worker.join(timeout=5)
    assert emit.sent == [("day1.parquet", "2024-03-01")]
    assert emit.payloads == [
        {"db": db, "treatments": ["strategy"], "baselines": {"strategy": "popular"}, "work_dir": str(tmp_path / "w")}
    ]


def _wait(predicate, timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        done.wait(0.05)
    raise AssertionError("condition not reached in time")
