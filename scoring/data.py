"""The log's checked 0/1 labels, tokenised rows, the hash-based train/val split and the DataModule serving them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class Encoded:
    """Token ids and attention mask of every row, padded to one length: both (N, T)."""

    input_ids: Tensor
    attention_mask: Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def check_log(df: pd.DataFrame, outcome: str) -> np.ndarray:
    """The outcome as float32 0/1 per row, after checking the log has unique event ids and a 0/1 outcome."""
    if "event_id" not in df.columns:
        raise ValueError(
            f"the log has no 'event_id' column (columns: {sorted(map(str, df.columns))}); "
            "load it through a sources loader, which adds a unique event_id per row"
        )
    if not df["event_id"].is_unique:
        dupes = df["event_id"][df["event_id"].duplicated()].head(3).tolist()
        raise ValueError(f"event_id must be unique; repeated values include {dupes}; deduplicate the log first")
    if outcome not in df.columns:
        raise ValueError(f"outcome column {outcome!r} is not in the log; columns: {sorted(map(str, df.columns))}")
    if len(df) == 0:
        raise ValueError("the log is empty; pass at least a few rows of each outcome class")
    return check_outcome(df[outcome], outcome)


def check_outcome(column: pd.Series, outcome: str) -> np.ndarray:
    """The outcome column as float32 0/1, after checking every value is 0 or 1."""
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() | ~values.isin([0, 1])
    if bad.any():
        examples = column[bad].head(3).tolist()
        raise ValueError(
            f"outcome {outcome!r} must be 0/1 for every row; {int(bad.sum())} rows are not, e.g. {examples}; "
            "binarise it (e.g. rating >= 4) or drop those rows"
        )
    return values.to_numpy(dtype=np.float32)


def encode(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int) -> Encoded:
    """Tokenise every text once, truncated and padded to max_length (item text is cut first: it comes last).

    Logs repeat the same user-item text many times (20,000 OBD rows hold ~7,400 distinct texts), so each distinct
    text is tokenised once and the rows gather their copy.
    """
    index: dict[str, int] = {}
    rows = torch.tensor([index.setdefault(text, len(index)) for text in texts], dtype=torch.long)  # (N,)
    distinct = list(index)
    ids_mask = _backend_batch(tokenizer, distinct, max_length) or _batch(tokenizer, distinct, max_length)
    return Encoded(input_ids=ids_mask[0][rows], attention_mask=ids_mask[1][rows])  # (U, T) -> (N, T)


def _batch(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int) -> tuple[Tensor, Tensor]:
    """(input_ids, attention_mask), both (len(texts), max_length) int64, from the tokenizer's own call."""
    batch = tokenizer(
        texts,
        padding="max_length",
        truncation=True,
        max_length=max_length,
        return_attention_mask=True,
        return_token_type_ids=False,
        return_tensors="pt",
    )
    return batch["input_ids"].long(), batch["attention_mask"].long()


def _backend_batch(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int
) -> tuple[Tensor, Tensor] | None:
    """_batch's arrays straight from the Rust tokenizer behind a fast tokenizer; None where that is not vouched for.

    The tokenizer's own call spends most of its time turning each text's encoding into Python lists: 0.58 s for
    the 11,092 distinct texts of 50,000 simulated rows, against 0.21 s this way. Its call on the first text sets
    the backend's truncation and padding; the backend then encodes them all in one batch, and the first text must
    come out the same both ways, or the tokenizer's own call does the whole batch.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or len(texts) < 2:
        return None
    first = _batch(tokenizer, texts[:1], max_length)
    padding, truncation = backend.padding, backend.truncation
    if not padding or not truncation or padding.get("length") != max_length or truncation["max_length"] != max_length:
        return None
    encodings = backend.encode_batch(texts, add_special_tokens=True)
    ids = torch.from_numpy(np.array([e.ids for e in encodings], dtype=np.int64))
    mask = torch.from_numpy(np.array([e.attention_mask for e in encodings], dtype=np.int64))
    if ids.shape != (len(texts), max_length) or not (
        torch.equal(ids[:1], first[0]) and torch.equal(mask[:1], first[1])
    ):
        return None
    return ids, mask


def row_uniforms(event_ids: pd.Series, seed: int) -> np.ndarray:
    """A number in [0, 1) per row that depends only on (seed, event_id): stable across runs, processes and order."""
    out = np.empty(len(event_ids), dtype=np.float64)
    for i, event_id in enumerate(event_ids.astype(str).tolist()):
        digest = hashlib.blake2b(f"{seed}\x1f{event_id}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def canonical_order(event_ids: pd.Series, seed: int) -> np.ndarray:
    """Row indices sorted by (hash uniform, event_id): a permutation that ignores the order rows arrived in."""
    return np.lexsort((event_ids.astype(str).to_numpy(), row_uniforms(event_ids, seed)))


def split_rows(event_ids: pd.Series, labels: np.ndarray, seed: int, val_fraction: float) -> np.ndarray:
    """True for val rows: in each outcome class, the round(val_fraction * n_class) rows with the lowest hash uniform.

    Exactly stratified (a class of 2+ rows and val_fraction > 0 puts at least one row on each side), and a function
    of (seed, event_id, the class's rows) only: row order never matters, so a re-run on the same log gives the same
    split row for row.
    """
    u = row_uniforms(event_ids, seed)
    y = np.asarray(labels)
    is_val = np.zeros(len(u), dtype=bool)
    if val_fraction <= 0:
        return is_val
    for value in np.unique(y):
        rows = np.flatnonzero(y == value)
        n_val = int(np.floor(val_fraction * rows.size + 0.5))
        if rows.size >= 2:
            n_val = min(max(n_val, 1), rows.size - 1)
        # Ties in u are astronomically rare; the event_id string breaks them so the order is still total.
        order = np.lexsort((event_ids.iloc[rows].astype(str).to_numpy(), u[rows]))
        is_val[rows[order[:n_val]]] = True
    return is_val


class EpochBatches:
    """Batches of named tensors whose order is a function of (seed, epoch) alone, and that can resume mid-epoch.

    Lightning calls `sampler.set_epoch(epoch)` before each epoch; `resume_at(epoch, done)` (from a checkpoint)
    makes the next pass over that epoch skip the `done` batches already trained on, so a resumed run sees exactly
    the batches an uninterrupted run would have seen. Under DDP `shard(rank, world_size)` serves one rank's share.
    """

    def __init__(self, tensors: dict[str, Tensor], batch_size: int, seed: int, shuffle: bool) -> None:
        self.tensors = tensors
        self.n = int(next(iter(tensors.values())).shape[0])
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.rank = 0
        self.world_size = 1
        self._resume: tuple[int, int] | None = None
        self.sampler = self
        self.batch_sampler = None  # Lightning inspects loaders for a shuffling sampler

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, done: int) -> None:
        self._resume = (epoch, done)

    def shard(self, rank: int, world_size: int) -> None:
        """Serve rank `rank`'s ceil(n / world_size) rows of each epoch's order (DistributedSampler's rule)."""
        if not 0 <= rank < world_size:
            raise ValueError(
                f"rank must lie in [0, world_size); got rank={rank}, world_size={world_size}; "
                "pass the trainer's global_rank and world_size"
            )
        self.rank, self.world_size = rank, world_size

    @property
    def rows_per_shard(self) -> int:
        """Rows one rank serves per epoch; equal on every rank, so every rank runs the same number of steps."""
        return -(-self.n // self.world_size)

    def __len__(self) -> int:
        return -(-self.rows_per_shard // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        if self.world_size > 1 and self.n:
            # Unequal shards would leave one rank waiting in an all-reduce forever (DDP deadlock): wrap the order
            # around to world_size * rows_per_shard rows, as DistributedSampler(drop_last=False) does, then deal
            # them out; the < world_size repeated rows are deduplicated wherever rows are gathered.
            padded = order[torch.arange(self.rows_per_shard * self.world_size) % self.n]
            order = padded[self.rank :: self.world_size]  # (rows_per_shard,)
        skip = 0
        if self._resume is not None and self._resume[0] == self.epoch:
            skip = self._resume[1]
        self._resume = None
        for b in range(skip, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield {name: t[idx] for name, t in self.tensors.items()}


def distinct_rows(tensors: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
    """One copy of each distinct row of the integer model inputs (the first row's other columns with it), and each
    row's index into them; (tensors, None) when an input is not integer (embedding vectors: nothing to gain).
    """
    inputs = [t for name, t in tensors.items() if name != "label"]
    n = int(next(iter(tensors.values())).shape[0])
    if not inputs or n == 0 or any(t.is_floating_point() or t.is_complex() for t in inputs):
        return tensors, None
    key = torch.cat([t.reshape(n, -1).long() for t in inputs], dim=1)  # (N, sum of widths)
    _, inverse = torch.unique(key, dim=0, return_inverse=True)  # (N,) into the sorted distinct rows
    first = torch.full((int(inverse.max()) + 1,), n, dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(n), reduce="amin")  # (U,) each distinct row's first row
    return {name: t[first] for name, t in tensors.items()}, inverse


class RowsDataModule(L.LightningDataModule):
    """Train/val batches over the split and predict batches over each distinct input, as dicts of named tensors.

    Every batch also carries "label". After predicting, `predict_inverse` (when not None) maps each row to its
    distinct input's prediction.

    Val and predict batches also carry "row" (the row's index in its set), so predictions gathered from several
    devices go back to their rows. Each loader is sharded by the attached trainer's rank.
    """

    def __init__(
        self, inputs: dict[str, Tensor], labels: np.ndarray, is_val: np.ndarray, batch_size: int, seed: int
    ) -> None:
        super().__init__()
        y = torch.as_tensor(np.asarray(labels, dtype=np.float32))  # (N,)
        val = torch.as_tensor(np.asarray(is_val, dtype=bool))
        everything = {**inputs, "label": y}
        n_val = int(val.sum())
        self.train = EpochBatches({k: v[~val] for k, v in everything.items()}, batch_size, seed, shuffle=True)
        val_rows = {**{k: v[val] for k, v in everything.items()}, "row": torch.arange(n_val)}
        self.val = EpochBatches(val_rows, batch_size, seed, shuffle=False)
        # Logs repeat the same (user context, item) text many times (50,000 simulated rows hold 11,092): each
        # distinct input is predicted once and its rows share the logit. On that log the scores are bit-identical
        # to a pass over every row (a row's output does not depend on its batch-mates here; tests/scoring).
        distinct, self.predict_inverse = distinct_rows(everything)
        self.all = EpochBatches(
            {**distinct, "row": torch.arange(len(distinct["label"]))}, batch_size, seed, shuffle=False
        )

    @property
    def n_val(self) -> int:
        return self.val.n

    def _sharded(self, loader: EpochBatches) -> EpochBatches:
        loader.shard(self.trainer.global_rank, self.trainer.world_size)
        return loader

    def train_dataloader(self) -> EpochBatches:
        return self._sharded(self.train)

    def val_dataloader(self) -> EpochBatches:
        return self._sharded(self.val)

    def predict_dataloader(self) -> EpochBatches:
        return self._sharded(self.all)
