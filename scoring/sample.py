"""The training sample of a log too long to train on whole: seeded, stratified by outcome, blind to row order."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from scoring.data import check_outcome

_SALT = "train-sample"  # another stream than the split's row_uniforms: which rows are sampled says nothing of val


def sample_uniforms(event_ids: pd.Series, seed: int) -> np.ndarray:
    """A number in [0, 1) per row from (seed, event_id) alone: the same sample whatever order the rows come in."""
    out = np.empty(len(event_ids), dtype=np.float64)
    for i, event_id in enumerate(event_ids.astype(str).tolist()):
        digest = hashlib.blake2b(f"{_SALT}\x1f{seed}\x1f{event_id}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def class_quotas(counts: dict[float, int], n: int) -> dict[float, int]:
    """Rows to sample per outcome class: n in all, in the log's class shares (largest remainder).

    A class with at least two rows keeps two (a train and a val row), taken from the largest class, so a rare
    outcome never vanishes from the sample; every class is kept whole when the log has at most n rows.
    """
    total = sum(counts.values())
    if total <= n:
        return dict(counts)
    exact = {c: n * k / total for c, k in counts.items()}
    quota = {c: math.floor(x) for c, x in exact.items()}
    for c in sorted(counts, key=lambda c: (quota[c] - exact[c], c))[: n - sum(quota.values())]:
        quota[c] += 1
    for c in sorted(counts):
        need = min(counts[c], 2) - quota[c]
        biggest = max(quota, key=lambda k: (quota[k], k))
        if need > 0 and biggest != c and quota[biggest] - need >= min(counts[biggest], 2):
            quota[c] += need
            quota[biggest] -= need
    return quota


def sample_mask(event_ids: pd.Series, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """True for the at most n sampled rows: in each class, its quota of rows with the lowest sample uniform."""
    y = np.asarray(labels)
    values, counts = np.unique(y, return_counts=True)
    quota = class_quotas({float(v): int(k) for v, k in zip(values, counts)}, n)
    u = sample_uniforms(event_ids, seed)
    ids = event_ids.astype(str).to_numpy()
    keep = np.zeros(len(y), dtype=bool)
    for value in values:
        rows = np.flatnonzero(y == value)
        order = np.lexsort((ids[rows], u[rows]))  # ties in u are astronomically rare; the id breaks them
        keep[rows[order[: quota[float(value)]]]] = True
    return keep


def _smallest(u: np.ndarray, ids: np.ndarray, pos: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """The n candidates with the lowest (uniform, id), unordered: a partition, the ids compared only on a tie."""
    if u.size <= n:
        return u, ids, pos
    cut = np.partition(u, n - 1)[n - 1]
    below = np.flatnonzero(u < cut)
    tied = np.flatnonzero(u == cut)
    keep = np.concatenate([below, tied[np.argsort(ids[tied], kind="stable")][: n - below.size]])
    return u[keep], ids[keep], pos[keep]


def log_dataset(path: str) -> ds.Dataset:
    """The Parquet log at path (one file, or a folder of Parquet files) as a pyarrow dataset, nothing read yet."""
    try:
        return ds.dataset(path, format="parquet")
    except (FileNotFoundError, pa.ArrowInvalid) as exc:
        raise FileNotFoundError(
            f"no Parquet log at {path!r} ({type(exc).__name__}: {exc}); pass a Parquet file or a folder of them"
        ) from exc


def iter_batches(dataset: ds.Dataset, batch_rows: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of at most batch_rows rows, file by file in the dataset's (sorted) file order, rows in order.

    Each file is read through its own Parquet reader without pre-buffering: memory holds one batch and the pages
    behind it, not the file's row group (the dataset scanner's read-ahead held ~400 MB for a 1M-row row group).
    Every batch has the dataset's schema (or its `columns`), whichever file it came from.
    """
    schema = dataset.schema if columns is None else pa.schema([dataset.schema.field(c) for c in columns])
    for path in dataset.files:
        with dataset.filesystem.open_input_file(path) as source:
            reader = pq.ParquetFile(source, pre_buffer=False)
            for batch in reader.iter_batches(batch_size=batch_rows, columns=schema.names, use_pandas_metadata=False):
                if batch.num_rows:
                    arrays = [batch.column(f.name).cast(f.type) for f in schema]
                    yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def read_sample(dataset: ds.Dataset, outcome: str, n: int, seed: int, batch_rows: int) -> pd.DataFrame:
    """The rows sample_mask picks, read in two streaming passes; memory grows with n and batch_rows, not the log.

    First pass: event_id and outcome only, keeping each class's n best candidates; second: the chosen rows' columns.
    """
    names = set(dataset.schema.names)
    if "event_id" not in names:
        raise ValueError(
            f"the log has no 'event_id' column (columns: {sorted(names)}); "
            "load it through a sources loader, which adds a unique event_id per row"
        )
    if outcome not in names:
        raise ValueError(f"outcome column {outcome!r} is not in the log; columns: {sorted(names)}")
    candidates: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # class -> (u, id, position)
    counts: dict[float, int] = {}
    offset = 0
    for batch in iter_batches(dataset, batch_rows, columns=["event_id", outcome]):
        frame = batch.to_pandas()
        y = check_outcome(frame[outcome], outcome)
        u = sample_uniforms(frame["event_id"], seed)
        ids = frame["event_id"].astype(str).to_numpy()
        positions = np.arange(offset, offset + len(frame), dtype=np.int64)
        offset += len(frame)
        for value in np.unique(y):
            rows = y == value
            key = float(value)
            counts[key] = counts.get(key, 0) + int(rows.sum())
            kept = candidates.get(key, (np.empty(0), np.empty(0, dtype=object), np.empty(0, dtype=np.int64)))
            candidates[key] = _smallest(*(np.concatenate([a, b[rows]]) for a, b in zip(kept, (u, ids, positions))), n)
    quota = class_quotas(counts, n)
    picks = [cpos[np.lexsort((cid, cu))[: quota[c]]] for c, (cu, cid, cpos) in sorted(candidates.items())]
    chosen = np.sort(np.concatenate(picks)) if picks else np.empty(0, dtype=np.int64)  # sample_mask's rows
    parts, offset = [], 0
    for batch in iter_batches(dataset, batch_rows):
        hit = chosen[(chosen >= offset) & (chosen < offset + batch.num_rows)] - offset
        if hit.size:
            parts.append(batch.take(pa.array(hit)))
        offset += batch.num_rows
    table = pa.Table.from_batches(parts, schema=dataset.schema) if parts else dataset.schema.empty_table()
    return table.to_pandas().reset_index(drop=True)
