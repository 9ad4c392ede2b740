"""Score a Parquet log of any length: train on its sample, then read, score and write it batch by batch."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.catalogue import CatalogueInputs, score_catalogue
from scoring.config import ScorerConfig
from scoring.predict import SCORE_CACHE_ENTRIES, RowScorer
from scoring.sample import iter_batches, log_dataset, read_sample
from scoring.text import row_parts
from scoring.train import (
    _PROCESS_STATE,
    STREAM_ROWS,
    UNSAMPLED,
    check_streamable,
    deterministic_run,
    fit_scorer,
    sample_metrics,
    train_and_score,
)


@dataclass(frozen=True)
class ScoredLog:
    """Where the scored log (every input column, `score` and `split`) was written, and the scorer's figures."""

    path: str
    n_rows: int
    metrics: dict[str, float]
    backbone: str
    notes: tuple[str, ...] = field(default=())
    catalogue: str | None = None  # catalogue.npz beside the scored log (scoring.catalogue), when one was made
    catalogue_note: str | None = None  # why there is none


def score_log(
    clean_path: str,
    out_path: str,
    outcome: str,
    config: ScorerConfig,
    work_dir: Path,
    *,
    batch_rows: int = STREAM_ROWS,
    cache_entries: int = SCORE_CACHE_ENTRIES,
) -> ScoredLog:
    """Train the scorer on clean_path's log (a Parquet file or folder) and write it with P(outcome) to out_path.

    A log of at most config.train_rows rows is read whole and handed to train_and_score, which trains on every row.
    A longer one is never held whole: its training sample is read in two column-light passes (scoring.sample), then
    the log is read in record batches of batch_rows rows, each scored and appended as one row group to a single
    Parquet file (one file: the effect stages' caches key on its content hash), written
    under a temporary name and renamed at the end: a killed run leaves no half file at out_path.
    Memory follows train_rows, batch_rows and cache_entries, not the log's length.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValueError(f"batch_rows must be a positive integer; got {batch_rows!r}; use e.g. {STREAM_ROWS}")
    dataset = log_dataset(clean_path)
    n_rows = dataset.count_rows()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    inputs = CatalogueInputs(outcome)
    if n_rows <= config.train_rows:
        frame = pd.read_parquet(clean_path)
        inputs.add(frame)
        if inputs.reason is not None:  # nothing to score after training: the scorer need not be kept
            result = train_and_score(frame, outcome=outcome, config=config, work_dir=Path(work_dir))
            frame.assign(score=result.scores, split=result.split).to_parquet(out, index=False)
            return ScoredLog(
                str(out), len(frame), dict(result.metrics), result.backbone, result.notes, None, inputs.reason
            )
        with _PROCESS_STATE:
            fitted = fit_scorer(frame, outcome, config, Path(work_dir), keep_scorer=True, cache_entries=cache_entries)
            result = fitted.result
            frame.assign(score=result.scores, split=result.split).to_parquet(out, index=False)
            with deterministic_run(config.seed, quiet=True, threads=fitted.threads):
                catalogue, note = _catalogue(inputs, fitted.scorer, out, config.seed)
        return ScoredLog(str(out), len(frame), dict(result.metrics), result.backbone, result.notes, catalogue, note)
    check_streamable(config, n_rows)
    started = time.perf_counter()
    sample = read_sample(dataset, outcome, config.train_rows, config.seed, batch_rows)
    sample_seconds = time.perf_counter() - started
    with _PROCESS_STATE:  # the whole training run and the scoring that uses its process-wide settings
        fitted = fit_scorer(sample, outcome, config, Path(work_dir), keep_scorer=True, cache_entries=cache_entries)
        scorer = fitted.scorer
        assert scorer is not None, "fit_scorer keeps the scorer when asked to"
        split_of = pd.Series(fitted.result.split, index=pd.Index(sample["event_id"]))
        n_sampled = len(sample)
        del sample
        scoring_started = time.perf_counter()
        schema = dataset.schema.append(pa.field("score", pa.float64())).append(pa.field("split", pa.string()))
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            with (
                deterministic_run(config.seed, quiet=True, threads=fitted.threads),
                pq.ParquetWriter(tmp, schema) as writer,
            ):
                for batch in iter_batches(dataset, batch_rows):
                    frame = batch.to_pandas()
                    parts = row_parts(frame, exclude=(outcome,))  # one text per row, for the scores and the catalogue
                    inputs.add(frame, parts)
                    scores = scorer.scores(frame, outcome, parts)
                    split = split_of.reindex(frame["event_id"]).fillna(UNSAMPLED).to_numpy(dtype=object)
                    columns = [*batch.columns, pa.array(scores, pa.float64()), pa.array(split, pa.string())]
                    writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
            tmp.replace(out)
            with deterministic_run(config.seed, quiet=True, threads=fitted.threads):
                catalogue, note = _catalogue(inputs, scorer, out, config.seed)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    metrics = {**fitted.result.metrics, **sample_metrics(n_sampled, scorer)}
    metrics.update(
        sample_seconds=sample_seconds,
        score_seconds=time.perf_counter() - scoring_started,
        seconds=time.perf_counter() - started,
    )
    return ScoredLog(str(out), n_rows, metrics, fitted.result.backbone, fitted.result.notes, catalogue, note)


def _catalogue(inputs: CatalogueInputs, scorer: RowScorer, out: Path, seed: int) -> tuple[str | None, str | None]:
    """(catalogue.npz beside `out`, None), or (None, why not): every (user context, item) scored once."""
    if inputs.reason is not None:
        return None, inputs.reason
    path = out.with_name("catalogue.npz")
    score_catalogue(inputs, scorer, seed=seed).save(path)
    return str(path), None
