"""Bayesian-network causal estimates from recommender logs: discretise → learn → fit → identify → query.

Sub-packages follow the method: `causal.network` (the network itself), `causal.effects` (do-effects with
bootstrap intervals and refutations), `causal.policy` (off-policy evaluation), `causal.sim` (the simulator).
Names below load on first use, so `causal.CausalConfig` stays cheap for flow parameters and the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

from causal.config import CausalConfig

_LAZY = {
    "Discretized": "causal.network.discretize",
    "discretize": "causal.network.discretize",
    "user_feature_columns": "causal.network.discretize",
    "ArmCheck": "causal.effects.arms",
    "TreatmentArmsError": "causal.effects.arms",
    "check_arms": "causal.effects.arms",
    "BootstrapChunk": "causal.effects.bootstrap",
    "EffectReport": "causal.effects.estimate",
    "Estimate": "causal.values",
    "PreparedEffects": "causal.effects.prepare",
    "bootstrap_chunk": "causal.effects.bootstrap",
    "combine_effects": "causal.effects.estimate",
    "estimate_effects": "causal.effects.estimate",
    "prepare_effects": "causal.effects.prepare",
    "EncodedData": "causal.network.scores",
    "compress": "causal.network.scores",
    "CountFitter": "causal.network.fit",
    "fit_network": "causal.network.fit",
    "state_names_of": "causal.network.fit",
    "DoQueryMismatch": "causal.network.query",
    "adjustment_set": "causal.network.query",
    "check_agreement": "causal.network.query",
    "conditional_do_query": "causal.network.query",
    "do_query": "causal.network.query",
    "mutilate": "causal.network.query",
    "ConfoundedLog": "causal.sim.confounded",
    "Knowledge": "causal.network.knowledge",
    "LearnedStructure": "causal.network.knowledge",
    "learn_structure": "causal.network.structure",
    "tier_forbidden": "causal.network.knowledge",
}

__all__ = ["CausalConfig", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'causal' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
