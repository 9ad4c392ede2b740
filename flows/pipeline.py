"""The recdo pipeline: raw log → validated log → scorer → Bayesian network → stored effect estimates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

import causal
import expectations
from common.files import inside
from flows.params import PipelineParams
from flows.preflight import check_params
from flows.runners import RunnerConfig, make_runner
from tasks.cache import CHUNK_CACHE, EFFECTS_CACHE, SCORER_CACHE, cached
from tasks.causal import bootstrap_chunk, collect_replicates, combine_effects, evaluate_target_policy, prepare_effects
from tasks.cuped import cuped_effects
from tasks.decision import publish_decision
from tasks.ingest import load_log
from tasks.items import item_policy_values
from tasks.partition import select_partition
from tasks.preflight import check_treatments_task
from tasks.report import publish_report
from tasks.score import train_scorer
from tasks.sequential import store_sequential
from tasks.store import finish_run, start_run, store_effects, store_replicates, store_scores, store_validation
from tasks.text import user_text_task
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
    scorer: str  # the backbone and mode the scorer ran with, e.g. "minilm (frozen)"
    edges: tuple[tuple[str, str], ...]  # the network of the first (treatment, outcome) pair
    adjustment_set: tuple[str, ...]  # of the first pair; each estimate carries its own
    estimates: tuple[dict, ...] = field(default_factory=tuple)


def _publish(summary: RunSummary) -> None:
    """Prefect artifacts, so the run's answer is readable in the UI without opening the database."""
    rows = [
        {
            k: e[k]
            for k in (
                "treatment",
                "outcome",
                "treatment_value",
                "baseline_value",
                "estimand",
                "method",
                "estimate",
                "ci_low",
                "ci_high",
                "n_rows",
            )
        }
        for e in summary.estimates
    ]
    create_table_artifact(key="estimates", table=rows, description=f"recdo estimates of run {summary.run_id}")
    create_markdown_artifact(
        key="run-summary",
        markdown=(
            f"# recdo run `{summary.run_id}`\n\n"
            f"- data: {summary.source}; rows in {summary.n_in}, processed {summary.n_clean}, "
            f"quarantined {summary.n_quarantined}\n"
            f"- scorer {summary.scorer}: {summary.scorer_metrics}\n"
            f"- adjustment set: {list(summary.adjustment_set)}\n"
            f"- learned edges: {', '.join(f'{u} → {v}' for u, v in summary.edges)}\n"
            f"- results: `{summary.db}`, e.g. `SELECT * FROM interventions WHERE run_id = '{summary.run_id}'`\n"
        ),
    )


def _estimate_effects(
    scored_path: str,
    configs: tuple[causal.CausalConfig, ...],
    runner_config: RunnerConfig,
    work_dir: str,
    refresh: bool,
) -> tuple[tuple[causal.EffectReport, ...], tuple]:
    """Every pair's network, its bootstrap chunks and their combination, all submitted to one task runner.

    Each network is learned from the contingency table of its nodes, counted out of core by DuckDB (or by
    the Dask cluster under task_runner=dask). The chunks of every pair are separate tasks, so a Dask
    cluster spreads one network's bootstrap over its workers; the futures go from task to task, so a pair's
    prepared data never passes through the flow.
    Chunks are seeded by their number and combined in order: any runner gives the same estimates.
    Returns the reports and each pair's replicates (`causal.decide.run.PairReplicates`) for `recdo decide`.
    """
    prepare = cached(prepare_effects, EFFECTS_CACHE, work_dir, refresh)
    chunk = cached(bootstrap_chunk, CHUNK_CACHE, work_dir, refresh)
    with make_runner(runner_config) as runner:
        counter = "dask" if runner_config.kind == "dask" else "duckdb"  # the cluster counts the cells too
        prepared = [
            runner.submit(prepare, parameters=dict(scored_path=scored_path, config=cfg, counter=counter))
            for cfg in configs
        ]
        chunks = [
            [
                runner.submit(chunk, parameters=dict(scored_path=scored_path, config=cfg, prepared=p, chunk=c))
                for c in range(cfg.n_chunks)
            ]
            for cfg, p in zip(configs, prepared)
        ]
        reports = [
            runner.submit(combine_effects, parameters=dict(scored_path=scored_path, prepared=p, chunks=cs))
            for p, cs in zip(prepared, chunks)
        ]
        replicates = [
            runner.submit(collect_replicates, parameters=dict(scored_path=scored_path, prepared=p, chunks=cs))
            for p, cs in zip(prepared, chunks)
        ]
        # Upstream first, so a failure surfaces as its own error, not as the "upstream failed" of the tasks after it.
        for future in (*prepared, *(f for cs in chunks for f in cs)):
            future.result()
        return tuple(f.result() for f in reports), tuple(f.result() for f in replicates)


@flow(name="recdo-pipeline", log_prints=True)
def pipeline(params: PipelineParams = PipelineParams()) -> RunSummary:
    """Validate the log, train the scorer, learn the network, estimate and store the effects."""
    logger = get_run_logger()
    io = dict(retries=params.io_retries, retry_delay_seconds=params.io_retry_delay_s)
    configs = check_params(params, open_db=False)  # the UI's and an event's parameters get the CLI's checks too

    log = load_log.with_options(**io)(
        params.data, params.resolved_source(), params.campaign, dict(params.column_map), params.work_dir
    )
    whole_log = log.path  # CUPED's pre-period: the dates of the log before the partition
    if params.partition:  # one day of the log (event-driven runs, backfills); the partition is part of the run id
        log = select_partition(log, params.partition, params.pool_since)  # pool_since: the days before it too
    run_id = params.run_id_for(log.data_hash)
    run_dir = str(inside(Path(params.work_dir) / "runs", run_id))
    logger.info("run %s: %d rows from %s (%s)", run_id, log.n_rows, log.source, log.notes or "nothing dropped")
    start_run.with_options(**io)(params.db, run_id, params.model_dump(), log, flow_run.id)

    try:
        gate = validate_log(log.path, configs.gate, run_dir, run_id)
        store_validation.with_options(**io)(params.db, run_id, gate)
        for note in gate.notes:
            logger.info("gate: %s", note)
        if gate.failure:
            raise expectations.GateFailed(gate.failure)
        check_treatments_task(gate.clean_path, configs.causal, params.work_dir)  # before training, as one line
        # the users' pre-log history as a user_text column (pre-treatment), when a history file is given or bundled
        clean_path = user_text_task(
            gate.clean_path,
            configs.user_history,
            params.work_dir,
            run_dir,
            params.seed,
            configs.user_text_representation,
            params.treatments[0],  # the propensity summary's treatment
        )
        scored = cached(train_scorer, SCORER_CACHE, params.work_dir, params.refresh)(
            clean_path, params.outcome, configs.scorer, run_dir
        )
        store_scores.with_options(**io)(params.db, run_id, scored)
        reports, replicates = _estimate_effects(
            scored.scored_path, configs.causal, configs.runner, params.work_dir, params.refresh
        )
        off_policy: tuple = ()
        if configs.off_policy is not None:
            off_policy = evaluate_target_policy(scored.scored_path, configs.off_policy, configs.causal[0])
        else:
            logger.info("off-policy evaluation skipped: no target policy (pass ope_prior, or off_policy=false)")
        first = next(c for c in configs.causal if c.outcome == params.outcome)  # the outcome the scorer learned
        items = item_policy_values(scored.scored_path, scored.catalogue_path, scored.catalogue_note, first)
        period = params.pool_since or params.partition  # CUPED's pre-period is every date before the analysed ones
        per_user = cuped_effects(scored.scored_path, whole_log, period, configs.causal, reports, run_dir)
        store_effects.with_options(**io)(
            params.db, run_id, reports, log.source, params.partition or "all", off_policy + per_user + items
        )
        store_replicates.with_options(**io)(params.db, run_id, replicates)
        store_sequential.with_options(**io)(params.db, run_id)
    except BaseException as exc:
        # Ctrl-C (or the stop of a worker) is no failure of the data or the code: say so in the row.
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            status, message = "interrupted", f"stopped by {type(exc).__name__} (Ctrl-C, a stop); run it again to finish"
        else:
            status, message = "failed", f"{type(exc).__name__}: {exc}"
        finish_run.with_options(**io)(params.db, run_id, status, message)
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
        scorer=f"{params.backbone} ({params.scorer_mode})",
        edges=reports[0].edges,
        adjustment_set=reports[0].adjustment_set,
        estimates=tuple(asdict(e) for r in reports for e in r.estimates) + tuple(asdict(e) for e in off_policy),
    )
    _publish(summary)
    publish_report(params.db, run_id, params.work_dir, params.partition)
    publish_decision(params.db, run_id)
    return summary
