"""The target against the logger: action_dist checks, propensities, importance weights, support and overlap."""

from __future__ import annotations

import numpy as np

from causal.policy.logged import BanditLog, OPEError


def check_action_dist(log: BanditLog, action_dist: np.ndarray) -> np.ndarray:
    """The target's distribution as a float array, (n_actions, len_list) or (n_rows, n_actions, len_list), checked."""
    pi = np.asarray(action_dist, dtype=float)
    want = (log.n_actions, log.len_list)
    if pi.ndim == 2 and pi.shape != want or pi.ndim == 3 and pi.shape != (log.n_rounds, *want) or pi.ndim not in (2, 3):
        raise OPEError(
            f"action_dist must be (n_actions, len_list) = {want} or (n_rows, n_actions, len_list) = "
            f"{(log.n_rounds, *want)}; got {pi.shape}; build it with causal.policy.policies for this log's items"
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


def support_diagnostics(log: BanditLog, action_dist: np.ndarray, logger_action_dist: np.ndarray | None = None) -> dict:
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
