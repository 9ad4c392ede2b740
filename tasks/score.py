"""Task: train the relevance scorer and attach its P(outcome) to every clean row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

import scoring
from tasks.refs import ScoreRef


@task(name="train scorer", cache_policy=NO_CACHE)
def train_scorer(clean_path: str, outcome: str, config: scoring.ScorerConfig, run_dir: str) -> ScoreRef:
    frame = pd.read_parquet(clean_path)
    result = scoring.train_and_score(frame, outcome=outcome, config=config, work_dir=Path(run_dir) / "scorer")
    out = Path(run_dir) / "scored.parquet"
    frame.assign(score=result.scores, split=result.split).to_parquet(out, index=False)
    return ScoreRef(scored_path=str(out), backbone=result.backbone, metrics=dict(result.metrics))
