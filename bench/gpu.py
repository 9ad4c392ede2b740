"""The scorer's GPU path, measured: MiniLM fine-tuned in bf16 on the simulator's text log; samples/s, tokens/s, MFU.

    python bench/gpu.py [--impressions 200000] [--epochs 1] [--batch-size 512] [--devices 1] [--peak-tflops 989]
                        [--json FILE]

Runs `scoring.train_and_score` with accelerator="gpu" (Lightning, bf16-mixed where the GPU has bf16 kernels) on
the backbone "minilm" in mode "finetune" over `recdo simulate`'s log (item title | genres under the user's
features), then reports what the scorer itself measured: samples/s and tokens/s over the training steps, and the
model FLOP utilisation

    MFU = 6 * N * tokens_per_s / peak,   N = the backbone's parameters outside the embedding tables

(the usual 6N FLOPs per token of a forward and backward pass, attention's share left out: it is small at the
scorer's 32 tokens). `--peak-tflops` is the device's dense bf16 peak: 989 for an H100/H200 SXM. With `--devices N`
the run uses DDP across N GPUs through the scorer's worker process. Refuses to run without CUDA: on a CPU the
numbers would say nothing about the GPU path.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def non_embedding_parameters(model) -> int:
    """Parameters outside the token/position/type embedding tables (the 6N rule's N)."""
    return sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)


def measure(impressions: int, epochs: int, batch_size: int, devices: int, peak_tflops: float, seed: int = 0) -> dict:
    import torch

    import scoring
    from causal.sim.simulator import SimulatorConfig, simulate
    from scoring.backbone import load_backbone

    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False); run it on a GPU machine")
    log = simulate(SimulatorConfig(impressions=impressions, seed=seed)).log
    config = scoring.ScorerConfig(
        backbone="minilm",
        mode="finetune",
        accelerator="gpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        batch_size=batch_size,
        max_epochs=epochs,
        learning_rate=5e-5,
        seed=seed,
        progress=False,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        result = scoring.train_and_score(log, outcome="click", config=config, work_dir=Path(work))
        model, _ = load_backbone("minilm", Path(work), [], seed)
    n = non_embedding_parameters(model)
    m = result.metrics
    achieved = 6.0 * n * m["tokens_per_s"]
    return {
        "device": torch.cuda.get_device_name(0),
        "devices": devices,
        "precision_bf16": bool(m["bf16"]),
        "impressions": impressions,
        "epochs": epochs,
        "batch_size": batch_size,
        "samples_per_s": m["samples_per_s"],
        "tokens_per_s": m["tokens_per_s"],
        "non_embedding_parameters": n,
        "achieved_tflops": achieved / 1e12,
        "peak_tflops": peak_tflops,
        "mfu": achieved / (peak_tflops * 1e12),
        "auc_val": m.get("auc_val"),
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impressions", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of one device")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    found = measure(args.impressions, args.epochs, args.batch_size, args.devices, args.peak_tflops * args.devices)
    for key, value in found.items():
        print(f"{key:<26}{value:.4g}" if isinstance(value, float) else f"{key:<26}{value}")
    if args.json:
        args.json.write_text(json.dumps(found, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
