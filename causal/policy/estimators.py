"""Off-policy estimates of a target policy's click rate (IPW to DRos), their intervals and SLOPE tuning."""

# The estimators follow the Open Bandit Pipeline (obp 0.5, `obp/ope/estimators.py`) position by
# position: a logged row is (x, a, k, r, pscore) with k the slot the item a was shown in and pscore
# the logger's probability of showing a in slot k; pi_e(a, k | x) is the target policy's; the
# importance weight is w = pi_e(a, k | x) / pscore and q(x, a, k) a reward model's prediction:
#
# IPW       = mean(w r)                     SNIPW = sum(w r) / sum(w)
# DM        = mean(sum_a pi_e(a, k | x) q(x, a, k))
# DR        = DM + mean(w (r - q(x, a, k)))  SNDR  = DM + sum(w (r - q)) / sum(w)
# Switch-DR = DM + mean(1[w <= tau] w (r - q))
# DRos      = DM + mean(lambda w / (w^2 + lambda) (r - q))
#
# tau and lambda are chosen from candidates by SLOPE (obp's default `tuning_method="slope"`).

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from tqdm.auto import tqdm

from causal.policy.logged import BanditLog, OPEError
from causal.policy.reward import LogisticRewardModel, RewardModel
from causal.policy.support import (
    check_action_dist,
    factual_probability,
    require_propensities,
    slot_distribution,
    support_diagnostics,
)
from common.values import jsonable

OPE_METHODS: tuple[str, ...] = ("ipw", "snipw", "dm", "dr", "sndr", "switch_dr", "dr_os")
WEIGHTED = frozenset({"ipw", "snipw", "dr", "sndr", "switch_dr", "dr_os"})  # need propensities and support
MODEL_BASED = frozenset({"dm", "dr", "sndr", "switch_dr", "dr_os"})  # need a reward model
TUNED = frozenset({"switch_dr", "dr_os"})
# obp's examples tune Switch-DR and DRos over these candidates.
TUNING_CANDIDATES: tuple[float, ...] = (10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, math.inf)


@dataclass(frozen=True)
class PolicyEstimate:
    """One estimate of the target policy's value with its interval and what the method saw."""

    method: str
    estimate: float
    ci_low: float
    ci_high: float
    n_rows: int
    adjustment_set: tuple[str, ...] = ()
    diagnostics: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, eq=False)
class _Parts:
    """Per-row ingredients shared by the estimators (any may be None when unavailable)."""

    r: np.ndarray
    w: np.ndarray | None
    q_pi: np.ndarray | None  # sum_a pi_e(a, k_t | x_t) q(x_t, a, k_t)
    q_fact: np.ndarray | None  # q(x_t, a_t, k_t)


def _parts(log: BanditLog, pi: np.ndarray, q: np.ndarray | None, need_weights: bool) -> _Parts:
    w = factual_probability(log, pi) / require_propensities(log) if need_weights else None
    q_pi = q_fact = None
    if q is not None:
        rows = np.arange(log.n_rounds)
        q_slot = q[rows, :, log.position]  # (n, n_actions)
        q_pi = np.einsum("na,na->n", slot_distribution(log, pi), q_slot)
        q_fact = q_slot[rows, log.action]
    return _Parts(r=log.reward, w=w, q_pi=q_pi, q_fact=q_fact)


def _round_rewards(method: str, p: _Parts, hyper: float | None = None) -> np.ndarray:
    """obp's `_estimate_round_rewards`: the per-row terms whose mean is the estimate."""
    if method == "ipw":
        return p.w * p.r
    if method == "snipw":
        return p.w * p.r / p.w.mean()
    if method == "dm":
        return p.q_pi
    residual = p.r - p.q_fact
    if method == "dr":
        return p.q_pi + p.w * residual
    if method == "sndr":
        return p.q_pi + p.w * residual / p.w.mean()
    if method == "switch_dr":
        return p.q_pi + (p.w <= hyper) * p.w * residual
    if method == "dr_os":
        shrunk = p.w if math.isinf(hyper) else hyper * p.w / (p.w**2 + hyper)
        return p.q_pi + shrunk * residual
    raise OPEError(f"unknown estimator {method!r}; known: {list(OPE_METHODS)}")


def _weighted_estimate(method: str, p: _Parts, m: np.ndarray, hyper: float | None = None) -> np.ndarray:
    """The estimate on resampled rows, for row multiplicities m of shape (B, n).

    Self-normalised terms are renormalised per replicate.
    """
    total = m.sum(axis=1)
    if method == "snipw":
        return (m @ (p.w * p.r)) / (m @ p.w)
    if method == "sndr":
        return (m @ p.q_pi) / total + (m @ (p.w * (p.r - p.q_fact))) / (m @ p.w)
    return (m @ _round_rewards(method, p, hyper)) / total


def slope_select(round_rewards: Sequence[np.ndarray], candidates: Sequence[float], delta: float = 0.05) -> float:
    """SLOPE (SLOPE++ of Tucker and Lee 2021, as obp implements it): the candidate to tune an estimator with.

    Candidates are taken from the widest confidence interval (least bias) to the narrowest; the
    walk stops before the first whose estimate leaves |theta_i - theta_j| <= cnf_i + (sqrt(6) - 1) cnf_j
    for an earlier j, where cnf is the Student-t half-width at level 1 - delta.
    """
    c = math.sqrt(6) - 1
    theta = [float(r.mean()) for r in round_rewards]
    cnf = []
    for r in round_rewards:
        n = r.shape[0]
        cnf.append(float(math.sqrt(np.var(r) / (n - 1)) * stats.t(n - 1).ppf(1.0 - delta)))
    order = np.argsort(cnf)[::-1]
    kept_theta: list[float] = []
    kept_cnf: list[float] = []
    for i, idx in enumerate(order):
        if kept_theta and not np.all(np.abs(np.array(kept_theta) - theta[idx]) <= cnf[idx] + c * np.array(kept_cnf)):
            return float(candidates[order[i - 1]])
        kept_theta.append(theta[idx])
        kept_cnf.append(cnf[idx])
    return float(candidates[order[-1]])


def point_estimates(
    log: BanditLog,
    action_dist: np.ndarray,
    q: np.ndarray | None = None,
    methods: Sequence[str] = OPE_METHODS,
    candidates: Sequence[float] = TUNING_CANDIDATES,
) -> dict[str, float]:
    """Each method's estimate on all rows (no interval): what the Open Bandit benchmark compares."""
    pi = check_action_dist(log, action_dist)
    _check_methods(methods, q)
    parts = _parts(log, pi, q, need_weights=bool(WEIGHTED & set(methods)))
    out = {}
    for method in methods:
        hyper = _tune(method, parts, candidates)
        out[method] = float(_round_rewards(method, parts, hyper).mean())
    return out


def evaluate_policy(
    log: BanditLog,
    action_dist: np.ndarray,
    methods: Sequence[str] = OPE_METHODS,
    reward_model: RewardModel | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    *,
    n_folds: int = 3,
    model_refits: int = 30,
    ci_level: float = 0.95,
    candidates: Sequence[float] = TUNING_CANDIDATES,
    logger_action_dist: np.ndarray | None = None,
    progress: bool = False,
    allow_unsupported: bool = False,
) -> tuple[PolicyEstimate, ...]:
    """Every requested estimate of the target's value with a bootstrap interval and diagnostics.

    Point estimates: the reward model (default `LogisticRewardModel`) cross-fitted once with
    `n_folds` folds; Switch-DR's tau and DRos's lambda tuned by SLOPE on all rows and then kept.
    Intervals: IPW and SNIPW, percentile intervals of `n_bootstrap` resamples of the rows (numpy
    `default_rng(seed)` multiplicities). Model-based methods, point +- z * the standard deviation
    over `model_refits` resamples in each of which the reward model is fitted again, so the
    interval holds the model's own error (DM's dominant one); with model_refits=0 they reuse the
    row resamples with the model held fixed, which understates DM's uncertainty (flagged in the
    diagnostics). IPW-family methods stop with an OPEError when the target puts mass outside the
    logger's support, unless `allow_unsupported`.
    """
    pi = check_action_dist(log, action_dist)
    methods = tuple(methods)
    if not methods:
        raise OPEError(f"no estimator requested; pick from {list(OPE_METHODS)}")
    _check_methods(methods, None, allow_model=True)
    if not isinstance(n_bootstrap, int) or n_bootstrap < 2:
        raise OPEError(f"n_bootstrap must be an integer >= 2; got {n_bootstrap!r}; use 200 for reported intervals")
    if not isinstance(model_refits, int) or model_refits < 0 or model_refits == 1:
        raise OPEError(f"model_refits must be 0 or an integer >= 2; got {model_refits!r}; 30 is a fair default")
    if not 0 < ci_level < 1:
        raise OPEError(f"ci_level must lie strictly between 0 and 1; got {ci_level!r}")
    weighted = [m for m in methods if m in WEIGHTED]
    if weighted:
        require_propensities(log, weighted[0])
    diag = support_diagnostics(log, pi, logger_action_dist)
    if weighted and not diag["support_ok"] and not allow_unsupported:
        raise OPEError(
            f"estimators {weighted} need the target policy's support inside the logger's, but the target puts "
            f"{diag['share_of_target_mass_outside_support']:.1%} of its mass on (item, slot) pairs the logger never "
            f"showed ({', '.join(diag['unsupported_examples'])}); importance weights cannot see those and the "
            "estimate would be biased towards 0: restrict the policy to logged items, or use 'dm' / 'bn_policy', "
            "which extrapolate through a model (or pass allow_unsupported=True to get the biased numbers)"
        )
    model_based = [m for m in methods if m in MODEL_BASED]
    model = None
    q = None
    if model_based:
        model = reward_model if reward_model is not None else LogisticRewardModel()
        q = _fit_predict(model, log, n_folds, seed)
    parts = _parts(log, pi, q, need_weights=bool(weighted))
    hyper = {m: _tune(m, parts, candidates) for m in methods}
    point = {m: float(_round_rewards(m, parts, hyper[m]).mean()) for m in methods}

    rng = np.random.default_rng(seed)
    n = log.n_rounds
    multiplicities = np.stack(
        [np.bincount(rng.integers(0, n, size=n), minlength=n) for _ in range(n_bootstrap)]
    ).astype(float)
    intervals = {}
    for m in methods:
        if m in MODEL_BASED and model_refits:
            continue
        draws = _weighted_estimate(m, parts, multiplicities, hyper[m])
        lo, hi = np.quantile(draws, [(1 - ci_level) / 2, (1 + ci_level) / 2])
        intervals[m] = (float(lo), float(hi))
    if model_based and model_refits:
        refit_rng = np.random.default_rng([seed, 1])
        draws = {m: np.empty(model_refits) for m in model_based}
        for b in tqdm(range(model_refits), desc="reward-model refits", disable=not progress, leave=False):
            idx = refit_rng.integers(0, n, size=n)
            sub = log.take(idx)
            sub_pi = pi if pi.ndim == 2 else pi[idx]
            sub_parts = _parts(sub, sub_pi, _fit_predict(model, sub, n_folds, seed), need_weights=bool(weighted))
            for m in model_based:
                draws[m][b] = _round_rewards(m, sub_parts, hyper[m]).mean()
        z = stats.norm.ppf(0.5 + ci_level / 2)
        for m in model_based:
            se = float(draws[m].std(ddof=1))
            intervals[m] = (point[m] - z * se, point[m] + z * se)

    out = []
    for m in methods:
        extra: dict = {"ci_level": ci_level}
        if m in MODEL_BASED:
            extra.update(reward_model=type(model).__name__, cross_fit_folds=n_folds)
            if model_refits:
                extra.update(interval="normal, SE over resamples refitting the reward model", model_refits=model_refits)
            else:
                extra.update(
                    interval="percentile, reward model held fixed (understates the model's own error)",
                    bootstrap_replicates=n_bootstrap,
                )
        else:
            extra.update(interval="percentile", bootstrap_replicates=n_bootstrap)
        if m in TUNED:
            extra["tau" if m == "switch_dr" else "lambda"] = jsonable(hyper[m])
            extra["tuning"] = "slope"
        if m == "switch_dr":
            extra["share_rows_switched_to_model"] = float((parts.w > hyper[m]).mean())
        out.append(
            PolicyEstimate(
                method=m,
                estimate=point[m],
                ci_low=intervals[m][0],
                ci_high=intervals[m][1],
                n_rows=n,
                adjustment_set=log.context_columns if m in MODEL_BASED else (),
                diagnostics={**diag, **extra},
            )
        )
    return tuple(out)


def _fit_predict(model: RewardModel, log: BanditLog, n_folds: int, seed: int) -> np.ndarray:
    q = np.asarray(model.fit_predict(log, n_folds, seed), dtype=float)
    if q.shape != (log.n_rounds, log.n_actions, log.len_list):
        raise OPEError(
            f"{type(model).__name__}.fit_predict returned shape {q.shape}; expected (n_rows, n_actions, len_list) = "
            f"{(log.n_rounds, log.n_actions, log.len_list)}"
        )
    return q


def _tune(method: str, parts: _Parts, candidates: Sequence[float]) -> float | None:
    if method not in TUNED:
        return None
    if not candidates:
        raise OPEError(f"{method!r} needs at least one tuning candidate")
    return slope_select([_round_rewards(method, parts, c) for c in candidates], candidates)


def _check_methods(methods: Sequence[str], q: np.ndarray | None, allow_model: bool = False) -> None:
    unknown = [m for m in methods if m not in OPE_METHODS]
    if unknown:
        raise OPEError(
            f"unknown estimators {unknown}; known: {list(OPE_METHODS)} (bn_policy: causal.policy.network_value)"
        )
    if not allow_model and q is None and MODEL_BASED & set(methods):
        raise OPEError(f"estimators {sorted(MODEL_BASED & set(methods))} need reward predictions q; pass q")
