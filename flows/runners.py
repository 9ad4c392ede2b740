"""Task runners chosen at run time: threads on this machine, or a Dask cluster (an existing one or a local one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # prefect is imported when a runner is made, so the parameters stay cheap to import
    from prefect.task_runners import TaskRunner

RunnerKind = Literal["thread", "dask"]


@dataclass(frozen=True)
class RunnerConfig:
    """Which engine runs the fanned-out tasks and how wide; `address` is a running Dask scheduler (tcp://host:8786)."""

    kind: RunnerKind = "thread"
    address: str | None = None
    # One: the estimate tasks are Python and small numpy calls that hold the interpreter lock, so a second thread
    # only adds contention (the 50,000-row simulated run's effects took 3.3 s on one thread, 4.3 s on two).
    # Real parallelism is a Dask cluster's worker processes.
    max_workers: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("thread", "dask"):
            raise ValueError(f"task runner {self.kind!r} is not known; use 'thread' or 'dask'")
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {self.max_workers}; pass a positive concurrency")
        if self.address and self.kind != "dask":
            raise ValueError(
                f"a Dask address ({self.address}) was given with task runner {self.kind!r}; pass task_runner='dask'"
            )


def make_runner(config: RunnerConfig) -> TaskRunner:
    """A fresh, unstarted task runner for `config`."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if config.kind == "thread":
        return ThreadPoolTaskRunner(max_workers=config.max_workers)
    from prefect_dask import DaskTaskRunner

    if config.address:
        return DaskTaskRunner(address=config.address)
    # Threads in this process: the workers share the flow's files, settings and result storage, and
    # start in a second instead of re-importing torch in new processes. No dashboard port is bound.
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "processes": False,
            "n_workers": 1,
            "threads_per_worker": config.max_workers,
            "dashboard_address": None,
        },
    )
