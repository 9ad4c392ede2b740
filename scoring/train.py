"""Train the scorer on a canonical log and score every row with P(outcome); deterministic for a given seed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import random
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch

from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from scoring.backbone import backbone_fingerprint, is_decoder_only, load_backbone, resolve_backbone_dir
from scoring.calibrate import fit_calibrator
from scoring.config import ScorerConfig, resolve_precision
from scoring.data import EpochBatches, RowsDataModule, canonical_order, encode, split_rows
from scoring.embed import embed_texts
from scoring.metrics import auc, ece, grouped_ndcg
from scoring.model import EmbeddingHead, RelevanceNet, ScorerModule, freeze_unused
from scoring.text import SEP, row_parts, with_history

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")
# Seeds, the deterministic-kernels switch and the thread count are process-wide: two trainings in threads of one
# process (a thread task runner running two partitions) would draw from each other's random streams, and the later
# one to finish would restore the other's deterministic flag. One in-process training at a time, then: on 2 cores
# torch's own intra-op threads keep the CPU busy anyway.
_PROCESS_STATE = threading.Lock()
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
    """Fit the scorer on the train split of `df`, then predict every row; same inputs and seed, same scores.

    Everything the run writes (the tiny backbone, embedding cache, checkpoints, Lightning's root dir) goes under
    work_dir. A run that dies mid-training leaves its last checkpoint there; the next call with the same log and
    config (e.g. Prefect retrying the task) resumes from it, batch for batch, instead of starting over.
    The scores are calibrated probabilities (temperature or isotonic, fitted on the val split).
    Calls from several threads of one process run one after another (see _PROCESS_STATE).
    """
    with _PROCESS_STATE:  # from building a tiny backbone (seeded init) to the last prediction
        return _train_and_score(df, outcome, config, work_dir)


def _train_and_score(df: pd.DataFrame, outcome: str, config: ScorerConfig, work_dir: Path) -> ScoreResult:
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
    backbone, tokenizer = load_backbone(config.backbone, work_dir / "backbones", vocab_texts, config.seed, causal_lm=wants_lm)
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
    with _deterministic_run(config.seed, quiet=not config.progress, threads=threads):
        if config.mode == "frozen":
            key = backbone_fingerprint(config.backbone, resolve_backbone_dir(config.backbone, work_dir / "backbones", vocab_texts, config.seed))
            cache = work_dir / "embeddings" / key if config.embed_cache else None
            u = embed_texts(backbone, tokenizer, [user_part[i] for i in order], pooling=pooling, max_length=config.max_length, cache_dir=cache, progress=config.progress)
            it = embed_texts(backbone, tokenizer, [item_part[i] for i in order], pooling=pooling, max_length=config.max_length, cache_dir=cache, progress=config.progress)
            inputs = {"user_vec": torch.from_numpy(u.vectors), "item_vec": torch.from_numpy(it.vectors)}
            embed_stats = {"texts_encoded": float(u.n_encoded + it.n_encoded), "texts_cached": float(u.n_cached + it.n_cached), "encode_seconds": u.seconds + it.seconds}
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
            net.train()  # from_pretrained returns eval mode, and Lightning keeps each module's mode: dropout would be off
        ckpt_dir = work_dir / "checkpoints" / _run_key(config, vocab_texts, y, val)
        job = FitJob(net, inputs, y, val, config, precision, ckpt_dir, work_dir, threads)
        if config.multi_process:
            unused = freeze_unused(net, {k: v[:2] for k, v in inputs.items()})
            if unused:
                notes.append(f"{len(unused)} parameters the loss never reaches were frozen for DDP: {', '.join(unused)}")
            fit = _fit_in_worker(job, work_dir / "multidevice" / ckpt_dir.name)
        else:
            fit = fit_and_predict(job)[0]
        logits = np.empty(len(df), dtype=np.float64)
        logits[order] = fit.logits  # back to input order

    calibrator = fit_calibrator(logits[order][val], y[val], config.calibration)  # canonical order: same fit for any row order
    if config.calibration != "none" and not calibrator.fitted:
        notes.append(f"calibration {config.calibration!r} was not fitted: the val split needs both outcome classes; scores are the plain sigmoid")
    scores = calibrator(logits)
    raw = np.clip(1.0 / (1.0 + np.exp(-logits)), 1e-12, 1.0 - 1e-12)
    metrics, metric_notes = _metrics(labels, scores, is_val, config, fit.fit_seconds, fit.predict_seconds)
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
        metrics["ndcg@10_val"] = grouped_ndcg(df["user_id"].to_numpy()[is_val], labels[is_val], scores[is_val], k=10)
    shutil.rmtree(ckpt_dir, ignore_errors=True)  # finished: a later run with the same inputs starts clean
    metrics["seconds"] = time.perf_counter() - started
    return ScoreResult(
        scores=scores,
        split=np.where(is_val, "val", "train"),
        metrics=metrics,
        backbone=config.backbone,
        notes=tuple(notes) + metric_notes,
    )


YES_NO_PROMPT = "Will the user like this item? Answer:"
FAULT_ENV = "RECDO_SCORER_FAIL_AFTER_STEPS"  # test hook: fail once, after this many optimizer steps
WORKER_MODULE = "scoring.multidevice"
# Rank variables of an outer launcher (torchrun, Lightning) would make the worker believe it is one rank of that job.
_DDP_ENV = ("LOCAL_RANK", "RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class FitJob:
    """What one training run needs, in canonical row order; picklable, so a multi-device run hands it to its worker."""

    net: torch.nn.Module
    inputs: dict[str, torch.Tensor]  # model inputs by name, (N, ...) each
    labels: np.ndarray  # (N,) float32 0/1
    is_val: np.ndarray  # (N,) bool
    config: ScorerConfig
    precision: str
    ckpt_dir: Path
    root_dir: Path  # Lightning's default_root_dir
    threads: int | None


@dataclass(frozen=True)
class FitOutcome:
    """The logits of every row (canonical order) and the training loop's figures, the same on every rank."""

    logits: np.ndarray  # (N,) float64
    resumed_from_step: int
    global_steps: int  # optimizer steps of one device
    epochs_run: int
    devices: int
    samples_seen: int  # training rows over all devices (padding repeats included)
    fit_auc_val: float  # the val AUC over all devices at the kept epoch, as early stopping saw it; nan without one
    samples_per_s: float
    tokens_per_s: float
    fit_seconds: float
    predict_seconds: float


def fit_and_predict(job: FitJob) -> tuple[FitOutcome, L.Trainer]:
    """Fit, reload the best val-AUC weights and predict every row, in this process (one rank of it under DDP)."""
    config, ckpt_dir = job.config, job.ckpt_dir
    data = RowsDataModule(job.inputs, job.labels, job.is_val, config.batch_size, config.seed)
    # No pos_weight: on the 20k OBD rows (4 seeds, 1 and 3 epochs) pos_weight=n_neg/n_pos left AUC unchanged
    # while it inflates every P(click) by the weight's odds; the base-rate bias init is what mattered.
    module = ScorerModule(job.net, learning_rate=config.learning_rate)
    resume = ResumeState(data.train)
    callbacks: list[L.Callback] = [resume]
    fault = os.environ.get(FAULT_ENV)
    if fault:
        callbacks.append(FailOnceAfter(int(fault), ckpt_dir / "fault-injected"))
    callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, filename="last", every_n_train_steps=config.checkpoint_every_n_steps, save_top_k=0, save_last=True, enable_version_counter=False))
    both_classes = np.unique(job.labels[job.is_val]).size == 2
    best = None
    if both_classes:  # early stopping and best weights need a defined val AUC
        best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_auc", mode="max", save_top_k=1, save_weights_only=True, enable_version_counter=False)
        callbacks += [EarlyStopping("val_auc", mode="max", patience=config.patience, check_finite=False), best]
    n_train_batches = len(data.train)
    trainer = L.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        precision=job.precision,
        max_epochs=config.max_epochs,
        deterministic=True,
        logger=False,
        callbacks=callbacks,
        enable_progress_bar=config.progress,
        enable_model_summary=config.progress,
        default_root_dir=job.root_dir,
        num_sanity_val_steps=0,
        limit_val_batches=None if data.n_val else 0,
        log_every_n_steps=max(1, min(50, n_train_batches)),
        use_distributed_sampler=False,  # the loaders shard themselves by rank (RowsDataModule)
    )
    last = ckpt_dir / "last.ckpt"
    fit_started = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=str(last) if last.is_file() else None)
    fit_seconds = time.perf_counter() - fit_started
    if best is not None and best.best_model_path and Path(best.best_model_path).is_file():
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    predict_started = time.perf_counter()
    trainer.predict(module, datamodule=data, return_predictions=False)  # fills module.predicted, gathered
    predict_seconds = time.perf_counter() - predict_started
    seconds = module.train_seconds  # this rank's clock; DDP keeps the devices in lockstep
    outcome = FitOutcome(
        logits=module.predicted,
        resumed_from_step=resume.resumed_from_step,
        global_steps=int(trainer.global_step),
        epochs_run=int(trainer.current_epoch),
        devices=int(trainer.world_size),
        samples_seen=module.samples_all_devices,
        fit_auc_val=float(best.best_model_score) if best is not None and best.best_model_score is not None else float("nan"),
        samples_per_s=module.samples_all_devices / seconds if seconds > 0 else float("nan"),
        tokens_per_s=module.tokens_all_devices / seconds if seconds > 0 and module.tokens_all_devices else float("nan"),
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
    )
    return outcome, trainer


def _fit_in_worker(job: FitJob, folder: Path) -> FitOutcome:
    """Run fit_and_predict in `python -m scoring.multidevice`, the only command Lightning relaunches per device.

    Launched in this process, DDP would re-run the caller's own command once per extra device: under `recdo run`
    a second copy of the whole flow, writing to the same DuckDB file.
    """
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    job_path, out_path, log_path = folder / "job.pt", folder / "outcome.pkl", folder / "worker.log"
    torch.save(job, job_path)
    env = {k: v for k, v in os.environ.items() if k not in _DDP_ENV}
    root = str(Path(__file__).resolve().parent.parent)  # this checkout's scoring package, whatever the cwd
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", WORKER_MODULE, str(job_path), str(out_path)]
    with open(log_path, "w") as log:  # stdout (progress bars) goes to the caller's; stderr is kept for errors
        rc = subprocess.run(command, cwd=folder, env=env, stderr=log, check=False).returncode
    if rc != 0 or not out_path.is_file():
        tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-20:])
        raise RuntimeError(
            f"multi-device training (devices={job.config.devices}, strategy={job.config.strategy!r}) failed in its "
            f"worker process with exit code {rc}; {log_path} ends with:\n{tail}\n"
            "a retry resumes from the last checkpoint; devices=1 trains in this process instead"
        )
    with open(out_path, "rb") as f:
        outcome: FitOutcome = pickle.load(f)  # written by this package's worker a moment ago
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # kept while another run's folder is still in it
        folder.parent.rmdir()
    return outcome


def yes_no_ids(tokenizer) -> tuple[int, int]:
    """Token ids of " Yes" and " No" (their last piece, as the answer's first token), or an error naming the fix."""
    ids = []
    for word in ("Yes", "No"):
        found = None
        for form in (f" {word}", word):
            pieces = tokenizer(form, add_special_tokens=False)["input_ids"]
            if pieces and pieces[-1] != tokenizer.unk_token_id:
                found = int(pieces[-1])
                break
        if found is None:
            raise ValueError(f"head='yes_no' needs a {word!r} token in the backbone's vocabulary, found none; use head='linear'")
        ids.append(found)
    return ids[0], ids[1]


def apply_lora(backbone, r: int):
    """Wrap every linear layer of the transformer body in rank-r LoRA adapters (peft); the base weights freeze."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ImportError("mode='lora' needs peft: pip install 'recdo[lora]' (peft 0.21)") from exc
    config = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear", bias="none")
    return get_peft_model(backbone, config)


def _threads(precision: str, backbone) -> int | None:
    # Intra-op threads only slow a 32-wide model down (measured on the 2-core box: a 8192x32 @ 32x32 matmul takes
    # 0.34 ms on 1 thread, 3-12 ms on 2), and one thread also makes CPU scores independent of the core count.
    return 1 if precision == "32-true" and int(backbone.config.hidden_size) <= SMALL_HIDDEN else None


def _run_key(config: ScorerConfig, texts: list[str], labels: np.ndarray, is_val: np.ndarray) -> str:
    """Checkpoints belong to one (config, data): a resumed run must be the same training run."""
    from dataclasses import asdict

    digest = hashlib.sha256(json.dumps({k: v for k, v in asdict(config).items() if k != "progress"}, sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x1f")
    digest.update(np.ascontiguousarray(labels, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(is_val, dtype=bool).tobytes())
    return digest.hexdigest()[:16]


class ResumeState(L.Callback):
    """Saves the data position and the RNG states in each checkpoint and restores both on resume.

    With them a run resumed mid-epoch trains on the same remaining batches with the same dropout masks as a run
    that never stopped, so its scores are identical.
    """

    def __init__(self, loader: EpochBatches) -> None:
        self.loader = loader
        self.done = 0
        self.resumed_from_step = 0
        self._rng: dict | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.done = 0  # not called when Lightning resumes mid-epoch, so a restored count survives

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        self.done = batch_idx + 1

    def state_dict(self) -> dict:
        return {
            "epoch": self.loader.epoch,
            "done": self.done,
            # plain tensors, ints and lists only: Lightning reads checkpoints with torch.load(weights_only=True)
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state_out(np.random.get_state()),
            "python": _python_state_out(random.getstate()),
        }

    def load_state_dict(self, state: dict) -> None:
        self.done = int(state["done"])
        self.loader.resume_at(int(state["epoch"]), self.done)
        self._rng = state

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.resumed_from_step = int(trainer.global_step)
        if self._rng is not None:
            torch.set_rng_state(self._rng["torch"])
            np.random.set_state(_numpy_state_in(self._rng["numpy"]))
            random.setstate(_python_state_in(self._rng["python"]))
            self._rng = None


def _numpy_state_out(state: tuple) -> dict:
    kind, keys, pos, has_gauss, cached = state
    return {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}


def _numpy_state_in(d: dict) -> tuple:
    return ("MT19937", d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["cached"])


def _python_state_out(state: tuple) -> dict:
    version, internal, gauss = state
    return {"version": int(version), "internal": list(internal), "gauss": gauss}


def _python_state_in(d: dict) -> tuple:
    return (d["version"], tuple(d["internal"]), d["gauss"])


class FailOnceAfter(L.Callback):
    """Fault injection for tests: raise once when `steps` optimizer steps are done (after their checkpoint)."""

    def __init__(self, steps: int, marker: Path) -> None:
        self.steps = steps
        self.marker = marker

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        marker = self.marker.with_name(f"{self.marker.name}-rank{trainer.global_rank}")  # every rank fails, at one step
        if trainer.global_step >= self.steps and not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
            raise RuntimeError(f"injected fault after {trainer.global_step} steps ({FAULT_ENV}={self.steps})")


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
