"""Each user's pre-log text history as a `user_text` column of the clean log: states, the leakage rule, batches."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.errors import InputError
from common.files import atomic_path
from scoring.config import AUTO, resolve_backbone
from scoring.text_features import (
    DEFAULT_REPRESENTATION,
    HEADED,
    NO_HISTORY,
    USER_TEXT,
    UserText,
    embed_items,
    user_text_features,
    with_user_text,
)
from sources.base import SourceError
from sources.table import read_frame

_BATCH_ROWS = 100_000  # rows joined and written at a time: memory stays one batch's however long the log


@dataclass(frozen=True)
class UserTextRef:
    """The clean log with its users' text states, and what making them cost."""

    path: str  # the log the scorer and the networks read
    backbone: str  # the encoder of the history texts
    n_users: int  # distinct users in the log
    n_with_text: int  # of them, users with a history row before the cutoff (the rest are "none")
    n_rows: int  # history rows used (ts < cutoff)
    n_texts: int  # distinct history texts
    n_encoded: int  # of them, encoded now
    n_cached: int  # read from WORK_DIR/embeddings
    cutoff: str  # the log's first impression: history at or after it is never read
    seconds: float

    def line(self) -> str:
        """The log line a run shows."""
        return (
            f"user_text: {self.n_with_text} of {self.n_users} users have a text state from {self.n_rows} history rows "
            f"before {self.cutoff} (the rest: 'none'); {self.n_texts} distinct texts by {self.backbone}: "
            f"{self.n_encoded} encoded, {self.n_cached} cached, {self.seconds:.1f} s"
        )


def add_user_text(
    clean_path: str,
    history_path: str,
    out_path: str,
    cache_dir: str,
    *,
    backbone: str = AUTO,
    n_clusters: int = 6,
    seed: int = 0,
    say: Callable[[str], None] = print,
    representation: str = DEFAULT_REPRESENTATION,
    treatment: str | None = None,
) -> UserTextRef:
    """Write clean_path plus `user_text` to out_path: k-means states of each user's history embeddings.

    `representation` is scoring.text_features'. "propensity" and "text_logit" also read the log's `treatment`
    and its other categorical user_* columns (the logger's inputs, never an outcome) to summarise the text for
    what the logger did.

    The cutoff is the log's earliest ts, so only history strictly before the first impression is read (the
    leakage rule of scoring.text_features, checked again by with_user_text on every batch). `backbone`: the
    history encoder; "auto" is the pretrained MiniLM when installed (else the tiny random BERT). Vectors are
    cached under cache_dir, so a second run encodes nothing. The log is read and written in batches.
    """
    started = time.perf_counter()
    encoder = resolve_backbone(backbone, AUTO)[0]
    history = read_history(Path(history_path))
    users, cutoff = _users_and_cutoff(clean_path)
    spent: list = []  # the encoder's counts: user_text_features calls vectors_of once

    def vectors_of(texts: list[str]) -> np.ndarray:
        say(f"user_text: embedding {len(texts)} distinct history texts with {encoder} (cached ones are read)")
        spent.append(embed_items(texts, encoder, Path(cache_dir)))
        return spent[-1].vectors

    extra: dict = {"representation": representation}
    if representation in HEADED:
        if not treatment:
            raise InputError(f"user text representation {representation!r} needs the run's treatment; pass treatment=")
        extra.update(_treatment_log(clean_path, treatment))
    features = user_text_features(history, cutoff, vectors_of, n_clusters, seed, users=users, **extra)
    _write_with_text(clean_path, out_path, features)
    states = features.frame[USER_TEXT]
    return UserTextRef(
        path=str(out_path),
        backbone=encoder,
        n_users=len(states),
        n_with_text=int((states != NO_HISTORY).sum()),
        n_rows=features.n_rows,
        n_texts=features.n_texts,
        n_encoded=spent[0].n_encoded if spent else 0,
        n_cached=spent[0].n_cached if spent else 0,
        cutoff=str(features.cutoff),
        seconds=time.perf_counter() - started,
    )


def read_history(path: Path) -> pd.DataFrame:
    """The history file as a frame; InputError (one line) when it cannot be read or lacks a column."""
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else read_frame(path)[0]
    except (SourceError, OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(
            f"--user-history {str(path)!r} cannot be read as CSV/Parquet ({exc}); pass a file of (user_id, ts, text) "
            "rows, e.g. the user_history.parquet `recdo simulate` writes"
        ) from exc
    missing = [c for c in ("user_id", "ts", "text") if c not in frame.columns]
    if missing:
        raise InputError(
            f"--user-history {str(path)!r} lacks columns {missing} (has {sorted(map(str, frame.columns))}); "
            "fix: name them user_id, ts, text"
        )
    return frame


def _users_and_cutoff(clean_path: str) -> tuple[list[str], pd.Timestamp]:
    """The log's distinct users (first seen first) and its earliest ts, read a batch of two columns at a time."""
    source = pq.ParquetFile(clean_path)
    if USER_TEXT in source.schema_arrow.names:
        raise InputError(
            f"the log already has a {USER_TEXT!r} column, which --user-history would replace; "
            f"fix: rename or drop the log's column, or pass --user-history none"
        )
    users: dict[str, None] = {}
    first = None
    for batch in source.iter_batches(batch_size=_BATCH_ROWS, columns=["user_id", "ts"]):
        users.update(dict.fromkeys(pc.unique(pc.cast(batch.column("user_id"), pa.string())).to_pylist()))
        low = pc.min(batch.column("ts")).as_py()
        first = low if first is None or (low is not None and low < first) else first
    if first is None:
        raise InputError("the gate kept no rows, so no first impression bounds the history; fix the log first")
    return list(users), pd.Timestamp(first)


def _write_with_text(clean_path: str, out_path: str, features: UserText) -> None:
    """clean_path's batches with the user_text column appended (the other columns untouched), written atomically."""
    source = pq.ParquetFile(clean_path)
    schema = source.schema_arrow.append(pa.field(USER_TEXT, pa.string()))
    with atomic_path(out_path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for batch in source.iter_batches(batch_size=_BATCH_ROWS):
            keys = batch.select(["user_id", "ts"]).to_pandas()
            states = with_user_text(keys, features)[USER_TEXT]  # checks the leakage rule again, per batch
            columns = [*batch.columns, pa.array(states.astype(str).to_numpy(), pa.string())]
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))


MAX_COVARIATE_LEVELS = 50  # a user_* column with more values is an id or a number, not a category to one-hot


def _treatment_log(clean_path: str, treatment: str) -> dict:
    """treatment_log, treatment and covariates for the propensity summary: user_id, the treatment, user categories."""
    names = pq.ParquetFile(clean_path).schema_arrow.names
    if treatment not in names:
        raise InputError(f"the log has no treatment column {treatment!r} for the propensity summary of user text")
    candidates = [c for c in names if c.startswith("user_") and c not in ("user_id", USER_TEXT)]
    frame = pq.read_table(clean_path, columns=["user_id", treatment, *candidates]).to_pandas()
    covariates = tuple(c for c in candidates if frame[c].nunique() <= MAX_COVARIATE_LEVELS)
    return {"treatment_log": frame, "treatment": treatment, "covariates": covariates}
