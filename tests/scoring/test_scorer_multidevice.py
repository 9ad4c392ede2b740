"""Multi-device scorer training: DDP on CPU (gloo, 2 ranks) shards the rows, gathers the val AUC and scores once."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist
from sklearn.metrics import roc_auc_score
from test_scoring import synthetic_log  # tests/ is on sys.path (rootdir conftest, no package)

from scoring import ScorerConfig, train_and_score

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="this torch build has no torch.distributed with the gloo backend, which CPU DDP needs",
)


@pytest.mark.slow
@pytest.mark.integration  # a Lightning worker process per rank
def test_ddp_on_two_cpu_ranks_halves_the_steps_and_returns_each_score_and_the_val_auc_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    log = synthetic_log(400)  # 320 train rows: 10 batches of 32 on one device, 5 per rank on two
    # The default fine-tuned tiny BERT has a pooler the loss never reaches: plain "ddp" failed on it before.
    config = ScorerConfig(max_epochs=1, batch_size=32, devices=2, strategy="ddp", progress=False, accelerator="cpu")
    result = train_and_score(log, "click", config, tmp_path / "work")

    m = result.metrics
    assert m["devices"] == 2 and m["n_train"] == 320
    assert m["global_steps"] == 5  # each rank ran 5 steps of 32 rows: half the 320 train rows each
    assert m["samples_seen"] == 320  # and the two halves add up to every train row once
    assert result.scores.shape == (len(log),) and np.all((result.scores > 0) & (result.scores < 1))
    val = result.split == "val"
    labels = log["click"].to_numpy()
    # The AUC early stopping saw was gathered over both ranks' val rows: it is sklearn's AUC on all 80 of them.
    assert val.sum() == 80
    assert m["fit_auc_val"] == pytest.approx(roc_auc_score(labels[val], result.scores[val]), abs=1e-6)
    assert any("pooler" in note for note in result.notes)
    # Only the worker's ranks joined a process group; this process (the caller's command) was never relaunched.
    assert not dist.is_initialized() and "LOCAL_RANK" not in os.environ
    assert list(cwd.iterdir()) == []  # nothing written in the caller's directory by any rank
    assert not (tmp_path / "work" / "multidevice").exists()  # job, outcome and log removed after success


@pytest.mark.parametrize("strategy", ["ddp_spawn", "ddp_fork", "ddp_notebook_find_unused_parameters_true"])
def test_spawn_and_fork_strategies_are_refused_naming_the_fix(strategy: str) -> None:
    with pytest.raises(
        ValueError, match=f"strategy '{strategy}' starts its device processes by spawn or fork.*use strategy='ddp'"
    ):
        ScorerConfig(devices=2, strategy=strategy)


def test_only_several_devices_or_a_multi_device_strategy_train_in_the_worker_process() -> None:
    assert not ScorerConfig().multi_process
    assert ScorerConfig(devices=2).multi_process and ScorerConfig(strategy="ddp").multi_process


def test_shards_keep_the_seeded_epoch_order_and_pad_to_equal_steps_on_every_rank() -> None:
    import torch

    from scoring import EpochBatches

    def rows(rank: int, world: int, epoch: int = 3) -> list[list[int]]:
        loader = EpochBatches({"x": torch.arange(7)}, batch_size=2, seed=5, shuffle=True)
        loader.shard(rank, world)
        loader.set_epoch(epoch)
        return [batch["x"].tolist() for batch in loader]

    order = torch.randperm(7, generator=torch.Generator().manual_seed(5 * 1_000_003 + 3)).tolist()
    assert sum(rows(0, 1), []) == order  # one device: the order it always had
    first, second = rows(0, 2), rows(1, 2)
    assert len(first) == len(second) == 2  # 4 rows each (7 padded to 8): equal steps, so no rank waits forever
    assert sum(first, []) == order[0::2] and sum(second, []) == order[1::2] + order[:1]  # the wrap repeats one row
    with pytest.raises(ValueError, match="rank must lie in \\[0, world_size\\); got rank=2, world_size=2"):
        EpochBatches({"x": torch.arange(7)}, batch_size=2, seed=5, shuffle=True).shard(2, 2)
