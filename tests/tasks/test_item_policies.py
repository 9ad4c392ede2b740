"""The scorer's item policies valued off-policy in the pipeline's own steps, against the simulator's exact values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal.config import CausalConfig
from causal.sim.simulator import SimulatorConfig, simulate
from causal.sim.taste import item_world
from scoring import ScorerConfig, score_log
from scoring.catalogue import CatalogueScores
from scoring.text import row_parts
from tasks.items import item_policy_rows

CONFIG = SimulatorConfig(impressions=20_000, seed=0, taste_following=0.5)


def exact_values(world, catalogue: CatalogueScores, log: pd.DataFrame, targets: dict[str, np.ndarray]) -> dict:
    """Each (context, item) target spread to the simulator's users (their context from the log), valued exactly."""
    users, _ = row_parts(log[[c for c in log.columns if c.startswith("user_")]], exclude=("click",))
    context_of = dict(zip(log["user_id"].astype(str), users))
    index = {c: k for k, c in enumerate(catalogue.contexts)}
    columns = pd.Index(world.items).get_indexer(list(catalogue.items))
    values = {}
    for name, target in targets.items():
        full = world.unseen / world.unseen.sum(axis=1, keepdims=True)  # users without impressions weigh 0
        for u, user in enumerate(world.users):
            if user in context_of:
                full[u] = 0.0
                full[u, columns] = target[index[context_of[user]]]
        values[name] = world.value(full)
    return values


@pytest.mark.slow
def test_doubly_robust_values_of_the_scorers_policies_cover_the_exact_values(tmp_path: Path) -> None:
    from causal.policy.catalogue import scorer_targets

    log = simulate(CONFIG).log
    path = tmp_path / "clean.parquet"
    log.to_parquet(path, index=False)
    config = ScorerConfig(progress=False, accelerator="cpu")
    scored = score_log(str(path), str(tmp_path / "scored.parquet"), "click", config, tmp_path / "scorer")
    assert scored.catalogue_note is None and Path(scored.catalogue).is_file()
    catalogue = CatalogueScores.load(scored.catalogue)
    assert catalogue.scores.shape == (len(catalogue.contexts), log["item_id"].nunique())
    assert catalogue.cluster_basis == "score profiles over the contexts"  # fine-tuned: no frozen text vectors

    rows = item_policy_rows(scored.path, scored.catalogue, CausalConfig(treatment="strategy", outcome="click"))
    assert {(r.treatment_value, r.method) for r in rows} == {
        (t, m) for t in ("greedy_scorer", "softmax_scorer") for m in ("ipw", "snipw", "dm", "dr", "sndr", "mips")
    }
    assert {r.treatment for r in rows} == {"item_policy"} and {r.n_rows for r in rows} == {len(log)}
    assert all(np.isnan(r.estimate) or 0 <= r.estimate <= 1 for r in rows)  # a rate, or no number with the reason
    truth = exact_values(item_world(CONFIG), catalogue, log, scorer_targets(catalogue.scores))
    by = {(r.treatment_value, r.method): r for r in rows}
    for target, value in truth.items():
        dr = by[(target, "dr")]
        assert dr.ci_low <= value <= dr.ci_high, (target, value, dr)  # the scorer's residuals corrected by weights
        assert dr.diagnostics["share_of_target_mass_on_items_never_logged_in_the_context"] >= 0
    # greedy serves one film per context, to users who rated it too (the logger never shows them a rated film):
    # IPW's weights see none of that mass and fall far short, which is why DR is the row to read.
    assert by[("greedy_scorer", "ipw")].ci_high < truth["greedy_scorer"] - 0.1


@pytest.mark.slow
def test_a_streamed_log_gathers_the_same_catalogue_batch_by_batch(tmp_path: Path) -> None:
    log = simulate(SimulatorConfig(impressions=3_000, seed=1, taste_following=0.5)).log
    path = tmp_path / "clean.parquet"
    log.to_parquet(path, index=False)
    config = ScorerConfig(progress=False, accelerator="cpu", train_rows=1_000)  # above train_rows: streamed
    scored = score_log(str(path), str(tmp_path / "s.parquet"), "click", config, tmp_path / "w", batch_rows=700)
    catalogue = CatalogueScores.load(scored.catalogue)
    users, _ = row_parts(log[[c for c in log.columns if c.startswith("user_")]], exclude=("click",))
    assert set(catalogue.contexts) == set(users)
    assert catalogue.items == tuple(dict.fromkeys(log["item_id"].astype(str)))  # first-seen order over the batches
    assert catalogue.scores.shape == (len(set(users)), log["item_id"].nunique())
    assert np.isfinite(catalogue.scores).all() and ((catalogue.scores > 0) & (catalogue.scores < 1)).all()
