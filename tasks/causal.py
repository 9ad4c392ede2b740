"""Task: learn the network and estimate the treatment's effects with intervals."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

import causal


@task(name="estimate effects", cache_policy=NO_CACHE)
def estimate_effects(scored_path: str, config: causal.CausalConfig) -> causal.EffectReport:
    return causal.estimate_effects(pd.read_parquet(scored_path), config)
