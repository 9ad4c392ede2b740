"""A simulated log made in batches: each batch's sorted seconds, the truth over batches, the log a batch at a time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from causal.sim.truth import TruthRow
from common.files import atomic_path


def combine_truth(parts: list[tuple[int, tuple[TruthRow, ...]]]) -> tuple[TruthRow, ...]:
    """The truth of the whole log from each batch's (impressions, truth): means (and ATEs) weighted by size."""
    if len(parts) == 1:
        return parts[0][1]
    total = sum(n for n, _ in parts)
    first = parts[0][1]
    values = [sum(n * truth[j].value for n, truth in parts) / total for j in range(len(first))]
    return tuple(replace(row, value=float(v)) for row, v in zip(first, values))


def sorted_seconds(lo: int, hi: int, day_counts: np.ndarray, day_seeds: list) -> np.ndarray:
    """Seconds of impressions lo..hi-1 of the whole log's sorted seconds, one day's per-second counts at a time."""
    ends = np.cumsum(day_counts)
    out = []
    for day in range(int(np.searchsorted(ends, lo, side="right")), len(day_counts)):
        start = int(ends[day] - day_counts[day])
        if start >= hi:
            break
        a, b = max(lo, start) - start, min(hi, int(ends[day])) - start
        if b <= a:
            continue
        # the same counts whichever batch asks: a fresh generator from the day's own seed
        counts = np.random.default_rng(day_seeds[day]).multinomial(day_counts[day], np.full(86_400, 1.0 / 86_400))
        out.append(np.searchsorted(np.cumsum(counts), np.arange(a, b), side="right") + day * 86_400)
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def write_frames(frames: Iterable[pd.DataFrame], path: Path) -> None:
    """One Parquet file from frames of the same columns, a row group at a time; written, then renamed."""
    with atomic_path(path) as tmp:
        writer = None
        try:
            for frame in frames:
                table = pa.Table.from_pandas(frame, schema=writer.schema if writer else None, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
