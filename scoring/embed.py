"""Frozen-backbone text embeddings, cached on disk by backbone hash and text hash so a re-run encodes nothing."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from scoring.model import pool


@dataclass(frozen=True)
class Embedded:
    """One vector per input text (input order), and how many distinct texts were encoded vs read from the cache."""

    vectors: np.ndarray  # (N, H) float32
    n_encoded: int
    n_cached: int
    seconds: float


def text_key(text: str, pooling: str, max_length: int) -> str:
    """The cache key of a text: truncation and pooling change the vector, so they are part of it."""
    return hashlib.sha256(f"{pooling}\x1f{max_length}\x1f{text}".encode()).hexdigest()[:32]


def embed_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    *,
    pooling: str,
    max_length: int,
    cache_dir: Path | None,
    batch_size: int = 64,
    progress: bool = False,
) -> Embedded:
    """Pooled last hidden states of `texts` under no_grad; each distinct text is encoded once, ever, per cache_dir.

    cache_dir must already be specific to the backbone (see backbone_fingerprint): entries are keyed by text only.
    Each call that encodes anything writes one new chunk file (written to a temporary name, then renamed), so a
    killed run leaves only whole chunks behind.
    """
    started = time.perf_counter()
    keys = [text_key(t, pooling, max_length) for t in texts]
    cached = _read_cache(cache_dir) if cache_dir is not None else {}
    todo: dict[str, str] = {}
    for key, text in zip(keys, texts):
        if key not in cached and key not in todo:
            todo[key] = text
    fresh: dict[str, np.ndarray] = {}
    if todo:
        fresh = _encode(model, tokenizer, todo, pooling, max_length, batch_size, progress)
        if cache_dir is not None:
            _write_chunk(cache_dir, fresh)
    lookup = {**cached, **fresh}
    width = next(iter(lookup.values())).shape[0] if lookup else int(model.config.hidden_size)
    vectors = np.stack([lookup[k] for k in keys]) if keys else np.zeros((0, width), np.float32)
    return Embedded(vectors.astype(np.float32), len(todo), len(set(keys)) - len(todo), time.perf_counter() - started)


def encode_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    todo: dict[str, str],
    pooling: str,
    max_length: int,
    batch_size: int = 64,
) -> dict[str, np.ndarray]:
    """Pooled embeddings of todo's texts by key, uncached and without a progress bar (a streaming scorer's misses)."""
    return _encode(model, tokenizer, todo, pooling, max_length, batch_size, progress=False)


def _encode(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    todo: dict[str, str],
    pooling: str,
    max_length: int,
    batch_size: int,
    progress: bool,
) -> dict[str, np.ndarray]:
    items = sorted(todo.items(), key=lambda kv: len(kv[1]))  # similar lengths share a batch: little padding
    device = next(model.parameters()).device
    out: dict[str, np.ndarray] = {}
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc="encoding texts", unit="text")
    try:
        with torch.inference_mode():
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                batch = tokenizer(
                    [t for _, t in chunk],
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                    return_token_type_ids=False,
                ).to(device)
                hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                vecs = pool(hidden, batch["attention_mask"], pooling).float().cpu().numpy()  # (B, H)
                out.update({k: v for (k, _), v in zip(chunk, vecs)})
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    return out


def _read_cache(cache_dir: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if not cache_dir.is_dir():
        return out
    for chunk in sorted(cache_dir.glob("chunk-*.npz")):
        with np.load(chunk) as data:
            out.update(zip(data["keys"].tolist(), data["vectors"]))
    return out


def _write_chunk(cache_dir: Path, fresh: dict[str, np.ndarray]) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = sorted(fresh)
    name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
    tmp = cache_dir / f".tmp-{name}-{os.getpid()}.npz"
    np.savez(tmp, keys=np.array(keys), vectors=np.stack([fresh[k] for k in keys]).astype(np.float32))
    tmp.replace(cache_dir / f"chunk-{name}.npz")
