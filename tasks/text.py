"""Task: each user's pre-log text history becomes a `user_text` column of the clean log (a pre-treatment node)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from common.files import atomic_write_text
from scoring.text_features import DEFAULT_REPRESENTATION
from scoring.user_text import add_user_text

TEXT_LOG = "clean_text.parquet"  # the gated log plus user_text, beside clean.parquet in the run's folder
TEXT_SUMMARY = "user_text.json"  # the task's UserTextRef and its log line, beside it


@task(name="user text", cache_policy=NO_CACHE)
def user_text_task(
    clean_path: str,
    history_path: str | None,
    work_dir: str,
    run_dir: str,
    seed: int,
    representation: str = DEFAULT_REPRESENTATION,
    treatment: str | None = None,
) -> str:
    """The log the scorer and the networks read: clean_path, plus user_text when a history file is given."""
    if history_path is None:
        return clean_path
    logger = get_run_logger()
    ref = add_user_text(
        clean_path,
        history_path,
        str(Path(run_dir) / TEXT_LOG),
        str(Path(work_dir) / "embeddings"),
        seed=seed,
        say=logger.info,
        representation=representation,
        treatment=treatment,
    )
    logger.info(ref.line())
    # the counts, kept beside the log they describe (the run's folder), for whoever asks later what text did
    atomic_write_text(Path(run_dir) / TEXT_SUMMARY, json.dumps({**asdict(ref), "line": ref.line()}, indent=2) + "\n")
    return ref.path
