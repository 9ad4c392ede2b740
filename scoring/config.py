"""Settings of the relevance scorer (backbone, training budget, split, seed) and its precision rule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

Accelerator = Literal["auto", "cpu", "gpu", "cuda", "mps"]
TINY_BERT = "tiny-bert"


@dataclass(frozen=True)
class ScorerConfig:
    """One training run of the scorer; every field is checked on construction."""

    backbone: str = TINY_BERT  # "tiny-bert" or a local directory holding config.json, weights and tokenizer
    max_epochs: int = 1
    batch_size: int = 256
    accelerator: Accelerator = "auto"
    learning_rate: float = 1e-3
    max_length: int = 32  # tokens per row, [CLS] and [SEP] included
    val_fraction: float = 0.2
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.backbone, str) or not self.backbone.strip():
            raise ValueError(
                f"backbone must be a non-empty string; got {self.backbone!r}; "
                f"pass {TINY_BERT!r} or a local model directory"
            )
        _check_int("max_epochs", self.max_epochs, 1, "train for at least one epoch")
        _check_int("batch_size", self.batch_size, 1, "use a positive batch size, e.g. 256")
        if self.accelerator not in get_args(Accelerator):
            raise ValueError(
                f"accelerator must be one of {list(get_args(Accelerator))}; got {self.accelerator!r}; "
                "'auto' picks a GPU when one is present"
            )
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning_rate must be a positive finite number; got {lr!r}; use e.g. 1e-3")
        _check_int("max_length", self.max_length, 4, "leave room for [CLS], [SEP] and a few feature tokens")
        if self.max_length > 512:
            raise ValueError(f"max_length must be at most 512; got {self.max_length!r}; rows are short, 32-128 suffice")
        vf = self.val_fraction
        if isinstance(vf, bool) or not isinstance(vf, (int, float)) or not 0 <= vf < 1:
            raise ValueError(
                f"val_fraction must lie in [0, 1); got {vf!r}; use e.g. 0.2 (0 trains on every row, no val AUC)"
            )
        _check_int("seed", self.seed, 0, "use a non-negative integer")
        if self.seed > 2**32 - 1:
            raise ValueError(f"seed must fit in 32 bits; got {self.seed!r}; use a value below {2**32}")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress must be True or False; got {self.progress!r}")


def resolve_precision(accelerator: str) -> str:
    """Lightning precision for an accelerator: "bf16-mixed" when it resolves to a CUDA GPU, "32-true" otherwise."""
    import torch

    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if not on_gpu:
        # MPS and CPU stay in float32: bf16 autocast there is slow or partial, and the model is small.
        return "32-true"
    # Pre-Ampere GPUs lack bf16 kernels; fp16 with loss scaling is their mixed mode.
    bf16_ok = not torch.cuda.is_available() or torch.cuda.is_bf16_supported()
    return "bf16-mixed" if bf16_ok else "16-mixed"


def _check_int(name: str, value: object, minimum: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}; {fix}")
