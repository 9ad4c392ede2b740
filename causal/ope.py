"""Off-policy estimates of a target policy's click rate from another policy's logged rows (IPW to DRos).

The estimators follow the Open Bandit Pipeline (obp 0.5, `obp/ope/estimators.py`) position by
position: a logged row is (x, a, k, r, pscore) with k the slot the item a was shown in and pscore
the logger's probability of showing a in slot k; pi_e(a, k | x) is the target policy's; the
importance weight is w = pi_e(a, k | x) / pscore and q(x, a, k) a reward model's prediction:

    IPW       = mean(w r)                     SNIPW = sum(w r) / sum(w)
    DM        = mean(sum_a pi_e(a, k | x) q(x, a, k))
    DR        = DM + mean(w (r - q(x, a, k)))  SNDR  = DM + sum(w (r - q)) / sum(w)
    Switch-DR = DM + mean(1[w <= tau] w (r - q))
    DRos      = DM + mean(lambda w / (w^2 + lambda) (r - q))

tau and lambda are chosen from candidates by SLOPE (obp's default `tuning_method="slope"`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm
import pandas as pd
from scipy import stats

from causal.discretize import user_feature_columns

OPE_METHODS: tuple[str, ...] = ("ipw", "snipw", "dm", "dr", "sndr", "switch_dr", "dr_os")
WEIGHTED = frozenset({"ipw", "snipw", "dr", "sndr", "switch_dr", "dr_os"})  # need propensities and support
MODEL_BASED = frozenset({"dm", "dr", "sndr", "switch_dr", "dr_os"})  # need a reward model
TUNED = frozenset({"switch_dr", "dr_os"})
# obp's examples tune Switch-DR and DRos over these candidates.
TUNING_CANDIDATES: tuple[float, ...] = (10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, math.inf)
_NOT_CONTEXT_PREFIXES = ("user_item_",)  # user x item quantities: unknown for items the row did not show


class OPEError(ValueError):
    """An estimator cannot apply to this log and policy (the message says which rule, the value, the fix)."""


@dataclass(frozen=True, eq=False)
class BanditLog:
    """Logged bandit feedback as arrays: one row per impression slot."""

    action: np.ndarray  # (n,) int64 index into items
    position: np.ndarray  # (n,) int64 0-based slot
    reward: np.ndarray  # (n,) float64
    pscore: np.ndarray | None  # (n,) logger's P(item a in slot k | x); None when the log has no propensity
    context: np.ndarray  # (n, d) float64 features of the row's user
    action_context: np.ndarray  # (n_actions, d_a) float64 features of each item
    items: tuple[str, ...]  # item_id of each action index
    len_list: int
    context_columns: tuple[str, ...] = ()
    outcome: str = "click"
    source_row: np.ndarray | None = None  # (n,) row of the log as built (bootstrap resamples repeat them); None: 0..n-1

    @property
    def rows(self) -> np.ndarray:
        """Each row's index in the log as `bandit_log` built it (scores computed for that log line up with it)."""
        return np.arange(self.n_rounds) if self.source_row is None else self.source_row

    @property
    def n_rounds(self) -> int:
        return int(self.action.shape[0])

    @property
    def n_actions(self) -> int:
        return len(self.items)

    def take(self, idx: np.ndarray) -> BanditLog:
        """The rows at `idx` (a bootstrap resample when idx repeats rows)."""
        return replace(
            self,
            action=self.action[idx],
            position=self.position[idx],
            reward=self.reward[idx],
            pscore=None if self.pscore is None else self.pscore[idx],
            context=self.context[idx],
            source_row=self.rows[idx],
        )


def bandit_log(
    df: pd.DataFrame,
    n_actions: int | None = None,
    *,
    items: Sequence[str] | None = None,
    outcome: str = "click",
    context_columns: Sequence[str] | None = None,
    len_list: int | None = None,
) -> BanditLog:
    """Arrays of the canonical log: action from item_id, slot from position, reward, pscore from propensity.

    Actions: item ids that are all integers 0..m are their own index (n_actions = m + 1 or the
    given n_actions, as obp counts OBD's items); otherwise the sorted distinct ids, or `items`
    when given (to align several logs and a policy). Context: the user features (`user_*` but not
    user_id or user_item_* columns, which describe the shown item and are unknown for the others),
    categorical ones one-hot with the first level dropped (obp's `pd.get_dummies(drop_first=True)`).
    Item features (`item_feature_*` and other `item_*` but item_id/item_text): categorical ones
    label-encoded, numeric ones as they are (obp's OBD preprocessing); one-hot item identity when
    some item has none.
    """
    for col in ("item_id", outcome):
        if col not in df.columns:
            raise OPEError(f"column {col!r} is not in the log; columns: {sorted(map(str, df.columns))}")
    if len(df) == 0:
        raise OPEError("the log has no rows; off-policy estimates need logged rows of the behaviour policy")
    ids = df["item_id"].map(_item_name)
    if items is None:
        items = _default_items(ids, n_actions)
    items = tuple(str(i) for i in items)
    if n_actions is not None and n_actions != len(items):
        raise OPEError(f"n_actions is {n_actions} but the item list has {len(items)} items; pass matching values")
    index = {item: i for i, item in enumerate(items)}
    action = ids.map(index)
    if action.isna().any():
        unknown = sorted(set(ids[action.isna()]))[:5]
        raise OPEError(f"item ids {unknown} of the log are not in the item list ({len(items)} items); add them")
    action = action.to_numpy(dtype=np.int64)

    if "position" in df.columns:
        position = pd.to_numeric(df["position"], errors="raise").to_numpy()
        if np.isnan(position).any() or (position < 0).any() or not np.all(position == np.floor(position)):
            raise OPEError("position must hold 0-based integer slots for every row; fill or drop the others")
        position = position.astype(np.int64)
    else:
        position = np.zeros(len(df), dtype=np.int64)
    top = int(position.max()) + 1
    if len_list is None:
        len_list = top
    elif len_list < top:
        raise OPEError(f"len_list is {len_list} but the log uses slot {top - 1}; pass len_list >= {top}")

    reward = pd.to_numeric(df[outcome], errors="raise").to_numpy(dtype=float)
    if np.isnan(reward).any():
        raise OPEError(f"outcome {outcome!r} has {int(np.isnan(reward).sum())} missing values; drop those rows")

    pscore = None
    if "propensity" in df.columns and df["propensity"].notna().any():
        pscore = pd.to_numeric(df["propensity"], errors="coerce").to_numpy(dtype=float)

    if context_columns is None:
        context_columns = tuple(c for c in user_feature_columns(df) if not c.startswith(_NOT_CONTEXT_PREFIXES))
    context = _context_matrix(df, tuple(context_columns))
    return BanditLog(
        action=action,
        position=position,
        reward=reward,
        pscore=pscore,
        context=context,
        action_context=_action_context(df, ids, items),
        items=items,
        len_list=int(len_list),
        context_columns=tuple(context_columns),
        outcome=outcome,
    )


# ---------------------------------------------------------------------------------------------
# Reward models: q(x, a, k) for every row, action and slot, cross-fitted.


class RewardModel(Protocol):
    """Predicts E[reward | x, a, k] for every row, action and slot, each row by a model not fitted on it."""

    def fit_predict(self, log: BanditLog, n_folds: int, seed: int) -> np.ndarray:  # (n, n_actions, len_list)
        ...


@dataclass(frozen=True)
class LogisticRewardModel:
    """obp's `RegressionModel(base_model=LogisticRegression(...), fitting_method="normal")`: one model per slot.

    Features of (x, a): the row's context followed by item a's features. With n_folds > 1 the rows
    are split by `KFold(n_folds, shuffle=True, random_state=seed)` and each fold is predicted by
    the models fitted on the others (cross-fitting); n_folds = 1 fits and predicts on all rows.
    C and max_iter are those of obp's example configuration for logistic regression (C=100).
    A slot whose training rows hold a single reward value gets that value as its prediction.
    """

    C: float = 100.0
    max_iter: int = 10_000

    def fit_predict(self, log: BanditLog, n_folds: int = 3, seed: int = 12345) -> np.ndarray:
        from sklearn.model_selection import KFold

        _check_folds(n_folds, log.n_rounds)
        q = np.zeros((log.n_rounds, log.n_actions, log.len_list))
        if n_folds == 1:
            splits = [(np.arange(log.n_rounds), np.arange(log.n_rounds))]
        else:
            splits = KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(log.context)
        for train, test in splits:
            for k in range(log.len_list):
                rows = train[log.position[train] == k]
                q[test, :, k] = self._fit_predict_slot(log, rows, test, seed)
        return q

    def _fit_predict_slot(self, log: BanditLog, rows: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        y = log.reward[rows]
        if rows.size == 0:
            return np.full((test.size, log.n_actions), float(log.reward.mean()))
        if np.unique(y).size < 2:
            return np.full((test.size, log.n_actions), float(y[0]))
        x = np.hstack([log.context[rows], log.action_context[log.action[rows]]])
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed)
        model.fit(x, y)
        # Every (test row, action) pair at once: (n_test * n_actions, d) with the action varying fastest.
        n_test, n_act = test.size, log.n_actions
        ctx = np.repeat(log.context[test], n_act, axis=0)
        act = np.tile(log.action_context, (n_test, 1))
        p = model.predict_proba(np.hstack([ctx, act]))[:, 1]
        return p.reshape(n_test, n_act)


@dataclass(frozen=True)
class ConstantRewardModel:
    """q(x, a, k) = value everywhere: a deliberately wrong model (DR must stay unbiased, DM must not)."""

    value: float = 0.0

    def fit_predict(self, log: BanditLog, n_folds: int = 1, seed: int = 0) -> np.ndarray:
        return np.full((log.n_rounds, log.n_actions, log.len_list), float(self.value))


@dataclass(frozen=True, eq=False)
class ScoreRewardModel:
    """A scorer's score for every (row, item) turned into P(click) by cross-fitted Platt scaling per slot.

    `scores` is (n_rows, n_actions) (e.g. the LLM scorer's P(click) or logit for every candidate
    item of each logged row, rows in the order of the log `bandit_log` built; resamples of that
    log pick their rows' scores). On the training folds a logistic regression
    of the reward on [logit(score) (or the raw score), one-hot slot] is fitted on the logged
    (row, shown item) pairs; it then maps every (row, item, slot) of the held-out fold to a
    calibrated probability. Pass `calibrate=False` for scores that already are calibrated P(click).
    """

    scores: np.ndarray
    calibrate: bool = True

    def fit_predict(self, log: BanditLog, n_folds: int = 3, seed: int = 0) -> np.ndarray:
        s = _rows_of(self.scores, log, "scores")
        if not self.calibrate:
            if (s < 0).any() or (s > 1).any():
                raise OPEError("calibrate=False needs scores that are probabilities in [0, 1]")
            return np.repeat(s[:, :, None], log.len_list, axis=2)
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import KFold

        _check_folds(n_folds, log.n_rounds)
        feature = _logit(s) if ((s >= 0) & (s <= 1)).all() else s
        slots = np.eye(log.len_list)
        q = np.zeros((log.n_rounds, log.n_actions, log.len_list))
        if n_folds == 1:
            splits = [(np.arange(log.n_rounds), np.arange(log.n_rounds))]
        else:
            splits = KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(s)
        for train, test in splits:
            y = log.reward[train]
            if np.unique(y).size < 2:
                q[test] = float(y[0])
                continue
            x = np.column_stack([feature[train, log.action[train]], slots[log.position[train]]])
            model = LogisticRegression(C=1e4, max_iter=10_000).fit(x, y)
            for k in range(log.len_list):
                slot = np.repeat(slots[k][None, :], test.size * log.n_actions, axis=0)
                grid = np.column_stack([feature[test].reshape(-1), slot])
                q[test, :, k] = model.predict_proba(grid)[:, 1].reshape(test.size, log.n_actions)
        return q


@dataclass(frozen=True, eq=False)
class FixedRewardModel:
    """Predictions computed elsewhere, (n_rows, n_actions, len_list) or (n_rows, n_actions) for every slot."""

    q: np.ndarray

    def fit_predict(self, log: BanditLog, n_folds: int = 1, seed: int = 0) -> np.ndarray:
        q = _rows_of(self.q, log, "q")
        if q.ndim == 2:
            q = np.repeat(q[:, :, None], log.len_list, axis=2)
        if q.shape[2] != log.len_list:
            raise OPEError(f"q must have len_list = {log.len_list} slots on its last axis; got {q.shape}")
        return q


def _rows_of(values: np.ndarray, log: BanditLog, name: str) -> np.ndarray:
    """values[i] for each of the log's source rows; values must have one entry per row of the built log."""
    v = np.asarray(values, dtype=float)
    n_source = int(log.rows.max()) + 1 if log.source_row is not None else log.n_rounds
    if v.ndim not in (2, 3) or v.shape[0] < n_source or v.shape[1] != log.n_actions or (
        log.source_row is None and v.shape[0] != log.n_rounds
    ):
        raise OPEError(
            f"{name} must be (n_rows, n_actions) = ({log.n_rounds}, {log.n_actions}), one value per logged row and "
            f"item (rows in the order of the log bandit_log built); got {v.shape}"
        )
    return v[log.rows]


# ---------------------------------------------------------------------------------------------
# Estimators: pure functions of the log, the target's action distribution and q.


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


def check_action_dist(log: BanditLog, action_dist: np.ndarray) -> np.ndarray:
    """The target's distribution as a float array, (n_actions, len_list) or (n_rows, n_actions, len_list), checked."""
    pi = np.asarray(action_dist, dtype=float)
    want = (log.n_actions, log.len_list)
    if pi.ndim == 2 and pi.shape != want or pi.ndim == 3 and pi.shape != (log.n_rounds, *want) or pi.ndim not in (2, 3):
        raise OPEError(
            f"action_dist must be (n_actions, len_list) = {want} or (n_rows, n_actions, len_list) = "
            f"{(log.n_rounds, *want)}; got {pi.shape}; build it with causal.policies for this log's items"
        )
    if not np.all(np.isfinite(pi)) or (pi < 0).any():
        raise OPEError("action_dist must hold probabilities >= 0 (no NaN)")
    sums = pi.sum(axis=-2)
    if np.abs(sums - 1.0).max() > 1e-6:
        raise OPEError(
            f"action_dist must sum to 1 over items in every slot; found a slot summing to "
            f"{float(sums.flat[np.abs(sums - 1.0).argmax()]):.6g}"
        )
    return pi


def factual_probability(log: BanditLog, pi: np.ndarray) -> np.ndarray:
    """pi_e(a_t, k_t | x_t) for every logged row."""
    if pi.ndim == 2:
        return pi[log.action, log.position]
    return pi[np.arange(log.n_rounds), log.action, log.position]


def slot_distribution(log: BanditLog, pi: np.ndarray) -> np.ndarray:
    """pi_e(., k_t | x_t) for every row: (n, n_actions)."""
    if pi.ndim == 2:
        return pi.T[log.position]
    return pi[np.arange(log.n_rounds), :, log.position]


def importance_weights(log: BanditLog, action_dist: np.ndarray) -> np.ndarray:
    """w_t = pi_e(a_t, k_t | x_t) / pscore_t, after checking that the propensities can be used."""
    pscore = require_propensities(log)
    return factual_probability(log, check_action_dist(log, action_dist)) / pscore


def require_propensities(log: BanditLog, method: str = "ipw") -> np.ndarray:
    """The log's propensities, or an OPEError saying why `method` cannot use them."""
    if log.pscore is None:
        raise OPEError(
            f"estimator {method!r} needs the logging propensity of every row, and the log has no 'propensity' "
            "column; log the probability with which the logger showed each item in its slot, or use 'dm' / 'bn_policy'"
        )
    p = log.pscore
    bad_nan = int(np.isnan(p).sum())
    bad_low = int((p <= 0).sum())
    bad_high = int((p > 1).sum())
    if bad_nan or bad_low or bad_high:
        raise OPEError(
            f"estimator {method!r} needs propensities in (0, 1] on every row; found {bad_nan} missing, "
            f"{bad_low} <= 0 and {bad_high} > 1 (min {np.nanmin(p) if bad_nan < p.size else float('nan'):.3g}); "
            "a row the logger could not have shown cannot be reweighted: fix the logging, or drop those rows "
            "and say so"
        )
    return p


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
    """The estimate on resampled rows, for row multiplicities m of shape (B, n) (SN terms renormalised per replicate)."""
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


def support_diagnostics(
    log: BanditLog, action_dist: np.ndarray, logger_action_dist: np.ndarray | None = None
) -> dict:
    """Can the log's weights represent the target? Propensities, support, effective sample size, weight extremes.

    The logger's support, in this order: the (item, slot) pairs with logger_action_dist > 0 when
    given; for a context-free logger (every row of a pair logged with the same propensity) the
    logged pairs, plus every pair of a slot whose logged pairs' propensities sum to less than 1
    (the rest of the logger's mass lies on pairs this sample happened to miss, as in a small
    uniform-random log); otherwise the pairs the log shows at least once.
    `share_of_target_mass_outside_support` is the mean over logged rows of the target's
    probability, in the row's slot, of items outside that support: IPW-family estimates silently
    lose that mass (they are biased towards 0 by it).
    """
    pi = check_action_dist(log, action_dist)
    support, basis, unlogged = _logger_support(log, logger_action_dist)
    outside = slot_distribution(log, pi) * ~support.T[log.position]  # (n, n_actions)
    share_outside = float(outside.sum(axis=1).mean())
    examples = [
        f"item {log.items[a]!r} in slot {k}"
        for a, k in zip(*np.nonzero((pi if pi.ndim == 2 else pi.max(axis=0)) * ~support > 0))
    ][:5]
    diag: dict = {
        "n_rows": log.n_rounds,
        "propensity_present": log.pscore is not None,
        "support_ok": share_outside <= 1e-12,
        "share_of_target_mass_outside_support": share_outside,
        "unsupported_examples": examples,
        "support_basis": basis,
        "n_actions": log.n_actions,
        "len_list": log.len_list,
    }
    if unlogged is not None:
        diag["logger_mass_on_unlogged_pairs_by_slot"] = unlogged
    if log.pscore is not None:
        p = log.pscore
        diag["n_propensity_missing"] = int(np.isnan(p).sum())
        diag["n_propensity_nonpositive"] = int((p <= 0).sum())
        finite = p[np.isfinite(p)]
        diag["min_pscore"] = float(finite.min()) if finite.size else float("nan")
        diag["max_pscore"] = float(finite.max()) if finite.size else float("nan")
        if diag["n_propensity_missing"] == 0 and diag["n_propensity_nonpositive"] == 0:
            w = factual_probability(log, pi) / p
            ess = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 0.0
            diag.update(
                ess=ess,
                ess_share=ess / log.n_rounds,
                mean_weight=float(w.mean()),
                max_weight=float(w.max()),
                min_weight=float(w.min()),
                weight_p99=float(np.quantile(w, 0.99)),
                share_zero_weight=float((w == 0).mean()),
            )
    return diag


def _logger_support(log: BanditLog, logger_action_dist: np.ndarray | None) -> tuple[np.ndarray, str, list | None]:
    """(n_actions, len_list) bool support of the logger, how it was found, and the unlogged mass per slot."""
    shape = (log.n_actions, log.len_list)
    if logger_action_dist is not None:
        support = np.asarray(logger_action_dist, dtype=float) > 0
        if support.ndim == 3:
            support = support.any(axis=0)
        if support.shape != shape:
            raise OPEError(f"logger_action_dist must be (n_actions, len_list) = {shape}; got {support.shape}")
        return support, "logger_action_dist > 0", None
    seen = np.zeros(shape, dtype=bool)
    seen[log.action, log.position] = True
    p = log.pscore
    if p is None or np.isnan(p).any() or (p <= 0).any() or (p > 1).any():
        return seen, "logged (item, slot) pairs", None
    cell = log.action * log.len_list + log.position
    lo = np.full(seen.size, np.inf)
    hi = np.full(seen.size, -np.inf)
    np.minimum.at(lo, cell, p)
    np.maximum.at(hi, cell, p)
    logged = np.isfinite(lo)
    if not np.all(hi[logged] - lo[logged] <= 1e-9 * hi[logged]):
        return seen, "logged (item, slot) pairs (the propensities vary with the context)", None
    mass = np.where(logged, lo, 0.0).reshape(shape).sum(axis=0)  # (len_list,) logger mass on logged pairs
    unlogged = [float(max(1.0 - m, 0.0)) for m in mass]
    support = seen | (mass < 1.0 - 1e-6)[None, :]
    basis = "logged pairs, and every pair of a slot where the context-free logger's propensities leave mass unlogged"
    return support, basis, unlogged


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
            extra["tau" if m == "switch_dr" else "lambda"] = _jsonable_float(hyper[m])
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
        raise OPEError(f"unknown estimators {unknown}; known: {list(OPE_METHODS)} (bn_policy: causal.policy_value)")
    if not allow_model and q is None and MODEL_BASED & set(methods):
        raise OPEError(f"estimators {sorted(MODEL_BASED & set(methods))} need reward predictions q; pass q")


def _check_folds(n_folds: int, n: int) -> None:
    if not isinstance(n_folds, int) or not 1 <= n_folds <= n:
        raise OPEError(f"n_folds must be an integer in [1, n_rows={n}]; got {n_folds!r}; obp cross-fits with 3")


def _default_items(ids: pd.Series, n_actions: int | None) -> tuple[str, ...]:
    values = ids.unique()
    if all(v.isdigit() for v in values):
        m = max(int(v) for v in values) + 1
        if n_actions is not None:
            if n_actions < m:
                raise OPEError(f"n_actions is {n_actions} but the log shows item {m - 1}; pass n_actions >= {m}")
            m = n_actions
        return tuple(str(i) for i in range(m))
    return tuple(sorted(values))


def _context_matrix(df: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise OPEError(f"context columns {missing} are not in the log")
    blocks = []
    for col in columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            if s.isna().any():
                raise OPEError(f"context column {col!r} has missing values; fill or drop them")
            blocks.append(s.to_numpy(dtype=float)[:, None])
        else:
            dummies = pd.get_dummies(s.astype(str), drop_first=True, dtype=float)
            blocks.append(dummies.to_numpy())
    if not blocks:
        return np.zeros((len(df), 0))
    return np.hstack(blocks)


def _action_context(df: pd.DataFrame, ids: pd.Series, items: tuple[str, ...]) -> np.ndarray:
    cols = [c for c in df.columns if isinstance(c, str) and c.startswith("item_") and c not in ("item_id", "item_text")]
    if not cols:
        return np.eye(len(items))
    per_item = df[cols].groupby(ids.to_numpy(), sort=False).first().reindex(list(items))
    if per_item.isna().any().any():
        return np.eye(len(items))  # some item was never shown: its features are unknown here
    blocks = []
    for col in cols:
        s = per_item[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            blocks.append(s.to_numpy(dtype=float)[:, None])
        else:
            _, codes = np.unique(s.astype(str).to_numpy(), return_inverse=True)  # sklearn LabelEncoder's codes
            blocks.append(codes.astype(float)[:, None])
    return np.hstack(blocks)


def _item_name(value: object) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _jsonable_float(x: float | None) -> float | str | None:
    if x is None:
        return None
    return "inf" if math.isinf(x) else float(x)
