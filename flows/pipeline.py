"""The recdo pipeline: raw log → validated log → scorer → Bayesian network → stored effect estimates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

import causal
import expectations
import scoring
from flows.params import PipelineParams
from tasks.causal import estimate_effects, evaluate_target_policy
from tasks.ingest import load_log
from tasks.score import train_scorer
from tasks.store import finish_run, start_run, store_effects, store_scores, store_validation
from tasks.validate import validate_log


@dataclass(frozen=True)
class RunSummary:
    """What a finished run reports back: where its rows are and the headline numbers."""

    run_id: str
    db: str
    source: str
    n_in: int
    n_clean: int
    n_quarantined: int
    scorer_metrics: dict[str, float]
    edges: tuple[tuple[str, str], ...]
    adjustment_set: tuple[str, ...]
    estimates: tuple[dict, ...] = field(default_factory=tuple)


def _configs(params: PipelineParams) -> tuple[expectations.GateConfig, scoring.ScorerConfig, causal.CausalConfig]:
    gate = expectations.GateConfig(
        outcomes=(params.outcome,), treatment=params.treatment, max_rejected_share=params.max_rejected_share
    )
    scorer = scoring.ScorerConfig(
        backbone=params.backbone,
        max_epochs=params.max_epochs,
        batch_size=params.batch_size,
        accelerator=params.accelerator,
        seed=params.seed,
        progress=params.progress,
    )
    effects = causal.CausalConfig(
        treatment=params.treatment,
        outcome=params.outcome,
        baseline=params.baseline,
        n_bootstrap=params.n_bootstrap,
        equivalent_sample_size=params.equivalent_sample_size,
        seed=params.seed,
        progress=params.progress,
    )
    return gate, scorer, effects


def _publish(summary: RunSummary) -> None:
    """Prefect artifacts, so the run's answer is readable in the UI without opening the database."""
    rows = [
        {k: e[k] for k in ("treatment_value", "baseline_value", "estimand", "method", "estimate", "ci_low", "ci_high")}
        for e in summary.estimates
    ]
    create_table_artifact(key="estimates", table=rows, description=f"recdo estimates of run {summary.run_id}")
    create_markdown_artifact(
        key="run-summary",
        markdown=(
            f"# recdo run `{summary.run_id}`\n\n"
            f"- data: {summary.source}; rows in {summary.n_in}, processed {summary.n_clean}, "
            f"quarantined {summary.n_quarantined}\n"
            f"- scorer: {summary.scorer_metrics}\n"
            f"- adjustment set: {list(summary.adjustment_set)}\n"
            f"- learned edges: {', '.join(f'{u} → {v}' for u, v in summary.edges)}\n"
            f"- results: `{summary.db}`, e.g. `SELECT * FROM interventions WHERE run_id = '{summary.run_id}'`\n"
        ),
    )


@flow(name="recdo-pipeline", log_prints=True)
def pipeline(params: PipelineParams = PipelineParams()) -> RunSummary:
    """Validate the log, train the scorer, learn the network, estimate and store the effects."""
    logger = get_run_logger()
    io = dict(retries=params.io_retries, retry_delay_seconds=params.io_retry_delay_s)
    gate_cfg, scorer_cfg, causal_cfg = _configs(params)

    log = load_log.with_options(**io)(
        params.data, params.resolved_source(), params.campaign, dict(params.column_map), params.work_dir
    )
    run_id = params.run_id_for(log.data_hash)
    run_dir = str(Path(params.work_dir) / "runs" / run_id)
    logger.info("run %s: %d rows from %s (%s)", run_id, log.n_rows, log.source, log.notes or "nothing dropped")
    start_run.with_options(**io)(params.db, run_id, params.model_dump(), log, flow_run.id)

    try:
        gate = validate_log(log.path, gate_cfg, run_dir, run_id)
        store_validation.with_options(**io)(params.db, run_id, gate)
        if gate.failure:
            raise expectations.GateFailed(gate.failure)
        scored = train_scorer(gate.clean_path, params.outcome, scorer_cfg, run_dir)
        store_scores.with_options(**io)(params.db, run_id, scored)
        report = estimate_effects(scored.scored_path, causal_cfg)
        prior = params.resolved_ope_prior()
        off_policy: tuple = ()
        if prior:
            off_policy = evaluate_target_policy(
                scored.scored_path, prior, params.ope_logged, params.ope_target, causal_cfg, params.ope_refits
            )
        else:
            logger.info("off-policy evaluation skipped: no target policy (pass ope_prior, or off_policy=false)")
        store_effects.with_options(**io)(params.db, run_id, report, log.source, "all", off_policy)
    except BaseException as exc:
        finish_run.with_options(**io)(params.db, run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finish_run.with_options(**io)(params.db, run_id, "completed", log.notes)

    summary = RunSummary(
        run_id=run_id,
        db=params.db,
        source=log.source,
        n_in=gate.n_in,
        n_clean=gate.n_clean,
        n_quarantined=gate.n_quarantined,
        scorer_metrics=scored.metrics,
        edges=report.edges,
        adjustment_set=report.adjustment_set,
        estimates=tuple(asdict(e) for e in report.estimates + tuple(off_policy)),
    )
    _publish(summary)
    return summary
