"""Relevance scorer: a transformers backbone in Lightning that turns each log row into P(click)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scoring.config import MINILM, TINY_BERT, ScorerConfig, resolve_precision

# torch + lightning + transformers take ~8 s to import on the 2-core box; names that need them load on first use,
# so `scoring.ScorerConfig` stays cheap for flow parameters and the CLI.
_LAZY = {
    "WeightsMismatch": "scoring.backbone",
    "build_tiny_bert": "scoring.backbone",
    "load_backbone": "scoring.backbone",
    "minilm_dir": "scoring.backbone",
    "verify_weights": "scoring.backbone",
    "Calibrator": "scoring.calibrate",
    "fit_calibrator": "scoring.calibrate",
    "Embedded": "scoring.embed",
    "embed_texts": "scoring.embed",
    "EpochBatches": "scoring.data",
    "RowsDataModule": "scoring.data",
    "ece": "scoring.metrics",
    "target_rank_metrics": "scoring.metrics",
    "EmbeddingHead": "scoring.model",
    "Encoded": "scoring.data",
    "canonical_order": "scoring.data",
    "encode": "scoring.data",
    "split_rows": "scoring.data",
    "auc": "scoring.metrics",
    "RelevanceNet": "scoring.model",
    "ScorerModule": "scoring.model",
    "row_texts": "scoring.text",
    "ScoreResult": "scoring.train",
    "train_and_score": "scoring.train",
    "ScoredLog": "scoring.stream",
    "score_log": "scoring.stream",
    "RowScorer": "scoring.predict",
    "sample_mask": "scoring.sample",
    "read_sample": "scoring.sample",
}

if TYPE_CHECKING:
    from scoring.backbone import WeightsMismatch, build_tiny_bert, load_backbone, minilm_dir, verify_weights
    from scoring.calibrate import Calibrator, fit_calibrator
    from scoring.data import Encoded, EpochBatches, RowsDataModule, canonical_order, encode, split_rows
    from scoring.embed import Embedded, embed_texts
    from scoring.metrics import auc, ece, target_rank_metrics
    from scoring.model import EmbeddingHead, RelevanceNet, ScorerModule
    from scoring.predict import RowScorer
    from scoring.sample import read_sample, sample_mask
    from scoring.stream import ScoredLog, score_log
    from scoring.text import row_texts
    from scoring.train import ScoreResult, train_and_score

__all__ = ["MINILM", "TINY_BERT", "ScorerConfig", "resolve_precision", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
