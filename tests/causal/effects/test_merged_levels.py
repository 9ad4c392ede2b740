"""An adjusted category with more values than max_levels is merged coarser, and every bn_do row names the values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal import CausalConfig, estimate_effects

CITIES = ("a", "b", "c", "d", "e", "f", "g", "h")  # 8 values; shares fall with the letter, so f, g, h are rarest


def confounded_log(n: int = 6_000, seed: int = 0) -> pd.DataFrame:
    """user_city drives both the strategy served and the click: a confounder with 8 values."""
    rng = np.random.default_rng(seed)
    share = np.arange(len(CITIES), 0, -1, dtype=float)
    city = rng.choice(len(CITIES), size=n, p=share / share.sum())
    treated = rng.random(n) < 0.2 + 0.08 * city
    click = rng.random(n) < 0.1 + 0.1 * treated + 0.03 * city
    return pd.DataFrame(
        {
            "user_city": np.array(CITIES)[city],
            "strategy": np.where(treated, "new", "old"),
            "click": click.astype(int),
        }
    )


def _bn_do_diagnostics(max_levels: int) -> list[dict]:
    config = CausalConfig(
        treatment="strategy", baseline="old", n_bootstrap=4, bootstrap_chunk=4, refute=False, progress=False,
        max_levels=max_levels,
    )  # fmt: skip
    report = estimate_effects(confounded_log(), config)
    assert report.adjustment_set == ("user_city",)
    return [e.diagnostics for e in report.estimates if e.method == "bn_do"]


def test_every_bn_do_row_names_the_values_merged_into_other() -> None:
    merged = _bn_do_diagnostics(max_levels=6)
    assert merged and all(d["merged_levels"] == {"user_city": ["f", "g", "h"]} for d in merged)
    whole = _bn_do_diagnostics(max_levels=8)
    assert whole and all("merged_levels" not in d for d in whole)
