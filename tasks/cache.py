"""Cache policies of the expensive stages: keyed by the content of their input files and their parameters."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from prefect import Task
from prefect.cache_policies import CacheKeyFnPolicy, CachePolicy, Inputs
from prefect.context import TaskRunContext

from common.files import sha256_file
from store.lineage import code_version


@lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by (size, mtime) too, so a file rewritten in place is hashed again.
    return sha256_file(path)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    stat = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


class _FileContent:
    """cache_key_fn: the sha256 of the files named by `params`, and the code version that reads them."""

    def __init__(self, *params: str) -> None:
        self.params = params

    def __call__(self, context: TaskRunContext, inputs: dict[str, Any]) -> str:
        parts = [code_version()]
        for name in self.params:
            parts.append(f"{name}={file_sha256(inputs[name])}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


def content_policy(*path_params: str, derived: tuple[str, ...] = ()) -> CachePolicy:
    """The files' content hash, the code version and every input (paths and configs) make the key.

    The path itself stays in the key: a cached result may point at files beside it (the scored
    log), and those live in the run's own directory. `derived` inputs are left out: they follow
    from the others (hashing them would cost time and add nothing).
    """
    return CacheKeyFnPolicy(cache_key_fn=_FileContent(*path_params)) + Inputs(exclude=list(derived))


SCORER_CACHE = content_policy("clean_path")
EFFECTS_CACHE = content_policy("scored_path", derived=("counter",))  # DuckDB and Dask count the same cells
CHUNK_CACHE = content_policy("scored_path", derived=("prepared",))  # keyed by the scored log, config and chunk number


def cached(task: Task, policy: CachePolicy, work_dir: str, refresh: bool) -> Task:
    """The task with its cache policy, results persisted under WORK_DIR/cache; refresh recomputes and overwrites."""
    return task.with_options(
        cache_policy=policy,
        persist_result=True,
        result_storage=Path(work_dir).resolve() / "cache",
        refresh_cache=refresh,
    )
