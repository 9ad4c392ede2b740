"""Relevance scorer: a transformers backbone in Lightning that turns each log row into P(click)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scoring.config import ScorerConfig, resolve_precision

# torch + lightning + transformers take ~8 s to import on the 2-core box; names that need them load on first use,
# so `scoring.ScorerConfig` stays cheap for flow parameters and the CLI.
_LAZY = {
    "build_tiny_bert": "scoring.backbone",
    "load_backbone": "scoring.backbone",
    "Encoded": "scoring.data",
    "ScoringDataModule": "scoring.data",
    "canonical_order": "scoring.data",
    "encode": "scoring.data",
    "split_rows": "scoring.data",
    "auc": "scoring.metrics",
    "RelevanceNet": "scoring.model",
    "ScorerModule": "scoring.model",
    "row_texts": "scoring.text",
    "ScoreResult": "scoring.train",
    "train_and_score": "scoring.train",
}

if TYPE_CHECKING:
    from scoring.backbone import build_tiny_bert, load_backbone
    from scoring.data import Encoded, ScoringDataModule, canonical_order, encode, split_rows
    from scoring.metrics import auc
    from scoring.model import RelevanceNet, ScorerModule
    from scoring.text import row_texts
    from scoring.train import ScoreResult, train_and_score

__all__ = ["ScorerConfig", "resolve_precision", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
