"""A run's id: a hash of the data's content and of every parameter that changes the result."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from common.errors import InputError
from common.files import sha256_file
from scoring.text_features import DEFAULT_REPRESENTATION

# Where things go, how hard I/O is retried, caching and the engine (issue 6) change how a result is computed, never
# what it is: left out of the run id, so a retry with more patience is still the same run.
NOT_IN_RUN_ID = {"db", "run_id", "work_dir", "io_retries", "io_retry_delay_s", "progress"}
NOT_IN_RUN_ID |= {"refresh", "task_runner", "dask_address", "max_workers"}
# Left out at their defaults: a run that does not use them keeps the id it always had.
# The defaults are the fields' own (PipelineParams reads them from the same constants), so they cannot drift apart.
LEFT_OUT_AT = {"pool_since": None, "user_text_representation": DEFAULT_REPRESENTATION, "learning_rate": None}


def run_id_of(params: dict, data_hash: str, history: str | None) -> str:
    """run-<12 hex>: sha256 of the parameters (model_dump), the data path replaced by `data_hash`, the history file
    (`resolved_user_history()`, None: none) by its content."""
    relevant = {k: v for k, v in params.items() if k not in NOT_IN_RUN_ID}
    relevant["data"] = data_hash  # the content, not the path, identifies the data
    relevant.pop("user_history", None)
    for name, default in LEFT_OUT_AT.items():
        if relevant.get(name, default) == default:
            relevant.pop(name, None)
    if history is not None:  # its content changes the user_text states: hashed like the log (a few MB)
        relevant["user_history"] = history_hash(history)
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()
    return f"run-{digest[:12]}"


def history_hash(path: str) -> str:
    """sha256 of the history file's bytes, or InputError naming the flag when there is no such file."""
    if not Path(path).is_file():
        raise InputError(
            f"--user-history {path!r} is no file; pass a CSV/Parquet of (user_id, ts, text) rows or leave it out"
        )
    return sha256_file(path)
