"""Task: train the relevance scorer, attach its calibrated P(outcome) to every clean row (retried from checkpoint)."""

from __future__ import annotations

from pathlib import Path

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
    # A log longer than config.train_rows is never read whole: the scorer trains on its sample, then scores and
    # writes it batch by batch. Checkpoints live under run_dir/scorer, keyed by (config, data): a retry of this task
    # picks up the last one.
    out = Path(run_dir) / "scored.parquet"
    scored = scoring.score_log(clean_path, str(out), outcome=outcome, config=config, work_dir=Path(run_dir) / "scorer")
    return ScoreRef(
        scored_path=scored.path,
        backbone=scored.backbone,
        metrics=dict(scored.metrics),
        catalogue_path=scored.catalogue,
        catalogue_note=scored.catalogue_note,
    )
