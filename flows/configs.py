"""The frozen configs of one run, one per stage, built once from its parameters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from causal.config import CausalConfig, OffPolicyConfig
from expectations.config import GateConfig
from flows.runners import RunnerConfig
from scoring.config import ScorerConfig
from scoring.text_features import DEFAULT_REPRESENTATION


@dataclass(frozen=True)
class RunConfigs:
    """The frozen configs of one run, each for one stage; off_policy is None when there is no target policy."""

    gate: GateConfig
    scorer: ScorerConfig
    causal: tuple[CausalConfig, ...]  # one per (treatment, outcome) pair, in params.pairs() order
    runner: RunnerConfig
    off_policy: OffPolicyConfig | None
    user_history: str | None = None  # the users' text history file (params.resolved_user_history), checked
    user_text_representation: str = DEFAULT_REPRESENTATION  # scoring.text_features' representation of the history


def run_configs(params: Any) -> RunConfigs:
    """Every config the run needs, from a flows.params.PipelineParams (its to_configs; typed Any: no import circle)."""
    prior = params.resolved_ope_prior()
    history = params.resolved_user_history()
    if history is not None:
        _check_history_file(history)
    return RunConfigs(
        gate=GateConfig(
            outcomes=tuple(params.outcomes),
            treatments=tuple(params.treatments),
            max_rejected_share=params.max_rejected_share,
            missing_as_state=tuple(params.missing_as_state),
        ),
        scorer=ScorerConfig(
            backbone=params.backbone,
            mode=params.scorer_mode,
            calibration=params.calibration,
            max_epochs=params.max_epochs,
            learning_rate=params.learning_rate,
            batch_size=params.batch_size,
            train_rows=params.scorer_train_rows,
            accelerator=params.accelerator,
            devices=params.devices,
            strategy=params.strategy,
            seed=params.seed,
            progress=params.progress,
            # a text is embedded once per work dir, whichever run (partition, parameters) meets it first
            embed_cache_dir=str(Path(params.work_dir) / "embeddings"),
        ),
        causal=tuple(
            CausalConfig(
                treatment=treatment,
                outcome=outcome,
                baseline=params.baselines.get(treatment),
                n_bootstrap=params.n_bootstrap,
                bootstrap_chunk=params.bootstrap_chunk,
                equivalent_sample_size=params.equivalent_sample_size,
                min_arm_events=params.min_arm_events,
                seed=params.seed,
                progress=params.progress,
            )
            for treatment, outcome in params.pairs()
        ),
        runner=RunnerConfig(params.task_runner, params.dask_address, params.max_workers),
        off_policy=(
            OffPolicyConfig(
                prior=prior,
                campaign=params.campaign,
                logged=params.ope_logged,
                target=params.ope_target,
                refits=params.ope_refits,
                max_rows=params.ope_max_rows,
            )
            if prior
            else None
        ),
        user_history=history,
        user_text_representation=params.user_text_representation,
    )


def _check_history_file(path: str) -> None:
    """ValueError (check_params makes it an InputError) unless `path` is a CSV or Parquet file."""
    if not Path(path).is_file():
        raise ValueError(
            f"--user-history {path!r} is no file; pass a CSV/Parquet of (user_id, ts, text) rows or leave it out"
        )
    if Path(path).suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(
            f"--user-history {path!r} must be a .csv or .parquet file of (user_id, ts, text) rows; convert it to one"
        )
