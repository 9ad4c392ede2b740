"""Synthetic canonical logs as Parquet part files, written in batches, with bad rows of every kind the gate checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from expectations import GateConfig

CONFIG = GateConfig(treatment="strategy")
START = np.datetime64("2024-03-01T00:00:00", "s")

# One bad row in every BAD_EVERY rows (0.1%), kinds taken in turn; None: an odd value every rule accepts.
BAD_EVERY = 1000
KINDS: tuple[tuple[str, str | None], ...] = (
    ("null user_id", "user_id not null"),
    ("null item_id", "item_id not null"),
    ("click=2", "click in {0,1}"),
    ("null click", "click not null"),
    ("null strategy", "strategy not null"),
    ("position=-1", "position >= 0"),
    ("position=1.5", "position is an integer"),
    ("null position", "position not null"),
    ("propensity=0", "propensity in (0,1]"),
    ("propensity=1.25", "propensity in (0,1]"),
    ("null propensity", "propensity not null"),
    ("NaN propensity", "propensity not null"),
    ("null ts", "ts not null"),
    ("ts='not a time'", "ts parseable"),
    ("ts='01/02/2024'", "ts parseable"),
    ("repeated event_id", "event_id unique"),
    ("null event_id", "event_id not null"),
    ("click=2, position=-1", "click in {0,1}; position >= 0"),
    ("ts='2024-03' (pandas reads it)", None),
    ("ts with +02:00 offset", None),
    ("null user_segment", "user_segment not null"),
    ("NaN user_score", "user_score not null"),
    ("strategy with NUL", "strategy has no control characters"),
    ("user_id with \\x1f", "user_id has no control characters"),
    ("ts in 2104", "ts not in the future"),
)


def bad_kind(row: int) -> tuple[str, str | None] | None:
    """The kind of bad value row `row` gets, or None for a clean row."""
    if row % BAD_EVERY != BAD_EVERY // 2:
        return None
    return KINDS[(row // BAD_EVERY) % len(KINDS)]


def event_id(row: int) -> str:
    return f"e{row:010d}"


def _batch(start: int, stop: int, rows_per_file: int, seed: int) -> pa.RecordBatch:
    rng = np.random.default_rng([seed, start])
    rows = np.arange(start, stop)
    n = len(rows)
    ids = np.char.mod("e%010d", rows).astype(object)
    ts = (np.datetime_as_string(START + rows.astype("timedelta64[s]"), unit="s").astype(object) + "Z").astype(object)
    users = np.char.mod("u%d", rows % 50_000).astype(object)
    cols: dict[str, np.ndarray] = {
        "event_id": ids,
        "ts": ts,
        "user_id": users,
        "item_id": rng.integers(0, 5_000, n).astype(object),
        "click": rng.integers(0, 2, n).astype(object),
        "strategy": rng.choice(np.array(["random", "bts", "popular"], dtype=object), n),
        "position": rng.integers(0, 10, n).astype(np.float64).astype(object),
        "propensity": rng.uniform(0.01, 1.0, n).astype(object),
        "user_age": rng.integers(18, 80, n).astype(object),
        "user_segment": rng.choice(np.array(["new", "casual", "heavy"], dtype=object), n),
        "user_score": rng.normal(0, 1, n).astype(object),
    }
    for i in np.flatnonzero(rows % BAD_EVERY == BAD_EVERY // 2):
        row = int(rows[i])
        name = bad_kind(row)[0]  # type: ignore[index]
        if name == "repeated event_id":  # a clean row of the previous file (row 0, in the first file)
            cols["event_id"][i] = event_id(max(0, row - rows_per_file - 1))
        elif name.startswith("null "):
            cols[name.split()[1]][i] = None
        elif name.startswith("NaN "):
            cols[name.split()[1]][i] = float("nan")
        elif name == "strategy with NUL":
            cols["strategy"][i] += "\x00"  # "bts\x00" would be a phantom arm beside "bts"
        elif name.startswith("user_id with"):
            cols["user_id"][i] += "\x1f"
        elif name == "ts in 2104":
            cols["ts"][i] = "2104-03-01T00:00:00Z"
        elif name.startswith("ts="):
            cols["ts"][i] = name[4:].split("'")[0]
        elif name == "ts with +02:00 offset":
            cols["ts"][i] = str(cols["ts"][i])[:-1] + "+02:00"
        else:
            for assignment in name.split(", "):
                column, value = assignment.split("=")
                cols[column][i] = float(value) if "." in value else int(value)
    types = {
        "event_id": pa.string(),
        "ts": pa.string(),
        "user_id": pa.string(),
        "item_id": pa.int64(),
        "click": pa.int64(),
        "strategy": pa.string(),
        "position": pa.float64(),
        "propensity": pa.float64(),
        "user_age": pa.int64(),
        "user_segment": pa.string(),
        "user_score": pa.float64(),
    }
    # from_pandas=False: a NaN propensity stays NaN in the file (pandas calls it missing; DuckDB must too).
    arrays = [pa.array(list(values), type=types[name], from_pandas=False) for name, values in cols.items()]
    return pa.record_batch(arrays, names=list(cols))


def write_log(folder: str | Path, n_rows: int, n_files: int, *, seed: int = 0, batch_rows: int = 200_000) -> list[Path]:
    """Write `n_rows` rows as `n_files` part files (part-00000.parquet, ...), `batch_rows` rows in memory at a time."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    per_file = -(-n_rows // n_files)
    paths = []
    for k in range(n_files):
        first, last = k * per_file, min(n_rows, (k + 1) * per_file)
        path = out / f"part-{k:05d}.parquet"
        writer = None
        for start in range(first, last, batch_rows):
            batch = _batch(start, min(last, start + batch_rows), per_file, seed)
            writer = writer or pq.ParquetWriter(path, batch.schema)
            writer.write_batch(batch)
        if writer is not None:
            writer.close()
            paths.append(path)
    return paths
