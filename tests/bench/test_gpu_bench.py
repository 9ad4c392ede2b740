"""The scorer's GPU path (bf16, throughput, MFU): measured for real on a CUDA device, skipped without one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import gpu  # noqa: E402

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the GPU path is not run")


@needs_gpu
@pytest.mark.slow
def test_minilm_fine_tunes_in_bf16_on_the_gpu_and_reports_its_model_flop_utilisation():
    found = gpu.measure(impressions=4000, epochs=1, batch_size=256, devices=1, peak_tflops=989.0)
    assert found["precision_bf16"] is torch.cuda.is_bf16_supported()
    assert found["samples_per_s"] > 0 and found["tokens_per_s"] > found["samples_per_s"]
    assert 0.0 < found["mfu"] < 1.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_the_gpu_bench_refuses_a_cpu_instead_of_reporting_cpu_numbers():
    with pytest.raises(SystemExit, match="needs a CUDA GPU"):
        gpu.measure(impressions=100, epochs=1, batch_size=8, devices=1, peak_tflops=989.0)


@pytest.mark.slow
def test_mfu_counts_the_backbone_parameters_outside_its_embedding_tables(tmp_path):
    from scoring.backbone import load_backbone

    model, _ = load_backbone("minilm", tmp_path, [], 0)
    total = sum(p.numel() for p in model.parameters())
    n = gpu.non_embedding_parameters(model)
    # all-MiniLM-L6-v2: 22.7M parameters, of which 30,522 x 384 word, 512 x 384 position and 2 x 384 type embeddings
    assert total - n == 30_522 * 384 + 512 * 384 + 2 * 384 + 2 * 384  # (+ the embeddings' LayerNorm)
    assert 10_000_000 < n < 12_000_000
