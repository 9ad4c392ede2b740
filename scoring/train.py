"""Train the scorer on a canonical log and score every row with P(outcome); deterministic for a given seed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from transformers import PreTrainedModel

from scoring.backbone import backbone_fingerprint, is_decoder_only, load_backbone, resolve_backbone_dir
from scoring.calibrate import fit_calibrator
from scoring.config import ScorerConfig, resolve_precision
from scoring.data import canonical_order, check_log, encode, split_rows
from scoring.embed import embed_texts
from scoring.fit import FitJob, fit_and_predict, fit_in_worker
from scoring.metrics import ece, grouped_ndcg, split_metrics
from scoring.model import YES_NO_PROMPT, EmbeddingHead, RelevanceNet, apply_lora, freeze_unused, yes_no_ids
from scoring.predict import SCORE_CACHE_ENTRIES, RowScorer, scoring_device, slices
from scoring.sample import sample_mask
from scoring.text import SEP, row_parts, with_history

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")
# Seeds, the deterministic-kernels switch and the thread count are process-wide: two trainings in threads of one
# process (a thread task runner running two partitions) would draw from each other's random streams, and the later
# one to finish would restore the other's deterministic flag. One in-process training at a time, then: on 2 cores
# torch's own intra-op threads keep the CPU busy anyway.
_PROCESS_STATE = threading.Lock()
SMALL_HIDDEN = 128  # backbones this narrow run on one CPU thread
UNSAMPLED = "unsampled"  # the split of a row outside the training sample of a long log: scored, never trained on
STREAM_ROWS = 65_536  # rows scored per batch once the scorer is trained


@dataclass(frozen=True)
class ScoreResult:
    """P(outcome) per input row in input order, each row's split, metrics, and the backbone that produced them."""

    scores: np.ndarray  # float64 in (0, 1), one per input row
    split: np.ndarray  # "train" / "val" per input row
    metrics: dict[str, float]
    backbone: str
    notes: tuple[str, ...] = field(default=())  # why a metric is nan, and similar facts a reader needs


@dataclass(frozen=True)
class Fitted:
    """A training run's result on its own rows, and (when asked for) the trained scorer to score further rows."""

    result: ScoreResult
    scorer: RowScorer | None
    threads: int | None  # torch threads the scorer runs best on (see _threads)


def train_and_score(df: pd.DataFrame, outcome: str, config: ScorerConfig, work_dir: Path) -> ScoreResult:
    """Fit the scorer on the train split of `df`, then predict every row; same inputs and seed, same scores.

    Everything the run writes (the tiny backbone, embedding cache, checkpoints, Lightning's root dir) goes under
    work_dir. A run that dies mid-training leaves its last checkpoint there; the next call with the same log and
    config (e.g. Prefect retrying the task) resumes from it, batch for batch, instead of starting over.
    The scores are calibrated probabilities (temperature or isotonic, fitted on the val split).
    A log longer than config.train_rows trains and validates on a seeded sample of that many rows stratified by
    outcome (scoring.sample), then every row is scored in batches; rows outside the sample get split "unsampled".
    Calls from several threads of one process run one after another (see _PROCESS_STATE).
    """
    with _PROCESS_STATE:  # from building a tiny backbone (seeded init) to the last prediction
        if len(df) <= config.train_rows:
            return fit_scorer(df, outcome, config, work_dir).result
        return _train_on_sample(df, outcome, config, work_dir)


def _train_on_sample(df: pd.DataFrame, outcome: str, config: ScorerConfig, work_dir: Path) -> ScoreResult:
    started = time.perf_counter()
    labels = check_log(df, outcome)
    check_streamable(config, len(df))
    keep = sample_mask(df["event_id"], labels, config.train_rows, config.seed)
    fitted = fit_scorer(df[keep].reset_index(drop=True), outcome, config, work_dir, keep_scorer=True)
    scorer = fitted.scorer
    assert scorer is not None, "fit_scorer keeps the scorer when asked to"
    scoring_started = time.perf_counter()
    with deterministic_run(config.seed, quiet=True, threads=fitted.threads):
        scores = np.concatenate([scorer.scores(part, outcome) for part in slices(df, STREAM_ROWS)])
    split = np.full(len(df), UNSAMPLED)
    split[keep] = fitted.result.split
    metrics = {**fitted.result.metrics, **sample_metrics(int(keep.sum()), scorer)}
    metrics.update(score_seconds=time.perf_counter() - scoring_started, seconds=time.perf_counter() - started)
    return ScoreResult(scores, split, metrics, fitted.result.backbone, fitted.result.notes)


def check_streamable(config: ScorerConfig, n_rows: int) -> None:
    """Refuse what a sampled, batch-by-batch scoring cannot do: history texts need each user's whole log."""
    if config.history_items:
        raise ValueError(
            f"history_items={config.history_items} builds each row's text from the user's earlier rows, which needs "
            f"the whole log at once; this log has {n_rows} rows, more than train_rows={config.train_rows}; set "
            f"train_rows to at least {n_rows} (trains and scores the log in memory) or history_items=0"
        )


def sample_metrics(n_sampled: int, scorer: RowScorer) -> dict[str, float]:
    """The training sample's size, and what scoring every row took (rows, distinct inputs, cache hits)."""
    return {"rows_sampled": float(n_sampled), **scorer.counts.as_metrics()}


def fit_scorer(
    df: pd.DataFrame,
    outcome: str,
    config: ScorerConfig,
    work_dir: Path,
    keep_scorer: bool = False,
    cache_entries: int = SCORE_CACHE_ENTRIES,
) -> Fitted:
    """Train on every row of `df` (split into train and val) and score them; keep_scorer also returns the scorer.

    The caller holds _PROCESS_STATE. With keep_scorer the returned RowScorer scores further rows with the same
    network and calibration, through a cache of `cache_entries` distinct inputs.
    """
    started = time.perf_counter()
    labels = check_log(df, outcome)
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
    user_part, item_part = row_parts(df, exclude=(outcome,))
    precision = resolve_precision(config.accelerator)
    y, val = labels[order], is_val[order]
    prior = float(np.clip(labels[~is_val].mean(), 1e-4, 1 - 1e-4))
    notes: list[str] = []
    embed_stats: dict[str, float] = {}

    # The backbone: its tokenizer is needed for the history budget, so it is loaded before the texts are final.
    base_texts = [f"{u} {SEP} {i}".strip() for u, i in zip(user_part, item_part)]
    vocab_texts = [base_texts[i] for i in order]
    wants_lm = config.head == "yes_no"
    backbone, tokenizer = load_backbone(
        config.backbone, work_dir / "backbones", vocab_texts, config.seed, causal_lm=wants_lm
    )
    decoder = is_decoder_only(backbone.config)
    pooling = config.pooling if config.pooling != "auto" else ("last" if decoder else "mean")
    if wants_lm and not decoder:
        raise ValueError(
            f"head='yes_no' needs a decoder-only (causal LM) backbone; {config.backbone!r} is a "
            f"{backbone.config.model_type} encoder; pass a GPT-2/Llama-style model directory or head='linear'"
        )
    if config.history_items:

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

        user_part = with_history(df, user_part, item_part, outcome, config.history_items, config.history_tokens, count)

    threads = _threads(precision, backbone)
    with deterministic_run(config.seed, quiet=not config.progress, threads=threads):
        if config.mode == "frozen":
            where = resolve_backbone_dir(config.backbone, work_dir / "backbones", vocab_texts, config.seed)
            key = backbone_fingerprint(config.backbone, where)
            shared = Path(config.embed_cache_dir) if config.embed_cache_dir else work_dir / "embeddings"
            cache = shared / key if config.embed_cache else None
            embed = dict(pooling=pooling, max_length=config.max_length, cache_dir=cache, progress=config.progress)
            user_texts, item_texts = [user_part[i] for i in order], [item_part[i] for i in order]
            u = embed_texts(backbone, tokenizer, user_texts, **embed)
            it = embed_texts(backbone, tokenizer, item_texts, **embed)
            inputs = {"user_vec": torch.from_numpy(u.vectors), "item_vec": torch.from_numpy(it.vectors)}
            embed_stats = {
                "texts_encoded": float(u.n_encoded + it.n_encoded),
                "texts_cached": float(u.n_cached + it.n_cached),
                "encode_seconds": u.seconds + it.seconds,
            }
            net: torch.nn.Module = EmbeddingHead(u.vectors.shape[1], prior=prior)
        else:
            texts = [f"{user_part[i]} {SEP} {item_part[i]}".strip() for i in order]
            yes_no = None
            if wants_lm:
                texts = [f"{t} {YES_NO_PROMPT}" for t in texts]
                yes_no = yes_no_ids(tokenizer)
            encoded = encode(tokenizer, texts, config.max_length)
            inputs = {"input_ids": encoded.input_ids, "attention_mask": encoded.attention_mask}
            if config.mode == "lora":
                backbone = apply_lora(backbone, config.lora_r)
            net = RelevanceNet(backbone, prior=prior, pooling=pooling, head=config.head, yes_no_ids=yes_no)
            # from_pretrained returns eval mode, and Lightning keeps each module's mode: dropout would be off.
            net.train()
        ckpt_dir = work_dir / "checkpoints" / _run_key(config, vocab_texts, y, val)
        job = FitJob(net, inputs, y, val, config, precision, ckpt_dir, work_dir, threads, keep_weights=keep_scorer)
        if config.multi_process:
            unused = freeze_unused(net, {k: v[:2] for k, v in inputs.items()})
            if unused:
                notes.append(
                    f"{len(unused)} parameters the loss never reaches were frozen for DDP: {', '.join(unused)}"
                )
            fit = fit_in_worker(job, work_dir / "multidevice" / ckpt_dir.name)
        else:
            fit = fit_and_predict(job)[0]
        logits = np.empty(len(df), dtype=np.float64)
        logits[order] = fit.logits  # back to input order
        del inputs, job  # the training tensors: a kept scorer must not hold them while it scores a long log

    # Fitted in canonical order: the same fit for any row order.
    calibrator = fit_calibrator(logits[order][val], y[val], config.calibration)
    if config.calibration != "none" and not calibrator.fitted:
        notes.append(
            f"calibration {config.calibration!r} was not fitted: the val split needs both outcome classes; "
            "scores are the plain sigmoid"
        )
    scores = calibrator(logits)
    raw = np.clip(1.0 / (1.0 + np.exp(-logits)), 1e-12, 1.0 - 1e-12)
    metrics, metric_notes = split_metrics(labels, scores, is_val, fit.fit_seconds, fit.predict_seconds)
    for note in metric_notes:
        warnings.warn(note, stacklevel=2)  # reported at the line of train_and_score, the public entry
    metrics.update(
        ece_val=ece(labels[is_val], scores[is_val]) if is_val.any() else float("nan"),
        ece_val_uncalibrated=ece(labels[is_val], raw[is_val]) if is_val.any() else float("nan"),
        calibration_temperature=calibrator.temperature,
        resumed_from_step=float(fit.resumed_from_step),
        global_steps=float(fit.global_steps),
        epochs_run=float(fit.epochs_run),
        devices=float(fit.devices),
        samples_seen=float(fit.samples_seen),
        fit_auc_val=fit.fit_auc_val,
        samples_per_s=fit.samples_per_s,
        tokens_per_s=fit.tokens_per_s,
        bf16=float(precision.startswith("bf16")),
        **embed_stats,
    )
    if "user_id" in df.columns:
        users = df["user_id"].to_numpy()[is_val]
        metrics["ndcg@10_val"] = grouped_ndcg(users, labels[is_val], scores[is_val], k=10)
    shutil.rmtree(ckpt_dir, ignore_errors=True)  # finished: a later run with the same inputs starts clean
    metrics["seconds"] = time.perf_counter() - started
    result = ScoreResult(
        scores=scores,
        split=np.where(is_val, "val", "train"),
        metrics=metrics,
        backbone=config.backbone,
        notes=tuple(notes) + metric_notes,
    )
    scorer = None
    if keep_scorer:
        if fit.net_state is not None:  # trained in a worker process: its weights came back with the outcome
            net.load_state_dict(fit.net_state)
        device = scoring_device(config.accelerator)
        frozen = config.mode == "frozen"
        scorer = RowScorer(
            net=net.to(device),
            calibrator=calibrator,
            tokenizer=tokenizer,
            mode=config.mode,
            max_length=config.max_length,
            yes_no=wants_lm,
            backbone=backbone.to(device) if frozen else None,
            pooling=pooling,
            precision=precision,
            device=device,
            cache_entries=cache_entries,
        )
        if frozen:  # the training rows' embeddings: scoring them again encodes nothing
            scorer.remember_vectors(user_texts, u.vectors)
            scorer.remember_vectors(item_texts, it.vectors)
    return Fitted(result, scorer, threads)


def _threads(precision: str, backbone: PreTrainedModel) -> int | None:
    # Intra-op threads only slow a 32-wide model down (measured on the 2-core box: a 8192x32 @ 32x32 matmul takes
    # 0.34 ms on 1 thread, 3-12 ms on 2), and one thread also makes CPU scores independent of the core count.
    return 1 if precision == "32-true" and int(backbone.config.hidden_size) <= SMALL_HIDDEN else None


def _run_key(config: ScorerConfig, texts: list[str], labels: np.ndarray, is_val: np.ndarray) -> str:
    """Checkpoints belong to one (config, data): a resumed run must be the same training run."""
    fields = {k: v for k, v in asdict(config).items() if k not in ("progress", "embed_cache_dir")}  # not what trains
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x1f")
    digest.update(np.ascontiguousarray(labels, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(is_val, dtype=bool).tobytes())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def deterministic_run(seed: int, quiet: bool, threads: int | None) -> Iterator[None]:
    """Seed everything, let Lightning switch on deterministic kernels, then restore the caller's process state.

    Process-wide state: train_and_score holds _PROCESS_STATE around it, so threads never interleave here.
    """
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
            # Likewise its all_gather helper (the val AUC and the predictions under DDP) calls a deprecated one.
            warnings.filterwarnings("ignore", message=".*all_gather is deprecated.*")
            if threads is not None:
                torch.set_num_threads(threads)
            L.seed_everything(seed, workers=True, verbose=False)
            yield
    finally:
        torch.set_num_threads(num_threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
