"""Task: CUPED rows of a partitioned run (per-user outcomes, pre-period covariate) beside its plain A/B rows."""

from __future__ import annotations

from dataclasses import dataclass, replace

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

import causal
from causal.effects.cuped import cuped, cuped_estimates
from sources.user_outcomes import PRE_PREFIX, user_outcomes

MIN_USERS = 2  # per arm: a variance of per-user totals needs two users (causal.effects.cuped.cuped's own rule)


@dataclass(frozen=True)
class CupedRows:
    """The `cuped` estimates to store and one line per thing that was skipped or computed, for the run's log."""

    estimates: tuple[causal.Estimate, ...]
    notes: tuple[str, ...]


def pair_baseline(report: causal.EffectReport) -> str | None:
    """The baseline the pair's `ab_diff` rows were computed against, so CUPED compares the same two arms."""
    for e in report.estimates:
        if e.method == "ab_diff" and e.estimand == "ate" and e.baseline_value is not None:
            return e.baseline_value
    return None


def cuped_rows(
    scored_path: str,
    log_path: str,
    partition: str | None,
    configs: tuple[causal.CausalConfig, ...],
    reports: tuple[causal.EffectReport, ...],
    work_dir: str | None = None,
) -> CupedRows:
    """Per (treatment, outcome): each value vs the pair's A/B baseline on <outcome>_per_user, adjusted by CUPED.

    `scored_path` holds the run's rows of `partition`; `log_path` the whole log it was cut from, whose earlier
    dates give each user's pre-period total. Nothing is estimated for a run over the whole log, a log with no
    earlier date, or a partition where a user saw several values of the treatment: the notes say which.
    """
    if not partition:
        return CupedRows((), ("cuped: skipped, the run analyses the whole log; CUPED needs --partition D",))
    estimates: list[causal.Estimate] = []
    notes: list[str] = []
    baselines = {(r.treatment, r.outcome): pair_baseline(r) for r in reports}
    for treatment in dict.fromkeys(c.treatment for c in configs):
        pairs = [c for c in configs if c.treatment == treatment]
        outcomes = list(dict.fromkeys(c.outcome for c in pairs))
        found = user_outcomes(scored_path, log_path, partition, treatment, outcomes, work_dir=work_dir)
        if found.frame is None:
            notes.append(f"cuped: skipped {treatment}: {found.reason}")
            continue
        pre_period = found.pre_first if found.pre_first == found.pre_last else f"{found.pre_first}..{found.pre_last}"
        counts = found.frame[treatment].value_counts()
        thin = sorted(str(v) for v, n in counts.items() if n < MIN_USERS)
        frame = found.frame[~found.frame[treatment].isin(thin)]
        for config in pairs:
            baseline = baselines.get((treatment, config.outcome)) or config.baseline
            pair = f"{treatment} on {config.outcome}"
            if baseline is None or baseline not in set(frame[treatment]):
                notes.append(
                    f"cuped: skipped {pair}: its baseline {baseline!r} has fewer than {MIN_USERS} users in "
                    f"partition {partition} (users per value: {counts.to_dict()})"
                )
                continue
            if frame[treatment].nunique() < 2:
                notes.append(f"cuped: skipped {pair}: no value but the baseline {baseline!r} has {MIN_USERS} users")
                continue
            covariate = PRE_PREFIX + config.outcome
            results = cuped(frame, config.outcome, treatment, covariate, baseline, alpha=1 - config.ci_level)
            extra = dict(
                partition=partition, covariate=covariate, pre_period=pre_period, pre_rows=found.pre_rows, thin=thin
            )
            rows = cuped_estimates(results, treatment, config.outcome, "cuped")
            estimates += [replace(e, diagnostics={**e.diagnostics, **extra}) for e in rows]
            widths = ", ".join(f"{r.value} {r.width_ratio:.2f}x (-{r.variance_reduction:.0%})" for r in results)
            notes.append(
                f"cuped: {pair}_per_user vs {baseline} over {len(frame)} users, pre-period {pre_period}, "
                f"theta {results[0].theta:.3g}: interval width vs plain (variance reduction) {widths}"
            )
            if thin:
                notes.append(f"cuped: {pair}: left out value(s) {thin}, fewer than {MIN_USERS} users each")
    return CupedRows(tuple(estimates), tuple(notes))


@task(name="cuped", cache_policy=NO_CACHE)
def cuped_effects(
    scored_path: str,
    log_path: str,
    partition: str | None,
    configs: tuple[causal.CausalConfig, ...],
    reports: tuple[causal.EffectReport, ...],
    work_dir: str | None = None,
) -> tuple[causal.Estimate, ...]:
    """`cuped_rows`, with each note as one line of the run's log; returns the rows to store beside ab_diff's."""
    found = cuped_rows(scored_path, log_path, partition, configs, reports, work_dir)
    logger = get_run_logger()
    for note in found.notes:
        logger.info(note)
    return found.estimates
