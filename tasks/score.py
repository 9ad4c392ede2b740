"""Task: train the relevance scorer, attach its calibrated P(outcome) to every clean row (retried from checkpoint)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

import scoring
from tasks._retry import retry_unless_bad_input
from tasks.refs import ScoreRef


@task(
    name="train scorer",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=0,
    retry_condition_fn=retry_unless_bad_input,
)
def train_scorer(clean_path: str, outcome: str, config: scoring.ScorerConfig, run_dir: str) -> ScoreRef:
    frame = pd.read_parquet(clean_path)
    # Checkpoints live under run_dir/scorer, keyed by (config, data): a retry of this task picks up the last one.
    result = scoring.train_and_score(frame, outcome=outcome, config=config, work_dir=Path(run_dir) / "scorer")
    out = Path(run_dir) / "scored.parquet"
    frame.assign(score=result.scores, split=result.split).to_parquet(out, index=False)
    return ScoreRef(scored_path=str(out), backbone=result.backbone, metrics=dict(result.metrics))
