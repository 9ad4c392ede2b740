"""The validation gate for the canonical interaction log: a GX suite, the runner, the quarantine split."""

import logging

# GX logs hundreds of INFO/DEBUG lines while importing and building its context; they would flood a
# flow's logs. Set before GX is first imported, and only where the application left the level unset.
_quiet = logging.getLogger("great_expectations").level == logging.NOTSET
if _quiet:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)

from expectations.config import GateConfig  # noqa: E402
from expectations.gate import DatasetError, GateFailed, GateResult, check_dataset, enforce, run_gate  # noqa: E402
from expectations.suite import build_suite  # noqa: E402

if _quiet:
    # GX pins this one logger at INFO when imported; it announces the ephemeral context's temp dir.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

__all__ = [
    "DatasetError",
    "GateConfig",
    "GateFailed",
    "GateResult",
    "build_suite",
    "check_dataset",
    "enforce",
    "run_gate",
]
