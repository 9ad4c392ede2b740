"""Bayesian-network causal estimates from recommender logs: discretise → learn → fit → identify → query."""

from causal.config import CausalConfig
from causal.discretize import Discretized, discretize, user_feature_columns
from causal.effects import (
    BootstrapChunk,
    EffectReport,
    Estimate,
    PreparedEffects,
    bootstrap_chunk,
    combine_effects,
    estimate_effects,
    prepare_effects,
)
from causal.fit import CountFitter, fit_network, state_names_of
from causal.query import DoQueryMismatch, adjustment_set, check_agreement, conditional_do_query, do_query, mutilate
from causal.simulate import ConfoundedLog
from causal.structure import LearnedStructure, learn_structure, tier_forbidden_edges

__all__ = [
    "BootstrapChunk",
    "CausalConfig",
    "ConfoundedLog",
    "CountFitter",
    "Discretized",
    "DoQueryMismatch",
    "EffectReport",
    "Estimate",
    "LearnedStructure",
    "PreparedEffects",
    "adjustment_set",
    "bootstrap_chunk",
    "check_agreement",
    "combine_effects",
    "conditional_do_query",
    "discretize",
    "do_query",
    "estimate_effects",
    "fit_network",
    "learn_structure",
    "mutilate",
    "prepare_effects",
    "state_names_of",
    "tier_forbidden_edges",
    "user_feature_columns",
]
