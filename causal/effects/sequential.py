"""Always-valid monitoring of an A/B difference: a confidence sequence beside the fixed-horizon interval at each look.

When one experiment is analysed partition after partition, a fixed-horizon 95% interval checked at every look
excludes 0 somewhere far more often than 5% of the time under no effect. A confidence sequence (CS) holds the
truth at every look at once with probability >= 1 - alpha, so a monitor may look after every partition and stop
at the first look that excludes 0.

The boundary is the two-sided normal mixture of Robbins, as in Howard, Ramdas, McAuliffe & Sekhon (2021,
"Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist., eq. (14)) and the mixture SPRT of
Johari, Pekelis & Walsh (2017, "Always valid inference"). With D_t the difference of the arms' means at look t,
V_t its estimated variance (v_t/n_t + v_c/n_c, each arm's var(ddof=1), as `ab_test` uses) and tau2 the variance
of the normal mixing distribution over the effect, the CS is

    D_t -+ sqrt( V_t (V_t + tau2) / tau2 * log( (V_t + tau2) / (V_t alpha^2) ) ).

It is Ville's inequality applied to the mixture martingale sqrt(V/(V + tau2)) exp(tau2 (D - delta)^2 /
(2 V (V + tau2))), symmetric in the effect's sign, so it is two-sided at alpha (not alpha / 2). The variance is
plugged in at each look, which makes it the asymptotic CS of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas
(2021, "Time-uniform central limit theory and asymptotic confidence sequences", Thm 2.2): valid as the looks grow
for any outcome with a finite variance (0/1 clicks, bounded ratings), exact for Gaussian outcomes.

Tuning. tau2 sets where the boundary is tightest. Waudby-Smith et al. give the choice that (nearly) minimises
the width at a planned horizon: tau2 = c(alpha) * V_H, with c(alpha) = -2 log(alpha) + log(1 - 2 log(alpha))
(7.94 at alpha = 0.05; the exact minimiser is 8.2, within 0.1% of the width) and V_H the estimate's variance at
the horizon. Here V_H is scaled from each look's own
variance by the arms' sizes, V_H = V_t * k_H / k_t with k = 1/n_t + 1/n_c, so the ratio V_t / tau2 = k_t /
(c(alpha) k_H) depends on the sample sizes alone. `horizon` is the planned rows per arm; by default the last
look's arms (then earlier looks' bounds move a little when later looks arrive: pass the plan when monitoring live).
The CS is always wider than the fixed interval at the same look, since 2 log(1/alpha) > z_{1-alpha/2}^2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from causal.effects.ab import ABResult, ArmCounts


@dataclass(frozen=True)
class LookCounts:
    """Both arms' outcomes at one look as sufficient statistics: rows, sum and sum of squares per arm."""

    n_t: int
    sum_t: float
    sumsq_t: float
    n_c: int
    sum_c: float
    sumsq_c: float

    def __add__(self, other: LookCounts) -> LookCounts:
        return LookCounts(*(a + b for a, b in zip(_fields(self), _fields(other))))

    @classmethod
    def from_arms(cls, treatment: ArmCounts, control: ArmCounts) -> LookCounts:
        """Counts of 0/1 outcomes: a 0/1 value is its own square, so the sum of squares is the hits."""
        return cls(treatment.n, treatment.hits, treatment.hits, control.n, control.hits, control.hits)


LookLike = LookCounts | tuple[ArmCounts, ArmCounts] | Sequence[float]


@dataclass(frozen=True)
class Look:
    """Treatment minus control at one look: the always-valid CS and the fixed-horizon interval, with their verdicts."""

    n: int  # rows in both arms up to this look
    estimate: float  # mean(treatment) - mean(control) over those rows
    cs_low: float
    cs_high: float
    fixed_low: float  # the Wald interval `ab_test` gives these rows, as if this look were the only one
    fixed_high: float
    rejects_always_valid: bool  # the CS excludes 0 at this look; stopping at the first such look keeps alpha
    rejects_naive: bool  # the fixed interval excludes 0: peeking at these inflates false positives


@dataclass(frozen=True)
class Bounds:
    """`sequence_bounds` over arrays of looks (last axis): the estimate, its variance and both half-widths."""

    estimate: np.ndarray
    variance: np.ndarray  # nan where an arm has fewer than 2 rows or both arms have no spread yet
    cs_half: np.ndarray
    fixed_half: np.ndarray

    def rejects(self) -> tuple[np.ndarray, np.ndarray]:
        """(always-valid, naive): whether the CS, and the fixed interval, exclude 0 at each look."""
        d = np.abs(self.estimate)
        return d > self.cs_half, d > self.fixed_half  # a nan bound compares False: no bound, no rejection


def mixing_constant(alpha: float) -> float:
    """c(alpha) = -2 log(alpha) + log(1 - 2 log(alpha)): tau2 / V at the look where the CS is tightest."""
    _check_alpha(alpha)
    return -2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))


def sequence_bounds(
    n_t: np.ndarray,
    sum_t: np.ndarray,
    sumsq_t: np.ndarray,
    n_c: np.ndarray,
    sum_c: np.ndarray,
    sumsq_c: np.ndarray,
    alpha: float = 0.05,
    horizon: tuple[float, float] | None = None,
) -> Bounds:
    """The CS and fixed half-widths of cumulative looks, vectorised: any leading axes (simulations), looks last.

    `horizon` is the planned rows per (treatment, control) arm; by default each sequence's last look.
    """
    _check_alpha(alpha)
    n_t, sum_t, sumsq_t, n_c, sum_c, sumsq_c = (
        np.asarray(a, dtype=float) for a in (n_t, sum_t, sumsq_t, n_c, sum_c, sumsq_c)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_t, mean_c = sum_t / n_t, sum_c / n_c
        # var(ddof=1) from the sums; clipped at 0 because sumsq - sum^2/n can round below it.
        var_t = np.clip(sumsq_t - sum_t * mean_t, 0, None) / (n_t - 1)
        var_c = np.clip(sumsq_c - sum_c * mean_c, 0, None) / (n_c - 1)
        variance = var_t / n_t + var_c / n_c
        variance = np.where((n_t >= 2) & (n_c >= 2) & (variance > 0), variance, np.nan)
        k = 1 / n_t + 1 / n_c
        k_h = 1 / horizon[0] + 1 / horizon[1] if horizon is not None else k[..., -1:]
        ratio = k / (mixing_constant(alpha) * k_h)  # V_t / tau2
        cs_half = np.sqrt(variance * (1 + ratio) * np.log((1 + 1 / ratio) / alpha**2))
    fixed_half = NormalDist().inv_cdf(1 - alpha / 2) * np.sqrt(variance)
    return Bounds(mean_t - mean_c, variance, cs_half, fixed_half)


def confidence_sequence(
    looks: Sequence[LookLike],
    alpha: float = 0.05,
    increments: bool = False,
    horizon: int | tuple[int, int] | None = None,
) -> tuple[Look, ...]:
    """The always-valid CS and the fixed-horizon interval of treatment minus control at each look.

    Each look is a `LookCounts`, a (treatment, control) pair of `ArmCounts` (0/1 outcomes), or the six numbers
    (n_t, sum_t, sumsq_t, n_c, sum_c, sumsq_c); cumulative up to that look, or each look's own rows with
    `increments=True`. `horizon` is the planned rows per arm (one number for both, or a pair), where the CS is
    tightest; by default the last look's. A look with fewer than 2 rows in an arm, or no spread in either arm,
    has nan bounds and rejects nothing.
    """
    if not looks:
        raise ValueError("looks is empty; pass at least one look's counts (see looks_from_ab)")
    counts = [_as_look(x, i) for i, x in enumerate(looks)]
    if increments:
        counts = _pooled(counts)
    else:
        for i, (a, b) in enumerate(zip(counts, counts[1:]), start=1):
            if b.n_t < a.n_t or b.n_c < a.n_c:
                raise ValueError(
                    f"cumulative looks must not lose rows; look {i} has arms ({b.n_t}, {b.n_c}) after "
                    f"({a.n_t}, {a.n_c}); pass increments=True if each look holds only its own rows"
                )
    if isinstance(horizon, (int, np.integer)):
        horizon = (int(horizon), int(horizon))
    if horizon is not None and min(horizon) < 1:
        raise ValueError(f"horizon must be planned rows per arm, at least 1; got {horizon!r}; or pass None")
    b = sequence_bounds(*np.array([_fields(c) for c in counts], dtype=float).T, alpha=alpha, horizon=horizon)
    always, naive = b.rejects()
    return tuple(
        Look(
            n=int(c.n_t + c.n_c),
            estimate=float(b.estimate[i]),
            cs_low=float(b.estimate[i] - b.cs_half[i]),
            cs_high=float(b.estimate[i] + b.cs_half[i]),
            fixed_low=float(b.estimate[i] - b.fixed_half[i]),
            fixed_high=float(b.estimate[i] + b.fixed_half[i]),
            rejects_always_valid=bool(always[i]),
            rejects_naive=bool(naive[i]),
        )
        for i, c in enumerate(counts)
    )


def looks_from_ab(
    results: Sequence[ABResult | Mapping[str, float]], cumulative: bool = False
) -> tuple[LookCounts, ...]:
    """Cumulative looks from per-partition A/B results of 0/1 outcomes, in partition order: look i pools 0..i.

    Each result is an `ABResult` or its stored diagnostics (a mapping with n_t, n_c, mean_t, mean_c, as the
    `ab_diff` rows of `interventions` carry). An arm with no rows has a nan mean and adds nothing.
    `cumulative`: each result already pools every partition up to its own (runs with `pool_since`), so the
    looks are the results themselves; an arm whose rows or hits shrink from one look to the next is refused.
    """
    looks = []
    for i, r in enumerate(results):
        get = (lambda key, r=r: getattr(r, key)) if isinstance(r, ABResult) else r.__getitem__
        arms = []
        for arm in ("t", "c"):
            n, mean = int(get(f"n_{arm}")), float(get(f"mean_{arm}"))
            hits = 0.0 if n == 0 else mean * n
            if not math.isfinite(hits) or abs(hits - round(hits)) > 1e-6 * max(1, n):
                raise ValueError(
                    f"result {i}: mean_{arm} * n_{arm} = {hits!r} is not a count of 0/1 outcomes; looks_from_ab "
                    "reads 0/1 outcomes only: pass LookCounts with the sums of squares for other outcomes"
                )
            arms.append(ArmCounts(n, int(round(hits))))
        looks.append(LookCounts.from_arms(*arms))
    if not cumulative:
        return tuple(_pooled(looks))
    for i in range(1, len(looks)):
        if any(b < a for a, b in zip(_fields(looks[i - 1]), _fields(looks[i]))):
            raise ValueError(
                f"result {i} holds fewer rows or outcomes than result {i - 1}: cumulative results must pool nested "
                "ranges (one pool_since); pass per-partition results with cumulative=False"
            )
    return tuple(looks)


def looks_frame(partitions: Sequence[str], counts: Sequence[LookCounts], looks: Sequence[Look]) -> pd.DataFrame:
    """One row per look for storing: its number (1-based), the partition it ends with, the arms' rows, the Look.

    `counts` are the cumulative looks `confidence_sequence` was given (e.g. `looks_from_ab`'s) and `looks` its answer.
    """
    if not len(partitions) == len(counts) == len(looks):
        raise ValueError(
            f"partitions, counts and looks must be one per look; got {len(partitions)}, {len(counts)} and "
            f"{len(looks)}; pass the counts confidence_sequence was given and its answer"
        )
    return pd.DataFrame(
        [
            {"look": i, "partition": p, "n_treatment": int(c.n_t), "n_control": int(c.n_c), "n_rows": look.n}
            | {k: v for k, v in asdict(look).items() if k != "n"}
            for i, (p, c, look) in enumerate(zip(partitions, counts, looks), start=1)
        ]
    )


def _pooled(counts: Sequence[LookCounts]) -> list[LookCounts]:
    """Running sums: look i holds the rows of looks 0..i."""
    out: list[LookCounts] = []
    for c in counts:
        out.append(out[-1] + c if out else c)
    return out


def _fields(c: LookCounts) -> tuple[float, ...]:
    return (c.n_t, c.sum_t, c.sumsq_t, c.n_c, c.sum_c, c.sumsq_c)


def _as_look(x: LookLike, i: int) -> LookCounts:
    """One look as LookCounts, checked for what no later look can fix."""
    if isinstance(x, tuple) and len(x) == 2 and all(isinstance(a, ArmCounts) for a in x):
        x = LookCounts.from_arms(*x)
    elif not isinstance(x, LookCounts):
        values = tuple(x)
        if len(values) != 6:
            raise ValueError(
                f"look {i} must be LookCounts, (ArmCounts, ArmCounts) or six numbers (n_t, sum_t, sumsq_t, n_c, "
                f"sum_c, sumsq_c); got {len(values)} values"
            )
        x = LookCounts(*values)
    if min(x.n_t, x.n_c) < 0 or not all(math.isfinite(float(v)) for v in _fields(x)):
        raise ValueError(f"look {i} must hold finite counts with n >= 0 in each arm; got {x}")
    return x


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1; got {alpha!r}; use 0.05 for 95% coverage")
