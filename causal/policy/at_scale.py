"""The target policy's off-policy estimates on a log too large for memory: IPW/SNIPW from counts, models on a sample.

IPW and SNIPW of the (context-free) Bernoulli-TS target use every logged row through their cells
(causal.policy.cells). The reward-model estimators (DM, DR, SNDR, Switch-DR, DRos) and bn_policy need each
row's context: they are fitted and evaluated on a seeded uniform sample of the logged rows, as the Open Bandit
protocol itself evaluates on samples, and each says so in its diagnostics. The on-policy truth comes from
every row the target served.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from causal.config import CausalConfig
from causal.policy.cells import BanditCells, cell_estimates
from causal.policy.estimators import MODEL_BASED, OPE_METHODS
from causal.policy.network_value import evaluate_obd_target, to_estimates
from causal.policy.policies import bts_action_dist
from causal.values import Estimate


def evaluate_target_at_scale(
    cells: BanditCells,
    sample: pd.DataFrame,
    on_policy: tuple[float, int] | None,
    *,
    logged_value: str,
    prior_path: str | Path,
    campaign: str,
    target_value: str,
    config: CausalConfig,
    model_refits: int,
    policy_column: str,
    outcome: str,
    n_sim: int = 100_000,
) -> tuple[Estimate, ...]:
    """Every estimate of evaluate_obd_target: IPW/SNIPW from all `cells`, the others from `sample`.

    `on_policy` is (click rate, rows) of the rows the target served, or None when the log has none.
    """
    pi = bts_action_dist(prior_path, campaign, len(cells.items), cells.len_list, n_sim=n_sim)
    counted = to_estimates(
        cell_estimates(cells, pi, config.n_bootstrap, config.seed, config.ci_level),
        treatment=policy_column,
        treatment_value=target_value,
        outcome=outcome,
    )
    sampled = evaluate_obd_target(
        sample,
        logged_value=logged_value,
        prior_path=prior_path,
        campaign=campaign,
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
        target_value=target_value,
        methods=tuple(m for m in OPE_METHODS if m in MODEL_BASED),
        config=config,
        n_sim=n_sim,
        model_refits=model_refits,
        policy_column=policy_column,
        outcome=outcome,
    )
    note = f"fitted and evaluated on a seeded uniform sample of {len(sample)} of the {cells.n_rows} logged rows"
    common = {
        "logged_policy": logged_value,
        "target_policy": f"bernoulli_ts_prior:{campaign}",
        "prior_file": Path(prior_path).name,
        "n_sim": n_sim,
    }
    if on_policy is not None:
        common.update(on_policy_value=on_policy[0], n_on_policy_rows=on_policy[1])
    out = []
    for e in (*counted, *(replace(e, diagnostics={**e.diagnostics, "sample": note}) for e in sampled)):
        extra = dict(common)
        if on_policy is not None and on_policy[0] > 0:
            extra["relative_error_vs_on_policy"] = abs(e.estimate - on_policy[0]) / on_policy[0]
        out.append(replace(e, diagnostics={**e.diagnostics, **extra}))
    return tuple(out)
