"""A fitted scorer applied to any rows: each distinct input scored once per batch, a bounded cache across batches."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from scoring.calibrate import Calibrator
from scoring.data import encode
from scoring.embed import encode_texts
from scoring.model import YES_NO_PROMPT
from scoring.text import SEP, row_parts

# Distinct inputs whose logit is kept from one batch to the next. Rows repeat the same (user context, item) input
# many times and mostly close together in time, so a least-recently-used cache of this size catches nearly all
# repeats while its memory stays fixed (~60 MB of keys) however many distinct inputs the log holds; a plain dict
# would grow with the log. Within a batch every distinct input is scored once whatever the cache holds.
SCORE_CACHE_ENTRIES = 200_000
EMBED_CACHE_BYTES = 256 << 20  # frozen mode: text embeddings kept across batches (~170k MiniLM vectors)
INFER_ROWS = 1024  # distinct inputs per forward pass when scoring


class LRU:
    """A mapping that keeps its `capacity` most recently used keys."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"cache capacity must be at least 1; got {capacity!r}; use e.g. {SCORE_CACHE_ENTRIES}")
        self.capacity = capacity
        self._data: OrderedDict[str, object] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> object | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: str, value: object) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)


@dataclass
class ScoreCounts:
    """What scoring did: rows scored, distinct inputs put through the network, and repeats the cache answered."""

    rows: int = 0
    inputs_scored: int = 0  # distinct inputs put through the network
    cache_hits: int = 0  # a batch's distinct inputs answered by the cache (scored in an earlier batch)
    texts_encoded: int = 0  # frozen mode: texts the backbone embedded while scoring

    def as_metrics(self) -> dict[str, float]:
        return {f"score_{k}": float(v) for k, v in self.__dict__.items()}


@dataclass
class RowScorer:
    """Calibrated P(outcome) of log rows under a trained relevance network, in inference mode.

    mode "frozen": `net` is an EmbeddingHead over the frozen `backbone`'s embeddings of the user and item sides;
    one forward of the head per batch over the batch's distinct (user, item) pairs, gathered from cached vectors.
    Otherwise `net` is a RelevanceNet over the tokenised row text.
    """

    net: nn.Module
    calibrator: Calibrator
    tokenizer: PreTrainedTokenizerBase
    mode: str
    max_length: int
    yes_no: bool = False
    backbone: PreTrainedModel | None = None  # frozen mode
    pooling: str = "mean"
    precision: str = "32-true"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    cache_entries: int = SCORE_CACHE_ENTRIES
    counts: ScoreCounts = field(default_factory=ScoreCounts)

    def __post_init__(self) -> None:
        self._cache = LRU(self.cache_entries)
        width = int(self.backbone.config.hidden_size) if self.backbone is not None else 1
        self._vectors = LRU(max(1, EMBED_CACHE_BYTES // (4 * width)))

    def remember_vectors(self, texts: list[str], vectors: np.ndarray) -> None:
        """Seed the embedding cache with vectors already computed (the training rows'), up to its capacity."""
        seen: set[str] = set()
        for text, vector in zip(texts, vectors):
            if text not in seen and len(seen) < self._vectors.capacity:
                seen.add(text)
                self._vectors.put(text, np.array(vector, dtype=np.float32))  # a copy: never pin the whole matrix

    def scores(self, frame: pd.DataFrame, outcome: str, parts: tuple[list[str], list[str]] | None = None) -> np.ndarray:
        """P(outcome) per row of `frame`, in row order (float64); `parts`: its `row_parts`, when already made."""
        return self.calibrator(self.logits(*(parts if parts is not None else row_parts(frame, exclude=(outcome,)))))

    def logits(self, user_part: list[str], item_part: list[str]) -> np.ndarray:
        """The network's logit per row (float64); each distinct input goes through the network at most once."""
        if self.mode == "frozen":
            keys = [f"{u}\x1f{i}" for u, i in zip(user_part, item_part)]
        else:
            keys = [f"{u} {SEP} {i}".strip() for u, i in zip(user_part, item_part)]
            if self.yes_no:
                keys = [f"{k} {YES_NO_PROMPT}" for k in keys]
        index: dict[str, int] = {}
        rows = np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64, count=len(keys))
        unique = list(index)
        values = np.empty(len(unique), dtype=np.float64)
        todo = []
        for k, key in enumerate(unique):
            hit = self._cache.get(key)
            if hit is None:
                todo.append(k)
            else:
                values[k] = hit
        if todo:
            fresh = self._forward([unique[k] for k in todo])
            values[todo] = fresh
            for k, value in zip(todo, fresh.tolist()):
                self._cache.put(unique[k], value)
        self.counts.rows += len(keys)
        self.counts.inputs_scored += len(todo)
        self.counts.cache_hits += len(unique) - len(todo)
        return values[rows]

    def embed(self, texts: list[str]) -> np.ndarray:
        """The frozen backbone's vector of each text, (len(texts), H); texts met before are not encoded again."""
        if self.mode != "frozen":
            raise ValueError(f"embed needs a frozen backbone; this scorer's mode is {self.mode!r}")
        with torch.inference_mode(), self._autocast():
            return self._embed(texts)

    def _forward(self, keys: list[str]) -> np.ndarray:
        was_training = self.net.training
        self.net.eval()
        try:
            with torch.inference_mode(), self._autocast():
                if self.mode == "frozen":
                    return self._frozen([k.split("\x1f", 1) for k in keys])
                return self._tokens(keys)
        finally:
            self.net.train(was_training)

    def _tokens(self, texts: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), INFER_ROWS):
            chunk = texts[start : start + INFER_ROWS]
            # Every forward has the same shape (the last chunk is padded with repeats): kernels pick their blocking
            # by shape, so a text's logit is then the same bits whichever batch, file layout or cache state it met.
            encoded = encode(self.tokenizer, chunk + [chunk[-1]] * (INFER_ROWS - len(chunk)), self.max_length)
            logits = self.net(
                input_ids=encoded.input_ids.to(self.device), attention_mask=encoded.attention_mask.to(self.device)
            )
            out.append(logits.float().cpu().numpy()[: len(chunk)])
        return np.concatenate(out).astype(np.float64)

    def _frozen(self, pairs: list[list[str]]) -> np.ndarray:
        """One head forward over the pairs' gathered embeddings: (P, H) user and item matrices."""
        sides: dict[str, int] = {}
        user_rows = np.array([sides.setdefault(u, len(sides)) for u, _ in pairs], dtype=np.int64)
        item_rows = np.array([sides.setdefault(i, len(sides)) for _, i in pairs], dtype=np.int64)
        table = torch.from_numpy(self._embed(list(sides))).to(self.device)  # (S, H): each distinct side text once
        pad = (-len(pairs)) % INFER_ROWS  # rows padded to a multiple of INFER_ROWS, for the reason _tokens gives
        user_rows, item_rows = (np.concatenate([r, np.repeat(r[-1:], pad)]) for r in (user_rows, item_rows))
        logits = self.net(user_vec=table[user_rows], item_vec=table[item_rows])  # (P + pad,): one pass of the head
        return logits.float().cpu().numpy()[: len(pairs)].astype(np.float64)

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors: list[np.ndarray | None] = [self._vectors.get(t) for t in texts]  # type: ignore[misc]
        todo = {t: t for t, v in zip(texts, vectors) if v is None}
        if todo:
            assert self.backbone is not None, "frozen mode scores through its backbone"
            fresh = encode_texts(self.backbone, self.tokenizer, todo, self.pooling, self.max_length)
            self.counts.texts_encoded += len(fresh)
            for text, vector in fresh.items():
                self._vectors.put(text, vector)
            vectors = [fresh[t] if v is None else v for t, v in zip(texts, vectors)]
        return np.stack(vectors).astype(np.float32)

    def _autocast(self) -> contextlib.AbstractContextManager:
        kinds = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
        if self.precision in kinds and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=kinds[self.precision])
        return contextlib.nullcontext()


def scoring_device(accelerator: str) -> torch.device:
    """Where scoring runs: the GPU Lightning would pick for `accelerator`, else the CPU."""
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    if accelerator == "mps" and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def slices(frame: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    """`frame` in consecutive slices of at most `rows` rows."""
    for start in range(0, len(frame), rows):
        yield frame.iloc[start : start + rows]
