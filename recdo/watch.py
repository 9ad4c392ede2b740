"""`recdo watch DIR`, `recdo ingest PATH`: announce each new complete log file as `recdo.data.arrived`, once."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from common.files import sha256_file, sha256_named_files
from flows.defaults import RunSettings, parse_baselines
from sources import partitions
from sources.table import read_frame

EVENT = "recdo.data.arrived"
SUFFIXES = (".parquet", ".pq", ".csv")
# Names writers use while a file is still being written (then renamed into place): never read them.
TEMP_SUFFIXES = (
    ".tmp",
    ".temp",
    ".part",
    ".partial",
    ".crdownload",
    ".download",
    ".inprogress",
    ".filepart",
    ".swp",
    ".lock",
)


@dataclass(frozen=True)
class WatchConfig:
    """Where to look, how long a file's size and mtime must hold still before it counts as complete."""

    directory: str
    db: str = "recdo.duckdb"
    settle_s: float = 2.0
    interval_s: float = 1.0
    run: RunSettings = field(default_factory=RunSettings)

    def __post_init__(self) -> None:
        if self.settle_s < 0 or self.interval_s <= 0:
            raise ValueError(f"settle_s must be >= 0 and interval_s > 0, got {self.settle_s} and {self.interval_s}")


@dataclass(frozen=True)
class Arrival:
    """One announced (file, partition): what the event's payload carries."""

    file: str
    partition: str
    sha256: str
    data_hash: str
    n_rows: int
    event_id: str | None


def is_candidate(path: Path) -> bool:
    """A finished log file by its name: a known suffix, and none of the marks of a file still being written."""
    name = path.name
    if name.startswith((".", "~", "_")) or name.lower().endswith(TEMP_SUFFIXES):
        return False
    return path.suffix.lower() in SUFFIXES


def content_sha256(path: Path) -> tuple[str, str]:
    """(sha256 of the bytes, the run's data hash: name and bytes, as sources.hash_files computes it)."""
    return sha256_file(path), sha256_named_files([path])


class SettledFiles:
    """Tracks files across polls; a file is settled once its (size, mtime) has not changed for settle_s."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}
        self._handled: dict[Path, tuple[int, int]] = {}

    def poll(self, directory: Path, now: float) -> list[Path]:
        """The files that settled since the last poll and have not been handed out in this state before."""
        ready = []
        present = set()
        for path in sorted(directory.iterdir()):
            if not path.is_file() or not is_candidate(path):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:  # renamed or removed between listing and stat
                continue
            present.add(path)
            signature = (st.st_size, st.st_mtime_ns)
            if self._handled.get(path) == signature:
                continue
            previous = self._seen.get(path)
            if previous is None or previous[0] != signature:
                self._seen[path] = (signature, now)
                if self.settle_s > 0:
                    continue
                previous = self._seen[path]
            if now - previous[1] >= self.settle_s and st.st_size > 0:
                ready.append(path)
        for gone in set(self._seen) - present:
            self._seen.pop(gone, None)
            self._handled.pop(gone, None)
        return ready

    def handled(self, path: Path) -> None:
        sig = self._seen.get(path)
        if sig:
            self._handled[path] = sig[0]


def _with_db(db: str, fn: Callable, attempts: int = 40, delay_s: float = 0.5):
    """Run fn(con) on a short-lived write connection, retrying while another process holds the database."""
    import store

    last: Exception | None = None
    for _ in range(attempts):
        try:
            with store.connect(db) as con:
                return fn(con)
        except RuntimeError as exc:  # store.connect's "another process holds the database"
            last = exc
            time.sleep(delay_s)
    raise RuntimeError(f"{last}; gave up after {attempts * delay_s:.0f} s") from last


# emit(file, partition, sha256, n_rows, run fields of the payload) -> the event id
Emitter = Callable[[str, str, str, int, Mapping[str, object]], "str | None"]


def emit_arrival(file: str, partition: str, sha256: str, n_rows: int, run: Mapping[str, object]) -> str | None:
    """Send `recdo.data.arrived` to the Prefect API; returns the event id (None when events are off).

    `run` (RunSettings.payload) says what the run estimates and where; the deployment's trigger passes each
    field on as a parameter of flows/arrival.py:on_new_data.
    """
    from prefect.events import emit_event

    event = emit_event(
        event=EVENT,
        resource={
            "prefect.resource.id": f"recdo.data.{sha256[:16]}.{partition}",
            "prefect.resource.name": Path(file).name,
        },
        payload={"file": file, "partition": partition, "sha256": sha256, "rows": n_rows, **run},
    )
    return str(event.id) if event is not None else None


def ingest(
    path: str | Path, db: str, emit: Emitter = emit_arrival, run: RunSettings = RunSettings()
) -> tuple[list[Arrival], list[str]]:
    """Announce every partition of `path` whose content was never announced; each event carries `run`.

    Returns (new arrivals, partitions seen before).

    The (sha256, partition) row is written before the event is sent and removed if sending fails:
    a crash in between loses an event (re-announce with `recdo ingest`) but can never start two runs.
    """
    path = Path(path).resolve()
    if not path.is_file() or path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{str(path)!r} is not a log file; pass a .parquet, .pq or .csv file")
    sha, data_hash = content_sha256(path)
    frame, _ = read_frame(path)  # as the pipeline reads it: "None"/"NA" are labels, a ';' CSV is split right
    counts = partitions.partition_of(frame).value_counts()
    dated = partitions.partitions_in(frame)
    if not dated:
        raise ValueError(
            f"{str(path)!r} has no dated rows: give it a `partition` (YYYY-MM-DD) or a parseable `ts` column"
        )
    size = path.stat().st_size

    def claim(con) -> list[str]:
        seen = {r[0] for r in con.execute('SELECT "partition" FROM ingested_files WHERE sha256 = ?', [sha]).fetchall()}
        fresh = [p for p in dated if p not in seen]
        for p in fresh:
            con.execute(
                'INSERT INTO ingested_files (sha256, "partition", path, data_hash, size_bytes, n_rows) '
                "VALUES (?, ?, ?, ?, ?, ?)",
                [sha, p, str(path), data_hash, size, int(counts[p])],
            )
        return fresh

    fresh = _with_db(db, claim)
    arrivals = []
    fields = run.payload(db)
    for p in fresh:
        try:
            event_id = emit(str(path), p, sha, int(counts[p]), fields)
            if event_id is None:
                raise RuntimeError(
                    "Prefect events are off: set PREFECT_API_URL to a running server (scripts/serve.sh starts one)"
                )
        except Exception:
            _with_db(
                db,
                lambda con, p=p: con.execute(
                    'DELETE FROM ingested_files WHERE sha256 = ? AND "partition" = ?', [sha, p]
                ),
            )
            raise
        _with_db(
            db,
            lambda con, p=p, event_id=event_id: con.execute(
                'UPDATE ingested_files SET event_id = ?, emitted_at = now() WHERE sha256 = ? AND "partition" = ?',
                [event_id, sha, p],
            ),
        )
        arrivals.append(Arrival(str(path), p, sha, data_hash, int(counts[p]), event_id))
    return arrivals, [p for p in dated if p not in fresh]


def watch(config: WatchConfig, emit: Emitter = emit_arrival, stop: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """Poll the directory forever (or until stop()), yielding one line per decision for the terminal."""
    directory = Path(config.directory)
    if not directory.is_dir():
        raise ValueError(f"{str(directory)!r} is not a directory; create it or pass the folder new log files land in")
    files = SettledFiles(config.settle_s)
    while not stop():
        for path in files.poll(directory, time.monotonic()):
            try:
                arrivals, seen = ingest(path, config.db, emit, config.run)
            except (ValueError, OSError) as exc:  # unreadable or undated: say so once per version of the file
                yield f"skip {path.name}: {exc}"
            else:
                for a in arrivals:
                    yield (
                        f"emitted {EVENT} for {path.name} partition {a.partition} ({a.n_rows} rows, sha256 "
                        f"{a.sha256[:12]})"
                    )
                if seen:
                    yield (
                        f"skip {path.name}: content already ingested for partitions {', '.join(seen)} (sha256 "
                        f"{content_sha256(path)[0][:12]})"
                    )
            files.handled(path)
        time.sleep(config.interval_s)


def _require_api() -> None:
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise SystemExit(
            "recdo: PREFECT_API_URL is not set, so no deployment would hear the event; start a server and worker "
            "(scripts/serve.sh) and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )


def _flush_events() -> None:
    # The events client sends from a background thread; wait for it before the process exits.
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all()


def run_settings(args: argparse.Namespace) -> RunSettings:
    """--treatment, --outcome, --baseline, --work-dir as the events' run fields (ValueError on a bad one)."""
    treatments = tuple(args.treatment)
    baselines = parse_baselines(args.baseline, treatments) if args.baseline else None
    return RunSettings(treatments, tuple(args.outcome), baselines, args.work_dir, args.pool_since)


def where_runs_write(db: str, run: RunSettings) -> str:
    """Where the announced files' runs put their rows and files, and what they estimate: one line's tail."""
    work = Path(run.work_dir).resolve() if run.work_dir else "the deployment's work_dir (in the worker's directory)"
    return f"runs write results to {Path(db).resolve()}, intermediate files to {work}; estimating {run.describe()}"


def cmd_watch(args: argparse.Namespace) -> int:
    try:
        run = run_settings(args)
    except ValueError as exc:
        print(f"recdo: {exc}", file=sys.stderr)
        return 2
    _require_api()
    config = WatchConfig(directory=args.directory, db=args.db, settle_s=args.settle, interval_s=args.interval, run=run)
    print(
        f"watching {Path(config.directory).resolve()} (settle {config.settle_s} s); {where_runs_write(args.db, run)}; "
        "Ctrl-C stops",
        flush=True,
    )
    try:
        for line in watch(config):
            print(line, flush=True)
    except KeyboardInterrupt:
        pass
    except ValueError as exc:
        print(f"recdo: {exc}", file=sys.stderr)
        return 2
    finally:
        _flush_events()
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    try:
        run = run_settings(args)
    except ValueError as exc:
        print(f"recdo: {exc}", file=sys.stderr)
        return 2
    _require_api()
    try:
        arrivals, seen = ingest(args.path, args.db, run=run)
    except ValueError as exc:
        print(f"recdo: {exc}", file=sys.stderr)
        return 2
    finally:
        _flush_events()
    for a in arrivals:
        print(f"emitted {EVENT} for {Path(a.file).name} partition {a.partition} ({a.n_rows} rows)")
    if arrivals:
        print(where_runs_write(args.db, run))
    if seen:
        print(f"already ingested, no event: partitions {', '.join(seen)} of {Path(args.path).name}")
    return 0


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that say what the announced files' runs estimate and where, as `recdo run` spells them."""
    parser.add_argument(
        "--db",
        default="recdo.duckdb",
        help="results database, relative to this directory: its ingested_files table remembers what was announced, "
        "and each event names it (as an absolute path) as the run's database (default: recdo.duckdb)",
    )
    parser.add_argument(
        "--treatment",
        action="append",
        default=[],
        help="treatment column of the runs (repeatable); default: the deployment's params.treatments if it names "
        "them, else derived per file (strategy and reason_shown for a simulated log, policy for Open Bandit)",
    )
    parser.add_argument(
        "--outcome",
        action="append",
        default=[],
        help="0/1 outcome column of the runs (repeatable); default: the deployment's, else derived per file "
        "(click and returned for a simulated log, click for Open Bandit)",
    )
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="[TREATMENT=]VALUE",
        help="value ATEs are taken against (repeatable; a bare VALUE is the first --treatment's; 'none': first in "
        "sorted order); default: the deployment's, else derived (strategy=random, reason_shown=0; policy=random)",
    )
    parser.add_argument(
        "--work-dir",
        default=None,
        help="directory for the runs' intermediate files; default: the deployment's work_dir (in the worker's "
        "directory)",
    )
    parser.add_argument(
        "--pool-since",
        default=None,
        metavar="YYYY-MM-DD",
        help="each run pools every partition from this date up to the announced one, read from the folder the file "
        "was dropped in (or its hive date=YYYY-MM-DD/ root), where the design allows; default: the partition alone",
    )


def add_parsers(sub) -> None:
    w = sub.add_parser("watch", help="emit recdo.data.arrived once per new complete log file landing in DIR")
    w.add_argument("directory", metavar="DIR")
    _add_run_flags(w)
    w.add_argument("--settle", type=float, default=2.0, help="seconds a file's size must hold still before it is read")
    w.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    w.set_defaults(func=cmd_watch)
    i = sub.add_parser("ingest", help="emit recdo.data.arrived for one log file (once per content and partition)")
    i.add_argument("path", metavar="PATH")
    _add_run_flags(i)
    i.set_defaults(func=cmd_ingest)
