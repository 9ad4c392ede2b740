"""Task: learn the network and estimate the treatment's effects with intervals."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

import causal
from causal.ab import with_ab_diagnostics
from causal.policy_value import evaluate_obd_target


@task(name="estimate effects", cache_policy=NO_CACHE)
def estimate_effects(scored_path: str, config: causal.CausalConfig) -> causal.EffectReport:
    frame = pd.read_parquet(scored_path)
    report = causal.estimate_effects(frame, config)
    # The A/B rows carry the test's verdict and minimum detectable effect beside the interval.
    return replace(report, estimates=with_ab_diagnostics(report.estimates, frame))


@task(name="evaluate target policy", cache_policy=NO_CACHE)
def evaluate_target_policy(
    scored_path: str, prior_path: str, logged: str, target: str, config: causal.CausalConfig, refits: int
) -> tuple[causal.Estimate, ...]:
    """Off-policy estimates (and the network's answer) of the target policy's click rate from the logged rows."""
    return evaluate_obd_target(
        pd.read_parquet(scored_path),
        logged_value=logged,
        prior_path=prior_path,
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
        target_value=target,
        config=config,
        model_refits=refits,
        policy_column=config.treatment,
        outcome=config.outcome,
    )
