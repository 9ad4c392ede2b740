"""A scorer task that dies mid-epoch on its first attempt resumes from its checkpoint when Prefect retries it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prefect import flow
from test_scoring import synthetic_log  # tests/ is on sys.path (rootdir conftest, no package)

from scoring import ScorerConfig
from scoring.callbacks import FAULT_ENV
from tasks.score import train_scorer

CONFIG = ScorerConfig(
    max_epochs=2,
    batch_size=32,
    checkpoint_every_n_steps=2,
    checkpoint_min_interval_s=0,
    progress=False,
    accelerator="cpu",
)


@flow(name="scorer-retry-test")
def _train(clean_path: str, run_dir: str):
    return train_scorer.with_options(retries=1, retry_delay_seconds=0)(clean_path, "click", CONFIG, run_dir)


def test_a_failed_training_attempt_resumes_from_its_checkpoint_on_retry(prefect_server, tmp_path, monkeypatch) -> None:
    log = tmp_path / "clean.parquet"
    synthetic_log(400).to_parquet(log, index=False)  # 320 train rows: 10 steps per epoch, 20 in all

    monkeypatch.setenv(FAULT_ENV, "5")  # attempt 1 raises before step 6; its last checkpoint is at step 4
    resumed = _train(str(log), str(tmp_path / "run-a"))
    assert resumed.metrics["resumed_from_step"] == 4  # not 0: the retry did not start from scratch
    assert resumed.metrics["global_steps"] == 20
    assert not (tmp_path / "run-a" / "scorer" / "checkpoints").exists() or not any(
        (tmp_path / "run-a" / "scorer" / "checkpoints").iterdir()
    )  # a finished run leaves no checkpoint that a later, unrelated run could pick up

    monkeypatch.delenv(FAULT_ENV)
    clean = _train(str(log), str(tmp_path / "run-b"))
    assert clean.metrics["resumed_from_step"] == 0
    # Resumed mid-epoch with the data position and RNG states restored: the very same model as an unbroken run.
    a = pd.read_parquet(resumed.scored_path)["score"].to_numpy()
    b = pd.read_parquet(clean.scored_path)["score"].to_numpy()
    assert np.array_equal(a, b)


@pytest.mark.slow
def test_checkpoints_are_spaced_in_time_so_a_fast_device_does_not_spend_its_steps_saving(tmp_path, monkeypatch) -> None:
    from dataclasses import replace

    from lightning.pytorch.callbacks import ModelCheckpoint

    from scoring import train_and_score

    saved: list[int] = []
    original = ModelCheckpoint.on_train_batch_end

    def counting(self, trainer, *args, **kwargs):  # the real save, counted: which steps wrote "last"
        before = self._last_global_step_saved
        original(self, trainer, *args, **kwargs)
        if self._last_global_step_saved != before and self.filename == "last":
            saved.append(trainer.global_step)

    monkeypatch.setattr(ModelCheckpoint, "on_train_batch_end", counting)
    log = synthetic_log(400)
    train_and_score(log, "click", CONFIG, tmp_path / "a")  # every 2 steps, no spacing: 10 saves in 20 steps
    every_two = list(saved)
    saved.clear()
    train_and_score(log, "click", replace(CONFIG, checkpoint_min_interval_s=3600), tmp_path / "b")
    assert every_two == list(range(2, 21, 2)) and saved == []  # an hour apart: none in a run of seconds
