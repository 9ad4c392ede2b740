"""Task: the scorer's item policies valued off-policy over the logged catalogue, when the log has item propensities."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from causal.config import CausalConfig
from causal.policy.catalogue import ScoredCatalogue, catalogue_values
from causal.policy.item_support import ItemLevelLog
from causal.values import Estimate
from scoring.catalogue import CatalogueScores, catalogue_rows


def item_policy_rows(scored_path: str, catalogue_path: str, config: CausalConfig) -> tuple[Estimate, ...]:
    """Greedy and softmax on the scorer, each by IPW, SNIPW, DM, DR, SNDR and MIPS, as `interventions` rows."""
    catalogue = CatalogueScores.load(catalogue_path)
    rows = catalogue_rows(scored_path, catalogue, config.outcome)
    log = ItemLevelLog(rows.context, rows.item, rows.reward, rows.pscore)
    scored = ScoredCatalogue(catalogue.scores, catalogue.clusters, catalogue.cluster_basis)
    return catalogue_values(log, scored, config.outcome, ci_level=config.ci_level, seed=config.seed)


@task(name="item policies", cache_policy=NO_CACHE)
def item_policy_values(
    scored_path: str, catalogue_path: str | None, note: str | None, config: CausalConfig
) -> tuple[Estimate, ...]:
    """`item_policy_rows`, or none with the reason in the run's log (no item propensities, too many contexts)."""
    logger = get_run_logger()
    if catalogue_path is None:
        logger.info("item policies: skipped: %s", note or "no catalogue was scored")
        return ()
    rows = item_policy_rows(scored_path, catalogue_path, config)
    for row in rows:
        if row.method in ("dr", "mips"):
            shown = f"{row.estimate:.4f} [{row.ci_low:.4f}, {row.ci_high:.4f}]" if row.explanation is None else "-"
            logger.info("item policies: %s by %s %s %s", row.treatment_value, row.method, shown, row.explanation or "")
    return rows
