"""IPW and SNIPW of a context-free target policy from counts: each (item, slot, propensity, reward) cell once.

With a target policy that does not look at the context (the prior-only Bernoulli-TS of the Open Bandit
protocol), a row's IPW term w r depends only on its item a, slot k, propensity p and reward r. So the
estimators need the number of logged rows in each (a, k, p, r) cell, which DuckDB counts out of core, and
not the rows: IPW = sum c w r / sum c, SNIPW = sum c w r / sum c w. The bootstrap draws cell multiplicities
from Multinomial(N, c / N), which is the distribution of the row multiplicities of a row bootstrap summed
by cell, so its intervals are the row bootstrap's in distribution at a cost of cells x B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causal.policy.estimators import PolicyEstimate
from causal.policy.logged import OPEError
from common.values import percentile_interval

CELL_METHODS: tuple[str, ...] = ("ipw", "snipw")


@dataclass(frozen=True, eq=False)
class BanditCells:
    """The logged rows of one policy counted by (action, slot, propensity, reward)."""

    action: np.ndarray  # (C,) int64 index into items
    position: np.ndarray  # (C,) int64 0-based slot
    pscore: np.ndarray  # (C,) float64 the logger's P(item in slot)
    reward: np.ndarray  # (C,) float64 0/1
    count: np.ndarray  # (C,) float64 logged rows in the cell
    items: tuple[str, ...]
    len_list: int

    @property
    def n_rows(self) -> int:
        return int(self.count.sum())

    def __post_init__(self) -> None:
        if self.count.size == 0 or self.count.sum() < 1:
            raise OPEError("the log has no rows of the logged policy; off-policy estimates need its rows")
        bad = (~np.isfinite(self.pscore)) | (self.pscore <= 0) | (self.pscore > 1)
        if bad.any():
            raise OPEError(
                f"{int(self.count[bad].sum())} logged rows have a propensity outside (0, 1] (e.g. "
                f"{float(self.pscore[bad][0])!r}); IPW divides by it: fix the propensity column at the source"
            )


def cell_estimates(
    cells: BanditCells,
    action_dist: np.ndarray,
    n_bootstrap: int = 200,
    seed: int = 0,
    ci_level: float = 0.95,
    methods: tuple[str, ...] = CELL_METHODS,
) -> tuple[PolicyEstimate, ...]:
    """IPW and SNIPW with percentile intervals from a multinomial bootstrap of the cells."""
    pi = np.asarray(action_dist, dtype=float)
    if pi.shape != (len(cells.items), cells.len_list):
        raise OPEError(
            f"a context-free action_dist must be (n_actions, len_list) = {(len(cells.items), cells.len_list)}; "
            f"got {pi.shape}"
        )
    unknown = [m for m in methods if m not in CELL_METHODS]
    if unknown:
        raise OPEError(f"estimators {unknown} need each row's context; from counts: {list(CELL_METHODS)}")
    w = pi[cells.action, cells.position] / cells.pscore  # (C,)
    wr = w * cells.reward
    n = cells.n_rows
    rng = np.random.default_rng([seed, 2])  # its own stream: the row path's draws are not reused
    draws = rng.multinomial(n, cells.count / cells.count.sum(), size=n_bootstrap).astype(np.float64)  # (B, C)
    point = {"ipw": float(cells.count @ wr / n), "snipw": float((cells.count @ wr) / (cells.count @ w))}
    replicate = {"ipw": draws @ wr / n, "snipw": (draws @ wr) / (draws @ w)}
    ess = float((cells.count @ w) ** 2 / (cells.count @ (w * w))) if (cells.count @ (w * w)) > 0 else 0.0
    diagnostics = {
        "n_rows": n,
        "n_cells": int(cells.count.size),
        "from": "counts of (item, slot, propensity, reward) over every logged row",
        "interval": "percentile",
        "bootstrap": "multinomial over cells (the row bootstrap in distribution)",
        "bootstrap_replicates": n_bootstrap,
        "ci_level": ci_level,
        "ess": ess,
        "ess_share": ess / n,
        "mean_weight": float(cells.count @ w / n),
        "max_weight": float(w.max()),
        "share_zero_weight": float(cells.count[w == 0].sum() / n),
        "min_pscore": float(cells.pscore.min()),
        "max_pscore": float(cells.pscore.max()),
        "n_actions": len(cells.items),
        "len_list": cells.len_list,
    }
    out = []
    for m in methods:
        lo, hi = percentile_interval(replicate[m], ci_level)
        out.append(PolicyEstimate(m, point[m], lo, hi, n, (), dict(diagnostics)))
    return tuple(out)
