"""Train the scorer on a canonical log and score every row with P(outcome); deterministic for a given seed."""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch

from scoring.backbone import load_backbone
from scoring.config import ScorerConfig, resolve_precision
from scoring.data import ScoringDataModule, canonical_order, encode, split_rows
from scoring.metrics import auc
from scoring.model import RelevanceNet, ScorerModule
from scoring.text import row_texts

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")
SMALL_HIDDEN = 128  # backbones this narrow run on one CPU thread


@dataclass(frozen=True)
class ScoreResult:
    """P(outcome) per input row in input order, each row's split, metrics, and the backbone that produced them."""

    scores: np.ndarray  # float64 in (0, 1), one per input row
    split: np.ndarray  # "train" / "val" per input row
    metrics: dict[str, float]
    backbone: str
    notes: tuple[str, ...] = field(default=())  # why a metric is nan, and similar facts a reader needs


def train_and_score(df: pd.DataFrame, outcome: str, config: ScorerConfig, work_dir: Path) -> ScoreResult:
    """Fit RelevanceNet on the train split of `df`, then predict every row; same inputs and seed, same scores.

    Everything the run writes (the tiny backbone, Lightning's root dir) goes under work_dir.
    """
    started = time.perf_counter()
    labels = _check_log(df, outcome)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    is_val = split_rows(df["event_id"], labels, config.seed, config.val_fraction)
    if is_val.all():
        raise ValueError(
            f"the train split is empty: {len(df)} rows with val_fraction={config.val_fraction}; "
            "pass more rows or a smaller val_fraction"
        )
    # Train and predict in an order fixed by (seed, event_id): the same log stored in another row order (a parquet
    # rewrite, partitions concatenated differently) gives the same model and the same score for every event.
    order = canonical_order(df["event_id"], config.seed)  # position k of the run holds input row order[k]
    all_texts = row_texts(df, exclude=(outcome,))
    texts = [all_texts[i] for i in order]
    backbone, tokenizer = load_backbone(config.backbone, work_dir / "backbones", texts, config.seed)
    encoded = encode(tokenizer, texts, config.max_length)
    data = ScoringDataModule(encoded, labels[order], is_val[order], config.batch_size, config.seed)

    train_labels = labels[~is_val]
    prior = float(np.clip(train_labels.mean(), 1e-4, 1 - 1e-4))
    n_train_batches = -(-int((~is_val).sum()) // config.batch_size)
    precision = resolve_precision(config.accelerator)

    # Intra-op threads only slow a 32-wide model down (measured on the 2-core box: a 8192x32 @ 32x32 matmul takes
    # 0.34 ms on 1 thread, 3-12 ms on 2), and one thread also makes CPU scores independent of the core count.
    threads = 1 if precision == "32-true" and int(backbone.config.hidden_size) <= SMALL_HIDDEN else None
    with _deterministic_run(config.seed, quiet=not config.progress, threads=threads):
        net = RelevanceNet(backbone, prior=prior)  # the head's init draws from the seeded global generator
        net.train()  # from_pretrained returns eval mode, and Lightning keeps each module's mode: dropout would be off
        # No pos_weight: on the 20k OBD rows (4 seeds, 1 and 3 epochs) pos_weight=n_neg/n_pos left AUC unchanged
        # (val 0.572 vs 0.570, train 0.689 vs 0.694) while it inflates every P(click) by the weight's odds, and the
        # scores are read downstream as probabilities. The base-rate bias init is what mattered (train AUC 0.53
        # without it after 3 epochs, 0.75 with it).
        module = ScorerModule(net, learning_rate=config.learning_rate)
        trainer = L.Trainer(
            accelerator=config.accelerator,
            devices=1,
            precision=precision,
            max_epochs=config.max_epochs,
            deterministic=True,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=config.progress,
            enable_model_summary=config.progress,
            default_root_dir=work_dir,
            num_sanity_val_steps=0,
            limit_val_batches=None if data.n_val else 0,
            log_every_n_steps=max(1, min(50, n_train_batches)),
        )
        fit_started = time.perf_counter()
        trainer.fit(module, datamodule=data)
        fit_seconds = time.perf_counter() - fit_started
        predict_started = time.perf_counter()
        logits = np.empty(len(df), dtype=np.float64)
        logits[order] = torch.cat(trainer.predict(module, datamodule=data)).double().numpy()  # back to input order
        predict_seconds = time.perf_counter() - predict_started

    # float64 sigmoid, clipped so that no score is exactly 0 or 1 (downstream takes logs and bins).
    scores = np.clip(1.0 / (1.0 + np.exp(-logits)), 1e-12, 1.0 - 1e-12)
    metrics, notes = _metrics(labels, scores, is_val, config, fit_seconds, predict_seconds)
    metrics["seconds"] = time.perf_counter() - started
    return ScoreResult(
        scores=scores,
        split=np.where(is_val, "val", "train"),
        metrics=metrics,
        backbone=config.backbone,
        notes=notes,
    )


def _check_log(df: pd.DataFrame, outcome: str) -> np.ndarray:
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
    values = pd.to_numeric(df[outcome], errors="coerce")
    bad = values.isna() | ~values.isin([0, 1])
    if bad.any():
        examples = df.loc[bad, outcome].head(3).tolist()
        raise ValueError(
            f"outcome {outcome!r} must be 0/1 for every row; {int(bad.sum())} rows are not, e.g. {examples}; "
            "binarise it (e.g. rating >= 4) or drop those rows"
        )
    return values.to_numpy(dtype=np.float32)


def _metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    is_val: np.ndarray,
    config: ScorerConfig,
    fit_seconds: float,
    predict_seconds: float,
) -> tuple[dict[str, float], tuple[str, ...]]:
    n_train, n_val = int((~is_val).sum()), int(is_val.sum())
    metrics = {
        "auc_train": auc(labels[~is_val], scores[~is_val]),
        "auc_val": auc(labels[is_val], scores[is_val]),
        "n_train": float(n_train),
        "n_val": float(n_val),
        "n_train_pos": float(labels[~is_val].sum()),
        "n_val_pos": float(labels[is_val].sum()),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "samples_per_s": n_train * config.max_epochs / fit_seconds if fit_seconds > 0 else float("nan"),
    }
    notes = []
    for side, mask in (("val", is_val), ("train", ~is_val)):
        if np.isnan(metrics[f"auc_{side}"]):
            classes = sorted({int(v) for v in labels[mask]})
            notes.append(
                f"auc_{side} is nan: the {side} split has {int(mask.sum())} rows and outcome classes {classes}; "
                "AUC needs both 0s and 1s"
            )
    for note in notes:
        warnings.warn(note, stacklevel=3)
    return metrics, tuple(notes)


@contextlib.contextmanager
def _deterministic_run(seed: int, quiet: bool, threads: int | None) -> Iterator[None]:
    """Seed everything, let Lightning switch on deterministic kernels, then restore the caller's process state."""
    num_threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    levels = {name: logging.getLogger(name).level for name in _LIGHTNING_LOGGERS}
    if quiet:
        for name in _LIGHTNING_LOGGERS:  # "GPU available: ..." and similar banners
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # num_workers=0 is deliberate: the data is pre-tokenised tensors, and workers cost more than they save.
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            # Lightning 2.6's own pytree helper trips a torch 2.13 deprecation; nothing for the caller to act on.
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            if threads is not None:
                torch.set_num_threads(threads)
            L.seed_everything(seed, workers=True, verbose=False)
            yield
    finally:
        torch.set_num_threads(num_threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
