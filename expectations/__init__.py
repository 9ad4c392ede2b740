"""The validation gate for the canonical interaction log: a GX suite, the runner, the quarantine split.

Only the config is imported eagerly; the rest loads Great Expectations (seconds) on first use, so flow
parameters and the CLI stay cheap to import.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from expectations.config import GateConfig

_LAZY = {
    "DatasetError": "expectations.gate",
    "GateFailed": "expectations.gate",
    "GateResult": "expectations.gate",
    "check_dataset": "expectations.gate",
    "enforce": "expectations.gate",
    "run_gate": "expectations.gate",
    "build_suite": "expectations.suite",
    "FileGateResult": "expectations.scan",
    "log_files": "expectations.parquet_log",
    "run_file_gate": "expectations.scan",
}

__all__ = ["GateConfig", *sorted(_LAZY)]

# GX logs hundreds of INFO/DEBUG lines while importing and building its context; they would flood a
# flow's logs. Set before GX is first imported (by any module of this package), and only where the
# application left the level unset; expectations.runner quiets the one logger GX pins when imported.
QUIET_GX = logging.getLogger("great_expectations").level == logging.NOTSET
if QUIET_GX:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'expectations' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
