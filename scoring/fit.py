"""One training run of the scorer: a FitJob in, a FitOutcome out, in this process or in a multi-device worker."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from scoring.callbacks import FAULT_ENV, FailOnceAfter, ResumeState, SpacedCheckpoint
from scoring.config import ScorerConfig
from scoring.data import RowsDataModule
from scoring.model import ScorerModule

WORKER_MODULE = "scoring.multidevice"
# Rank variables of an outer launcher (torchrun, Lightning) would make the worker believe it is one rank of that job.
_DDP_ENV = (
    "LOCAL_RANK",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "NODE_RANK",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
)


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
    keep_weights: bool = False  # a worker sends the trained weights back too (the caller scores more rows with them)


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
    net_state: dict[str, torch.Tensor] | None = None  # the trained net's weights on the CPU, when a worker keeps them


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
    callbacks.append(
        SpacedCheckpoint(
            min_interval_s=config.checkpoint_min_interval_s,
            dirpath=ckpt_dir,
            filename="last",
            every_n_train_steps=config.checkpoint_every_n_steps,
            save_top_k=0,
            save_last=True,
            enable_version_counter=False,
        )
    )
    both_classes = np.unique(job.labels[job.is_val]).size == 2
    best = None
    if both_classes:  # early stopping and best weights need a defined val AUC
        best = ModelCheckpoint(
            dirpath=ckpt_dir,
            filename="best",
            monitor="val_auc",
            mode="max",
            save_top_k=1,
            save_weights_only=True,
            enable_version_counter=False,
        )
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
    has_best = best is not None and best.best_model_score is not None
    logits = module.predicted if data.predict_inverse is None else module.predicted[data.predict_inverse.numpy()]
    outcome = FitOutcome(
        logits=logits,
        resumed_from_step=resume.resumed_from_step,
        global_steps=int(trainer.global_step),
        epochs_run=int(trainer.current_epoch),
        devices=int(trainer.world_size),
        samples_seen=module.samples_all_devices,
        fit_auc_val=float(best.best_model_score) if has_best else float("nan"),
        samples_per_s=module.samples_all_devices / seconds if seconds > 0 else float("nan"),
        tokens_per_s=(
            module.tokens_all_devices / seconds if seconds > 0 and module.tokens_all_devices else float("nan")
        ),
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
    )
    return outcome, trainer


def fit_in_worker(job: FitJob, folder: Path) -> FitOutcome:
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
