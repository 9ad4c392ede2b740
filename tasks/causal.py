"""Tasks: learn the network, run its bootstrap in chunks, combine them into the effects with intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

import causal
import sources
from causal.config import OffPolicyConfig
from causal.decide.run import PairReplicates, pair_replicates
from causal.effects.arms import shortfall
from sources.decision_cells import decision_cells


@task(name="prepare effects", cache_policy=NO_CACHE)
def prepare_effects(
    scored_path: str, config: causal.CausalConfig, counter: Literal["duckdb", "dask"] = "duckdb"
) -> causal.PreparedEffects:
    """Learn the network on all rows and answer the do-queries: what every bootstrap chunk starts from.

    The network needs only the contingency table of its nodes, so the scored log is counted out of core
    (DuckDB, or the Dask cluster the task runs on) and never read whole; resample="rows" redraws the
    rows themselves and so still reads them.
    """
    return causal.prepare_effects(network_data(scored_path, config, counter), config)


def network_data(
    scored_path: str, config: causal.CausalConfig, counter: Literal["duckdb", "dask"] = "duckdb"
) -> pd.DataFrame | causal.Discretized:
    """What the network is learned from: the cells with their row counts, or the rows for resample="rows"."""
    if config.resample == "rows":
        return pd.read_parquet(scored_path)
    if counter == "dask":
        from distributed import worker_client  # the task runs on a Dask worker: count on that worker's cluster

        with worker_client() as client:
            return sources.count_cells_dask(scored_path, config, client)
    return sources.count_cells(scored_path, config, work_dir=Path(scored_path).parent)


@task(name="bootstrap chunk", cache_policy=NO_CACHE)
def bootstrap_chunk(
    scored_path: str, config: causal.CausalConfig, prepared: causal.PreparedEffects, chunk: int
) -> causal.BootstrapChunk:
    """One seeded chunk of bootstrap replicates. `prepared` follows from scored_path and config, which key the cache."""
    return causal.bootstrap_chunk(prepared, chunk)


@task(name="combine effects", cache_policy=NO_CACHE)
def combine_effects(
    scored_path: str, prepared: causal.PreparedEffects, chunks: list[causal.BootstrapChunk]
) -> causal.EffectReport:
    """The pair's estimates with their intervals from every chunk (the A/B rows carry the test's verdict)."""
    return causal.combine_effects(prepared, chunks)


def withheld_off_policy(
    off_policy: OffPolicyConfig, config: causal.CausalConfig, n_logged: int, reason: str
) -> tuple[causal.Estimate, ...]:
    """One row per off-policy method, without a number, saying why the logged rows cannot support one."""
    from causal.policy.estimators import OPE_METHODS

    nan = float("nan")
    return tuple(
        causal.Estimate(
            treatment=config.treatment,
            treatment_value=off_policy.target,
            baseline_value=None,
            outcome=config.outcome,
            estimand="interventional_mean",
            method=method,
            estimate=nan,
            ci_low=nan,
            ci_high=nan,
            n_rows=n_logged,
            adjustment_set=(),
            diagnostics={
                "logged_policy": off_policy.logged,
                "target_policy": f"bernoulli_ts_prior:{off_policy.campaign}",
            },
            explanation=f"off-policy evaluation from the {off_policy.logged} log: {reason}",
        )
        for method in (*OPE_METHODS, "bn_policy")
    )


@task(name="evaluate target policy", cache_policy=NO_CACHE)
def evaluate_target_policy(
    scored_path: str, off_policy: OffPolicyConfig, config: causal.CausalConfig
) -> tuple[causal.Estimate, ...]:
    """Off-policy estimates (and the network's answer) of the target policy's click rate from the logged rows.

    A log with at most off_policy.max_rows logged rows is read whole; a larger one never is: IPW/SNIPW come
    from DuckDB's counts of every logged row, the reward-model estimators and bn_policy from a seeded sample.
    """
    from causal.policy.network_value import evaluate_obd_target  # pgmpy, scipy: imported when OPE runs
    from sources import bandit_counts

    policy, outcome = config.treatment, config.outcome
    per_policy = bandit_counts.policy_rows(scored_path, policy, outcome, work_dir=Path(scored_path).parent)
    logged = per_policy[per_policy.policy == off_policy.logged]
    n_logged = int(logged.n.iloc[0]) if len(logged) else 0
    positives = int(logged.positives.iloc[0]) if n_logged else 0
    name = f"the logged policy {policy}={off_policy.logged}"
    thin = shortfall(name, n_logged, positives, outcome, config.min_arm_events, f"{policy}={off_policy.logged}")
    if thin:  # every estimator would be the prior's or a single class's: rows that say so, no number
        return withheld_off_policy(off_policy, config, n_logged, thin)
    common = dict(
        logged_value=off_policy.logged,
        prior_path=off_policy.prior,
        campaign=off_policy.campaign,
        target_value=off_policy.target,
        config=config,
        model_refits=off_policy.refits,
        policy_column=policy,
        outcome=outcome,
    )
    if logged.empty or int(logged.n.iloc[0]) <= off_policy.max_rows:
        return evaluate_obd_target(
            pd.read_parquet(scored_path), n_bootstrap=config.n_bootstrap, seed=config.seed, **common
        )
    from causal.policy.at_scale import evaluate_target_at_scale
    from causal.policy.policies import load_bts_prior

    alpha, _ = load_bts_prior(off_policy.prior, off_policy.campaign)
    items = tuple(str(i) for i in range(len(alpha)))  # the prior's items, as obp numbers Open Bandit's
    work = Path(scored_path).parent
    target = per_policy[per_policy.policy == off_policy.target]
    return evaluate_target_at_scale(
        bandit_counts.bandit_cells(scored_path, policy, off_policy.logged, outcome, items, work_dir=work),
        bandit_counts.seeded_sample(scored_path, policy, off_policy.logged, off_policy.max_rows, config.seed, work),
        None if target.empty else (float(target["mean"].iloc[0]), int(target.n.iloc[0])),
        **common,
    )


@task(name="collect replicates", cache_policy=NO_CACHE)
def collect_replicates(
    scored_path: str, prepared: causal.PreparedEffects, chunks: list[causal.BootstrapChunk]
) -> PairReplicates:
    """The pair's bootstrap replicates as rows to store, and its segment policy valued by the network and by DR."""
    cfg = prepared.config
    cells = decision_cells(scored_path, cfg.treatment, cfg.outcome, prepared.segment)
    return pair_replicates(prepared, chunks, cells)
