"""What a `--data` path holds, decided by its content: a Parquet or CSV file, Parquet files, OBD or a simulation."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from sources.base import SourceError
from sources.partitions import PartitionError, check_partition

Kind = Literal["parquet-file", "csv-file", "parquet-folder", "parquet-hive", "parquet-glob", "obd", "simulate"]
PARQUET_MAGIC = b"PAR1"
SUFFIXES = (".csv", ".parquet", ".pq")  # the suffixes a single file may have when its content does not say
SIMULATION_LOG, SIMULATION_TRUTH = "log.parquet", "truth.json"
HIVE_DATE = "date"  # the hive key that becomes the canonical `partition` column
_SHOWN = 6  # names quoted in an error about a folder


@dataclass(frozen=True)
class Layout:
    """Where a log's rows are: its kind, its input files in reading order and what a hive path adds to each row.

    `names` are the files' paths relative to `root` (a folder, or a glob's fixed leading folder; a single
    file's own name): they are hashed with the bytes and carry the hive keys. `ignored` lists files in a
    Parquet folder that are not Parquet.
    """

    kind: Kind
    root: Path
    files: tuple[Path, ...]
    names: tuple[str, ...]
    hive_keys: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    given: str = ""  # the path or pattern as passed

    @property
    def format(self) -> Literal["parquet", "csv", "obd"]:
        """How the files are read."""
        if self.kind == "csv-file":
            return "csv"
        return "obd" if self.kind == "obd" else "parquet"

    @property
    def source(self) -> str:
        """The run's `source` label: table:<file name> for one file (a simulation's log too), as before.

        An Open Bandit directory's label (obd:<dir>/<campaign>) is its loader's, which knows the campaign.
        """
        if self.kind == "obd":
            return f"obd:{self.root.name}"
        if self.kind in ("parquet-file", "csv-file", "simulate"):
            return f"table:{self.files[0].name}"
        if self.kind == "parquet-glob":
            return f"table:{self.given}"
        return f"table:{self.root.name}/"

    def hive_values(self, index: int) -> dict[str, str]:
        """The hive key=value pairs in the path of file `index`, in key order."""
        if not self.hive_keys:
            return {}
        parts = Path(self.names[index]).parts[:-1]
        return dict(_hive_pair(part) for part in parts)


def is_parquet(path: Path) -> bool:
    """A file whose first bytes are the Parquet magic, whatever its name."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def detect(path: str | Path) -> Layout:
    """The layout at `path`, decided by what the file or folder holds; SourceError names what was expected."""
    given = str(path)
    target = Path(given)
    if target.is_file():
        return _single_file(target, given)
    if target.is_dir():
        return _folder(target, given)
    if glob.has_magic(given):
        return _glob(given)
    raise SourceError(
        f"log file {given!r} not found; pass the path of a .csv or .parquet file, a folder or glob of Parquet files, "
        "an Open Bandit directory or a `recdo simulate` folder"
    )


def layout_for(path: str | Path, source: str = "auto") -> Layout:
    """The layout to read: detected (`auto`, `table`), or the Open Bandit layout when `source` is `obd`."""
    if source == "obd":
        root = Path(path)
        return Layout(kind="obd", root=root, files=tuple(_obd_logs(root)), names=(), given=str(path))
    if source not in ("auto", "table"):
        raise SourceError(f"source {source!r} is not a way to read a log; use one of ['auto', 'obd', 'table']")
    layout = detect(path)
    if source == "table" and layout.kind == "obd":
        raise SourceError(
            f"{str(path)!r} is an Open Bandit directory ({layout.files[0]}), not a table; pass --source obd or auto"
        )
    return layout


def source_kind(path: str | Path) -> Literal["obd", "table"]:
    """`obd` for an Open Bandit directory, `table` for everything else (an unreadable path fails when loaded)."""
    try:
        return "obd" if detect(path).kind == "obd" else "table"
    except (SourceError, OSError):
        return "table"


def _single_file(path: Path, given: str) -> Layout:
    if is_parquet(path) or path.suffix.lower() in (".parquet", ".pq"):
        kind: Kind = "parquet-file"  # a .parquet without the magic fails when read, naming the file
    elif path.suffix.lower() == ".csv":
        kind = "csv-file"
    else:
        raise SourceError(f"cannot read {given!r}: unknown suffix {path.suffix!r}; use one of {sorted(SUFFIXES)}")
    return Layout(kind=kind, root=path.parent, files=(path,), names=(path.name,), given=given)


def _obd_logs(root: Path) -> list[Path]:
    """DIR/<policy>/<campaign>/<campaign>.csv files under `root`."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("*/*/*.csv") if p.stem == p.parent.name and p.is_file())


def _visible(name: str) -> bool:
    return not name.startswith((".", "_"))  # hidden, temporary, _SUCCESS, _metadata: never a log's rows


def _walk(root: Path) -> list[Path]:
    """Every visible file under `root`, in sorted path order."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        found += [Path(folder) / f for f in sorted(files) if _visible(f)]
    return found


def _folder(root: Path, given: str) -> Layout:
    if (root / SIMULATION_LOG).is_file() and (root / SIMULATION_TRUTH).is_file():
        log = root / SIMULATION_LOG
        return Layout(kind="simulate", root=root, files=(log,), names=(SIMULATION_LOG,), given=given)
    obd = _obd_logs(root)
    if obd:
        return Layout(kind="obd", root=root, files=tuple(obd), names=(), given=given)
    files = _walk(root)
    parquet = [f for f in files if is_parquet(f)]
    if parquet:
        return _parquet_files(root, parquet, [f for f in files if f not in set(parquet)], given, "parquet-folder")
    raise SourceError(_unrecognised(root, files))


def _glob(pattern: str) -> Layout:
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file() and _visible(Path(p).name))
    if not files:
        raise SourceError(
            f"no file matches {pattern!r}; check the pattern (and quote it, so the shell leaves it to recdo), "
            "e.g. 'logs/*.parquet' or 'logs/date=*/*.parquet'"
        )
    fixed = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    root = Path(*fixed) if fixed else Path(".")
    parquet = [f for f in files if is_parquet(f)]
    if not parquet:
        shown = ", ".join(f.name for f in files[:_SHOWN])
        raise SourceError(
            f"{pattern!r} matches {len(files)} files but no Parquet file ({shown}); a glob must name Parquet files, "
            "e.g. 'logs/*.parquet'; pass a single CSV file as --data FILE.csv"
        )
    return _parquet_files(root, parquet, [f for f in files if f not in set(parquet)], pattern, "parquet-glob")


def _hive_pair(part: str) -> tuple[str, str]:
    key, _, value = part.partition("=")
    return unquote(key), unquote(value)


def _parquet_files(root: Path, parquet: list[Path], others: list[Path], given: str, kind: Kind) -> Layout:
    """A folder's or glob's Parquet files, flat or under hive key=value folders (the same keys for every file)."""
    names = tuple(f.relative_to(root).as_posix() for f in parquet)
    shapes: dict[tuple[str, ...] | None, str] = {}  # hive keys of the folders (None: no hive folders) -> a file
    for name in names:
        folders = Path(name).parts[:-1]
        if any("=" in p for p in folders) and not all("=" in p for p in folders):
            below = Path(name).parent
            raise SourceError(
                f"{name!r} under {str(root)!r} sits in hive folders below plain ones; pass the folder that holds "
                f"the key=value folders (e.g. {str(root / below.parts[0])!r})"
            )
        shapes.setdefault(tuple(_hive_pair(p)[0] for p in folders) if folders and "=" in folders[0] else None, name)
    if len(shapes) > 1:
        one, other = list(shapes.values())[:2]
        raise SourceError(
            f"the Parquet files under {str(root)!r} mix folder layouts ({one!r} vs {other!r}); put every file "
            "directly in the folder (or in plain subfolders), or every file under the same hive folders key=value/ "
            "(e.g. date=2024-03-01/)"
        )
    hive_keys: tuple[str, ...] = ()
    (keys,) = shapes
    if keys:
        hive_keys = keys
        kind = "parquet-hive" if kind == "parquet-folder" else kind
        if HIVE_DATE in keys:
            for name in names:
                value = dict(_hive_pair(p) for p in Path(name).parts[:-1])[HIVE_DATE]
                try:
                    check_partition(value)
                except PartitionError as exc:
                    raise SourceError(
                        f"hive folder {HIVE_DATE}={value} in {str(root)!r} is not a date ({exc}); name the folders "
                        f"{HIVE_DATE}=YYYY-MM-DD, e.g. {HIVE_DATE}=2024-03-01"
                    ) from exc
    ignored = tuple(f.relative_to(root).as_posix() for f in others)
    return Layout(
        kind=kind, root=root, files=tuple(parquet), names=names, hive_keys=hive_keys, ignored=ignored, given=given
    )


def _unrecognised(root: Path, files: list[Path]) -> str:
    """One line: each layout looked for in `root` with the file it expects, and a few of the names found."""
    entries = sorted(root.iterdir(), key=lambda p: p.name)
    shown = [f"{p.name}/" if p.is_dir() else p.name for p in entries[:_SHOWN]]
    found = ", ".join(shown) + (f" … ({len(entries)} entries)" if len(entries) > _SHOWN else "") or "nothing"
    csvs = [f for f in files if f.suffix.lower() == ".csv"]
    hint = (
        f"; {len(csvs)} CSV files are there, but a folder of CSV files is not a layout: pass one file, "
        "--data FILE.csv, or convert them to Parquet"
        if csvs
        else ""
    )
    return (
        f"{str(root)!r} holds no log layout recdo reads. Looked for: a `recdo simulate` folder "
        f"({SIMULATION_LOG} and {SIMULATION_TRUTH}); an Open Bandit directory (<policy>/<campaign>/<campaign>.csv, "
        "e.g. random/all/all.csv); Parquet files (*.parquet, or in hive folders such as date=2024-03-01/*.parquet). "
        f"Found: {found}{hint}"
    )
