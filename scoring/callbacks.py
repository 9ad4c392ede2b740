"""Lightning callbacks of the scorer's training: exact resume (data position and RNG states) and fault injection."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from scoring.data import EpochBatches

FAULT_ENV = "RECDO_SCORER_FAIL_AFTER_STEPS"  # test hook: fail once, after this many optimizer steps


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

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
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
    return {
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


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

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        marker = self.marker.with_name(f"{self.marker.name}-rank{trainer.global_rank}")  # every rank fails, at one step
        if trainer.global_step >= self.steps and not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
            raise RuntimeError(f"injected fault after {trainer.global_step} steps ({FAULT_ENV}={self.steps})")


class SpacedCheckpoint(ModelCheckpoint):
    """ModelCheckpoint's every-n-steps save, skipped while fewer than `min_interval_s` seconds passed since the last.

    Measured on an H200: at batch 512 a MiniLM step is about 40 ms, so 50 steps are 2 s, while a save of weights and
    Adam state is a large share of that; on a CPU a tiny model's 50 steps take seconds and its save is 1 MB.
    """

    def __init__(self, *args: Any, min_interval_s: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.min_interval_s = float(min_interval_s)
        self._saved_at = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._saved_at = time.monotonic()  # the run's start counts as a save: nothing to lose before it

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if time.monotonic() - self._saved_at < self.min_interval_s:
            return
        before = self._last_global_step_saved
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self._last_global_step_saved != before:
            self._saved_at = time.monotonic()
