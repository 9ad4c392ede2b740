"""Tasks: learn the network, run its bootstrap in chunks, combine them into the effects with intervals."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

import causal
from causal.config import OffPolicyConfig
from causal.policy.network_value import evaluate_obd_target


@task(name="prepare effects", cache_policy=NO_CACHE)
def prepare_effects(scored_path: str, config: causal.CausalConfig) -> causal.PreparedEffects:
    """Learn the network on all rows and answer the do-queries: what every bootstrap chunk starts from."""
    return causal.prepare_effects(pd.read_parquet(scored_path), config)


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


@task(name="evaluate target policy", cache_policy=NO_CACHE)
def evaluate_target_policy(
    scored_path: str, off_policy: OffPolicyConfig, config: causal.CausalConfig
) -> tuple[causal.Estimate, ...]:
    """Off-policy estimates (and the network's answer) of the target policy's click rate from the logged rows."""
    return evaluate_obd_target(
        pd.read_parquet(scored_path),
        logged_value=off_policy.logged,
        prior_path=off_policy.prior,
        campaign=off_policy.campaign,
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
        target_value=off_policy.target,
        config=config,
        model_refits=off_policy.refits,
        policy_column=config.treatment,
        outcome=config.outcome,
    )
