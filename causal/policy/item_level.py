"""Off-policy values of item policies over a whole catalogue: IPW, SNIPW, DM, DR, SNDR and MIPS over item clusters."""

# A logged row m is (user u_m, item a_m, reward r_m, pscore_m = pi_0(a_m | u_m)); the target is an
# (N, I) item distribution per user. With w_m = pi_e(a_m | u_m) / pscore_m, q_logged[m] a cross-fitted
# prediction at the logged item and q_target[m] = sum_a pi_e(a | u_m) qhat(u_m, a):
#
# IPW   = mean(w r)                    SNIPW = sum(w r) / sum(w)
# DM    = mean(q_target)
# DR    = DM + mean(w (r - q_logged))  SNDR  = DM + sum(w (r - q_logged)) / sum(w)
# MIPS  = mean(w_e r), w_e = pi_e(c_m | u_m) / pi_0(c_m | u_m), pi(c | u) = sum_{a in c} pi(a | u)
#
# MIPS (Saito & Joachims, ICML 2022) uses the item's cluster c as a discrete action embedding: it is
# unbiased when the reward depends on the item only through its cluster and pi_0(c | u) > 0 wherever
# pi_e(c | u) > 0, and its weights vary far less than the item weights over thousands of items.
# "snmips" (self-normalised MIPS) is offered beside the contract's names.
#
# OffCEM (Saito, Udagawa & Joachims, WWW 2023) = mean(q_target + w_e (r - q_logged)): the cluster weights
# correct only the reward model's residual, so MIPS's within-cluster bias becomes the model's, and the model's
# bias is corrected across clusters. Clusters may also be per user, an (N, I) array (e.g. a text cluster
# crossed with whether the item is in the user's candidate pool): pi(c | u) then sums over a's with c(u, a) = c.

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from causal.policy.estimators import PolicyEstimate
from causal.policy.item_support import (
    ItemLevelLog,
    check_clusters,
    check_logging_agrees,
    check_policy,
    check_pscore,
    cluster_marginal,
    cluster_support,
    item_level_log,
    item_support,
    weight_summary,
)
from causal.policy.logged import OPEError

__all__ = ["ITEM_METHODS", "ItemLevelLog", "evaluate_items", "item_level_log"]

ITEM_METHODS: tuple[str, ...] = ("ipw", "snipw", "dm", "dr", "sndr", "mips")
KNOWN = (*ITEM_METHODS, "snmips", "offcem")
ITEM_WEIGHTED = frozenset({"ipw", "snipw"})  # need every target item inside the logger's item support
CLUSTER_WEIGHTED = frozenset({"mips", "snmips"})  # need it inside the logger's cluster support
MODEL_BASED = frozenset({"dm", "dr", "sndr", "offcem"})
MODEL_CLUSTER = frozenset({"offcem"})  # cluster weights on the reward model's residual
USES_ITEM_WEIGHTS = frozenset({"ipw", "snipw", "dr", "sndr"})


def evaluate_items(
    log: ItemLevelLog,
    target: np.ndarray,
    *,
    q_logged: np.ndarray | None = None,
    q_target: np.ndarray | None = None,
    logging: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    logging_clusters: np.ndarray | None = None,
    methods: Sequence[str] = ITEM_METHODS,
    alpha: float = 0.05,
) -> dict[str, PolicyEstimate]:
    """Each requested estimate of the target's value with a normal-approximation interval and diagnostics.

    Intervals: estimate +- z_{1-alpha/2} * sd(per-row terms) / sqrt(M); the self-normalised methods use
    their linearised terms (delta method). DM/DR intervals hold the reward model fixed, so they leave
    out the model's own error (said in the diagnostics). IPW/SNIPW get NaN with an explanation when the
    target puts mass on items the logger never shows the row's user (needs `logging` to be checked);
    MIPS the same for clusters. DR/SNDR keep a number there: their model term covers the unsupported
    mass, and the diagnostics say how much of it the weights cannot correct. `logging_clusters` (N, C) is the
    logger's P(cluster | user) when only that is known (e.g. estimated from the log's counts, where the logger's
    item distribution is not): the cluster weights and cluster support then use it instead of `logging`.
    """
    if not isinstance(log, ItemLevelLog):
        raise OPEError(
            f"log must be an ItemLevelLog; got {type(log).__name__}; build it with item_level_log(frame, ...)"
        )
    methods = tuple(methods)
    unknown = [m for m in methods if m not in KNOWN]
    if not methods or unknown:
        raise OPEError(f"unknown or no estimators {unknown or list(methods)}; pick from {list(KNOWN)}")
    if not 0 < alpha < 1:
        raise OPEError(f"alpha must lie strictly between 0 and 1; got {alpha!r}; 0.05 gives 95% intervals")
    pi_e = check_policy(target, log, "target")
    n_items = pi_e.shape[1]
    pi_0 = None if logging is None else check_policy(logging, log, "logging", n_items)
    if pi_0 is not None and pi_0.shape != pi_e.shape:
        raise OPEError(f"logging is {pi_0.shape} but target is {pi_e.shape}; both are (N users, I items)")
    needs_model = sorted(MODEL_BASED & set(methods))
    q_l = _row_vector(q_logged, log, "q_logged", bool(set(needs_model) - {"dm"}))
    q_t = _row_vector(q_target, log, "q_target", bool(needs_model))
    wanted_clusters = sorted((CLUSTER_WEIGHTED | MODEL_CLUSTER) & set(methods))
    if wanted_clusters and (clusters is None or (pi_0 is None and logging_clusters is None)):
        raise OPEError(
            f"estimators {wanted_clusters} need clusters (one per item) and logging (the (N, I) logging policy) or "
            "logging_clusters (its (N, C) cluster marginal) to compute pi(cluster | user); pass them, or drop them"
        )

    diag: dict = {"n_rows": log.n_rows, "n_users": int(pi_e.shape[0]), "n_items": n_items, "ci_level": 1 - alpha}
    if pi_0 is not None:
        diag.update(check_logging_agrees(log, pi_0))
    diag.update(item_support(log, pi_e, pi_0))
    w = w_e = None
    if USES_ITEM_WEIGHTS & set(methods):
        w = pi_e[log.user, log.item] / check_pscore(log, next(m for m in methods if m in USES_ITEM_WEIGHTS))
    if clusters is not None and (pi_0 is not None or logging_clusters is not None):  # support in embedding space
        c = check_clusters(clusters, n_items, int(pi_e.shape[0]))
        target_c = cluster_marginal(pi_e, c)
        logging_c = cluster_marginal(pi_0, c) if logging_clusters is None else np.asarray(logging_clusters, float)
        if logging_c.shape != target_c.shape:
            raise OPEError(
                f"logging_clusters is {logging_c.shape}; the clusters make it (N users, C) = {target_c.shape}"
            )
        diag.update(cluster_support(log, target_c, logging_c))
        c_m = c[log.item] if c.ndim == 1 else c[log.user, log.item]
        # A logged row's cluster has pi_0(c | u) >= pi_0(a | u) > 0 (check_logging_agrees); an estimated marginal
        # must give every logged row's cluster mass too (counts of the log itself do).
        at_rows = logging_c[log.user, c_m]
        if (at_rows <= 0).any():
            raise OPEError(
                f"logging_clusters gives probability 0 to {int((at_rows <= 0).sum())} logged rows' clusters; it is "
                "not the marginal of the logger that produced this log"
            )
        w_e = target_c[log.user, c_m] / at_rows

    z = float(stats.norm.ppf(1 - alpha / 2))
    out = {}
    for m in methods:
        out[m] = _estimate(m, log.reward, w, w_e, q_l, q_t, z, diag)
    return out


def _estimate(
    method: str,
    r: np.ndarray,
    w: np.ndarray | None,
    w_e: np.ndarray | None,
    q_l: np.ndarray | None,
    q_t: np.ndarray | None,
    z: float,
    diag: dict,
) -> PolicyEstimate:
    extra: dict = {}
    weights = w_e if method in CLUSTER_WEIGHTED | MODEL_CLUSTER else None if method == "dm" else w
    if method in CLUSTER_WEIGHTED:
        # The bias when this fails grows with the reward's spread across items within a cluster.
        extra["assumption"] = "the reward depends on the item only through its cluster (no direct effect)"
    if weights is not None:
        extra.update(weight_summary(weights))
        extra["weights"] = (
            "pi_e(cluster | user) / pi_0(cluster | user)"
            if method in CLUSTER_WEIGHTED | MODEL_CLUSTER
            else ("pi_e(item | user) / pscore")
        )
    if method in MODEL_BASED:
        extra["interval"] = "normal on per-row terms, reward model held fixed (omits the model's own error)"
    else:
        extra["interval"] = "normal on per-row terms (delta method for self-normalised)"
    reason = _no_number_reason(method, diag, weights)
    if reason is not None:
        return _nan(method, r.size, {**diag, **extra, "explanation": reason})
    if method in MODEL_BASED and diag.get("item_support_ok") is False and method != "dm":
        extra["unsupported_mass_covered_by_model_only"] = diag["share_of_target_mass_outside_item_support"]
    terms = _influence_terms(method, r, weights, q_l, q_t)
    estimate = float(terms.mean())
    se = float(terms.std(ddof=1) / np.sqrt(r.size)) if r.size > 1 else float("nan")
    return PolicyEstimate(
        method=method,
        estimate=estimate,
        ci_low=estimate - z * se,
        ci_high=estimate + z * se,
        n_rows=int(r.size),
        diagnostics={**diag, **extra, "standard_error": se},
    )


def _influence_terms(
    method: str, r: np.ndarray, w: np.ndarray | None, q_l: np.ndarray | None, q_t: np.ndarray | None
) -> np.ndarray:
    """Per-row terms whose mean is the estimate and whose sd/sqrt(M) its standard error."""
    if method in ("ipw", "mips"):
        return w * r
    if method in ("snipw", "snmips"):
        mean_w = w.mean()
        v = float((w * r).sum() / w.sum())
        # Linearised ratio sum(w r) / sum(w): its mean is v, its variance the delta method's.
        return v + w * (r - v) / mean_w
    if method == "dm":
        return q_t
    residual = r - q_l
    if method in ("dr", "offcem"):  # offcem's w is the cluster weight w_e
        return q_t + w * residual
    if method == "sndr":
        c = float((w * residual).sum() / w.sum())
        return q_t + c + w * (residual - c) / w.mean()
    raise OPEError(f"unknown estimator {method!r}; known: {list(KNOWN)}")


def _no_number_reason(method: str, diag: dict, weights: np.ndarray | None) -> str | None:
    """Why this method's estimate would be meaningless here, or None."""
    if method in ITEM_WEIGHTED and diag.get("item_support_ok") is False:
        return (
            f"the target puts {diag['share_of_target_mass_outside_item_support']:.1%} of its mass on items the logger "
            "never shows the user; importance weights cannot see them and the estimate would be biased towards 0: "
            "use 'mips' (cluster support), 'dr' or 'dm', or restrict the target to the logger's support"
        )
    if method in CLUSTER_WEIGHTED and diag.get("cluster_support_ok") is False:
        return (
            f"the target puts {diag['share_of_target_mass_outside_cluster_support']:.1%} of its mass on clusters the "
            "logger never reaches for the user (support in embedding space fails); MIPS would be biased towards 0: "
            "use 'dr' or 'dm', or coarser clusters"
        )
    if method in ("snipw", "snmips", "sndr") and weights is not None and weights.sum() <= 0:
        return "no logged row has a positive target weight, so the self-normalised ratio is 0/0"
    return None


def _nan(method: str, n_rows: int, diagnostics: dict) -> PolicyEstimate:
    nan = float("nan")
    return PolicyEstimate(method=method, estimate=nan, ci_low=nan, ci_high=nan, n_rows=n_rows, diagnostics=diagnostics)


def _row_vector(values: np.ndarray | None, log: ItemLevelLog, name: str, required: bool) -> np.ndarray | None:
    if values is None:
        if required:
            raise OPEError(
                f"the model-based estimators need {name} (one cross-fitted prediction per logged row); get it from "
                "causal.policy.text_reward.TextRewardModel.fit_predict_folds or cross_fit"
            )
        return None
    v = np.asarray(values, dtype=float)
    if v.shape != (log.n_rows,) or not np.isfinite(v).all():
        raise OPEError(f"{name} must be ({log.n_rows},) finite predictions, one per logged row; got shape {v.shape}")
    return v
