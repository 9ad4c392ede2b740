"""Evaluation policies as action distributions pi(item, position | context): logged, Bernoulli-TS, file, scorer-derived.

Every function returns an array `action_dist` in the convention of the Open Bandit Pipeline:
shape (n_actions, len_list) for a policy that ignores the context, or (n_rows, n_actions, len_list)
for one that depends on it; `action_dist[..., a, k]` is the probability that the policy shows
action (item) a in slot k, so every slot's column sums to 1 over the actions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from common.values import item_name

if TYPE_CHECKING:
    from causal.policy.logged import BanditLog

_SIM_CHUNK = 20_000  # draws per block: 20,000 x 80 float64 is 13 MB


def load_bts_prior(prior_path: str | Path, campaign: str) -> tuple[np.ndarray, np.ndarray]:
    """The Beta(alpha, beta) prior of each item for one campaign from a YAML file laid out as obp's prior_bts.yaml."""
    import yaml

    path = Path(prior_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Bernoulli-TS prior file {str(path)!r} not found; pass the YAML with campaign -> alpha/beta lists "
            "(e.g. data/obd-sample/bts_prior.yaml)"
        )
    prior = yaml.safe_load(path.read_text())
    if not isinstance(prior, dict) or campaign not in prior:
        known = sorted(prior) if isinstance(prior, dict) else []
        raise ValueError(f"campaign {campaign!r} is not in the prior file {str(path)!r}; campaigns there: {known}")
    entry = prior[campaign]
    if not isinstance(entry, dict) or "alpha" not in entry or "beta" not in entry:
        raise ValueError(f"prior of campaign {campaign!r} in {str(path)!r} needs lists 'alpha' and 'beta'")
    alpha = np.asarray(entry["alpha"], dtype=float)
    beta = np.asarray(entry["beta"], dtype=float)
    if alpha.ndim != 1 or alpha.shape != beta.shape:
        raise ValueError(
            f"prior of campaign {campaign!r}: alpha and beta must be lists of one value per item of equal "
            f"length; got {alpha.shape} and {beta.shape}"
        )
    if not (np.all(alpha > 0) and np.all(beta > 0)):
        raise ValueError(f"prior of campaign {campaign!r}: every alpha and beta must be > 0")
    return alpha, beta


def bts_action_dist(
    prior_path: str | Path,
    campaign: str,
    n_actions: int | None = None,
    len_list: int = 3,
    n_sim: int = 100_000,
    seed: int = 12345,
) -> np.ndarray:
    """Action distribution (n_actions, len_list) of the Bernoulli-TS policy that uses only its prior.

    The Monte Carlo of the Open Bandit protocol (obp `BernoulliTS.compute_batch_action_dist`): draw
    theta_i ~ Beta(alpha_i, beta_i) for every item, rank the items by theta (highest first), put the
    items of ranks 1..len_list in slots 0..len_list-1, repeat n_sim times, and count. The draws come
    from numpy's legacy `RandomState(seed)` in the same order as obp's loop of per-round draws
    (checked: one (n_sim, n_items) call yields the same stream), so seed 12345 reproduces obp's
    distribution. The policy ignores the context, so one (n_actions, len_list) array serves every row.
    """
    alpha, beta = load_bts_prior(prior_path, campaign)
    n_items = alpha.shape[0]
    if n_actions is not None and n_actions != n_items:
        raise ValueError(
            f"the prior of campaign {campaign!r} has {n_items} items but n_actions is {n_actions}; "
            "use the prior of the campaign the log comes from"
        )
    if not isinstance(len_list, int) or not 1 <= len_list <= n_items:
        raise ValueError(f"len_list must be an integer in [1, {n_items}]; got {len_list!r}")
    if not isinstance(n_sim, int) or n_sim < 1:
        raise ValueError(f"n_sim must be a positive integer; got {n_sim!r}; obp uses 100,000")
    rng = np.random.RandomState(seed)
    counts = np.zeros((n_items, len_list))
    slots = np.arange(len_list)
    done = 0
    while done < n_sim:
        size = min(_SIM_CHUNK, n_sim - done)
        theta = rng.beta(alpha, beta, size=(size, n_items))
        top = np.argsort(theta, axis=1)[:, ::-1][:, :len_list]  # (size, len_list): item at each slot
        np.add.at(counts, (top, np.broadcast_to(slots, top.shape)), 1.0)
        done += size
    return counts / n_sim


def logged_action_dist(log: BanditLog) -> np.ndarray:
    """The logger's empirical action distribution (n_actions, len_list): share of each item among a slot's rows."""
    counts = np.zeros((log.n_actions, log.len_list))
    np.add.at(counts, (log.action, log.position), 1.0)
    per_slot = counts.sum(axis=0)
    empty = [int(k) for k in np.flatnonzero(per_slot == 0)]
    if empty:
        raise ValueError(
            f"slots {empty} hold no logged row, so the logger's distribution there is unknown; "
            f"pass len_list={int(log.position.max()) + 1} when building the log"
        )
    return counts / per_slot


@dataclass(frozen=True, eq=False)
class PolicyTable:
    """A policy read from a file: rows (context columns..., item_id, position, probability)."""

    table: pd.DataFrame
    context_columns: tuple[str, ...]

    def action_dist(self, df: pd.DataFrame | None, items: Sequence[str], len_list: int) -> np.ndarray:
        """(n_actions, len_list) for a context-free table, else (len(df), n_actions, len_list) for df's rows."""
        index = {str(item): i for i, item in enumerate(items)}
        unknown = sorted(set(self.table["item_id"]) - set(index))
        if unknown:
            raise ValueError(f"the policy file names items {unknown[:5]} that the log's item list does not hold")
        too_far = int(self.table["position"].max())
        if too_far >= len_list:
            raise ValueError(f"the policy file uses slot {too_far} but the log has only {len_list} slots (0-based)")
        a = self.table["item_id"].map(index).to_numpy()
        k = self.table["position"].to_numpy()
        p = self.table["probability"].to_numpy()
        if not self.context_columns:
            dist = np.zeros((len(items), len_list))
            np.add.at(dist, (a, k), p)
            _check_slots(dist, "the policy file")
            return dist
        if df is None:
            raise ValueError(f"the policy depends on {list(self.context_columns)}; pass the log's rows to map them")
        missing = [c for c in self.context_columns if c not in df.columns]
        if missing:
            raise ValueError(f"the policy file keys on columns {missing} that the log does not have")
        keys = self.table[list(self.context_columns)].astype(str).agg("\x1f".join, axis=1)
        codes, uniques = pd.factorize(keys)
        per_context = np.zeros((len(uniques), len(items), len_list))
        np.add.at(per_context, (codes, a, k), p)
        _check_slots(per_context, "the policy file")
        row_keys = df[list(self.context_columns)].astype(str).agg("\x1f".join, axis=1)
        row_code = pd.Index(uniques).get_indexer(row_keys)
        if (row_code < 0).any():
            example = df.loc[row_code < 0, list(self.context_columns)].iloc[0].to_dict()
            raise ValueError(
                f"{int((row_code < 0).sum())} log rows have a context the policy file does not cover "
                f"(e.g. {example}); add rows for those contexts or a context-free policy"
            )
        return per_context[row_code]


def policy_from_file(path: str | Path) -> PolicyTable:
    """Read a policy: per-context probabilities over (item, position), from CSV or JSON.

    Format (long, one row per context, item and slot with positive probability):

    - columns `item_id`, `position` (0-based slot) and `probability`;
    - optionally any number of context columns named like columns of the canonical log
      (e.g. `user_feature_0`); a log row gets the distribution of the file rows whose context
      values equal its own (compared as strings). Without context columns the policy is the same
      for every row.
    - for every context and slot the probabilities sum to 1 over the items.

    CSV: a header line with those columns. JSON: a list of objects with those keys, or
    `{"policy": [...]}` holding that list. Example (context-free, two slots):

        item_id,position,probability
        7,0,0.9
        3,0,0.1
        3,1,1.0
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy file {str(path)!r} not found")
    if path.suffix.lower() == ".json":
        raw = json.loads(path.read_text())
        rows = raw.get("policy") if isinstance(raw, dict) else raw
        if not isinstance(rows, list):
            raise ValueError(f"{str(path)!r}: JSON policy must be a list of objects or {{'policy': [...]}}")
        table = pd.DataFrame(rows)
    else:
        table = pd.read_csv(path, dtype={"item_id": str})
    required = ("item_id", "position", "probability")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(
            f"{str(path)!r}: policy file lacks columns {missing}; it needs {list(required)} (+ context columns)"
        )
    table = table.copy()
    table["item_id"] = table["item_id"].map(item_name)
    table["position"] = pd.to_numeric(table["position"], errors="raise").astype(int)
    table["probability"] = pd.to_numeric(table["probability"], errors="raise").astype(float)
    if (table["position"] < 0).any():
        raise ValueError(f"{str(path)!r}: positions are 0-based slots and must be >= 0")
    if (table["probability"] < 0).any() or table["probability"].isna().any():
        raise ValueError(f"{str(path)!r}: probabilities must be numbers >= 0")
    context = tuple(c for c in table.columns if c not in required)
    return PolicyTable(table=table, context_columns=context)


def greedy_policy(scores: np.ndarray, len_list: int = 1) -> np.ndarray:
    """Rank items by score (highest first) and show ranks 1..len_list in slots 0..len_list-1, deterministically.

    `scores` is (n_actions,) for one ranking for every row or (n_rows, n_actions) per row (e.g. a
    scorer's P(click) for every candidate item); ties go to the lower action index.
    """
    s = _scores(scores, len_list)
    order = np.argsort(-s, axis=-1, kind="stable")[..., :len_list]  # (..., len_list): item per slot
    dist = np.zeros((*s.shape, len_list))
    if s.ndim == 1:
        dist[order, np.arange(len_list)] = 1.0
    else:
        rows = np.arange(s.shape[0])[:, None]
        dist[rows, order, np.arange(len_list)[None, :]] = 1.0
    return dist


def softmax_policy(scores: np.ndarray, temperature: float = 1.0, len_list: int = 1) -> np.ndarray:
    """Plackett-Luce over softmax(scores / temperature): slot 0 draws from the softmax, later slots from the rest.

    Returns the exact marginal probability of each item in each slot (up to 3 slots, the OBD
    layout), computed in a numerically stable way (shifted by the best remaining item, so even a
    temperature that makes the policy greedy gives the greedy ranking, not underflow).
    """
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0; got {temperature!r}")
    if len_list > 3:
        raise ValueError(f"softmax_policy computes exact slot marginals for up to 3 slots; got len_list={len_list}")
    s = _scores(scores, len_list)
    one_row = s.ndim == 1
    z = (s[None, :] if one_row else s) / temperature  # (n, A)
    out = np.concatenate([_plackett_luce(z[i : i + 256], len_list) for i in range(0, z.shape[0], 256)])
    return out[0] if one_row else out


def _plackett_luce(z: np.ndarray, len_list: int) -> np.ndarray:
    """Slot marginals (n, A, len_list) of Plackett-Luce with log-weights z (n, A), len_list <= 3.

    Every conditional P(a | items already placed) is e^{z_a - m} / sum_{d not placed} e^{z_d - m}
    with m the best item not yet placed, so the denominator is >= 1 and nothing underflows to 0/0.
    T_j is the item of rank j; with the items above rank j placed, m = z_{T_j}.
    """
    n, n_act = z.shape
    rank = np.argsort(np.argsort(-z, axis=1, kind="stable"), axis=1, kind="stable")  # (n, A), 0 = best
    top = np.argsort(-z, axis=1, kind="stable")[:, :3]  # (n, <=3)
    depth = min(3, n_act)
    shift = np.take_along_axis(z, top[:, :depth], axis=1)  # (n, depth)
    e = np.exp(np.clip(z[:, None, :] - shift[:, :, None], None, 0.0))  # (n, depth, A): e^{z_d - z_{T_j}}
    below = rank[:, None, :] >= np.arange(depth)[None, :, None]  # (n, depth, A)
    e = np.where(below, e, 0.0)
    big_e = e.sum(axis=2)  # (n, depth): sum over items ranked >= j
    out = np.zeros((n, n_act, len_list))
    p0 = e[:, 0, :] / big_e[:, :1]  # slot 0: the softmax itself
    out[:, :, 0] = p0
    if len_list == 1:
        return out
    rows = np.arange(n)[:, None]
    # After b is placed: the best remaining is T_1 if b = T_0 else T_0 (j_b), and R_b = E_j - e_j(b).
    j_b = (rank == 0).astype(int)  # (n, A)
    e_jb_b = e[rows, j_b, np.arange(n_act)[None, :]]  # (n, A)
    r_b = big_e[rows, j_b] - e_jb_b  # (n, A) >= 1
    u = p0 / r_b  # (n, A): p_b / R_b
    # P(a in slot 1) = sum_{b != a} p_b e_{j_b}(a) / R_b
    for j in (0, 1):
        mass = np.where(j_b == j, u, 0.0)  # (n, A)
        out[:, :, 1] += e[:, j, :] * (mass.sum(axis=1, keepdims=True) - mass)
    if len_list == 2:
        return out
    # Pairs (b first, c second): w_bc = p_b e_{j_b}(c) / R_b; then the best remaining is T_{j_bc}.
    w = u[:, :, None] * e[rows[:, :, None], j_b[:, :, None], np.arange(n_act)[None, None, :]]  # (n, A, A)
    eye = np.eye(n_act, dtype=bool)[None]
    w = np.where(eye, 0.0, w)
    rb, rc = rank[:, :, None], rank[:, None, :]
    has0 = (rb == 0) | (rc == 0)
    has1 = (rb == 1) | (rc == 1)
    j_bc = np.where(has0 & has1, 2, np.where(has0, 1, 0))  # (n, A, A)
    j_bc = np.minimum(j_bc, depth - 1)
    big = big_e[rows[:, :, None], j_bc]  # (n, A, A)
    e_at = lambda idx: e[rows[:, :, None], j_bc, idx]  # noqa: E731  e_{j_bc}(idx)
    r_bc = big - e_at(np.arange(n_act)[None, :, None]) - e_at(np.arange(n_act)[None, None, :])
    v = np.where(eye, 0.0, w / np.maximum(r_bc, 1.0))  # (n, A, A)
    for j in range(depth):
        mass = np.where(j_bc == j, v, 0.0)
        total = mass.sum(axis=(1, 2))[:, None]
        out[:, :, 2] += e[:, j, :] * (total - mass.sum(axis=2) - mass.sum(axis=1))
    return out


def _scores(scores: np.ndarray, len_list: int) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim not in (1, 2):
        raise ValueError(f"scores must be (n_actions,) or (n_rows, n_actions); got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores hold NaN or infinite values; score every (row, item) pair")
    if not isinstance(len_list, int) or not 1 <= len_list <= s.shape[-1]:
        raise ValueError(f"len_list must be an integer in [1, n_actions={s.shape[-1]}]; got {len_list!r}")
    return s


def _check_slots(dist: np.ndarray, what: str) -> None:
    sums = dist.sum(axis=-2)  # (..., len_list)
    bad = np.argwhere(np.abs(sums - 1.0) > 1e-6)
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"{what}: the probabilities of a slot must sum to 1 over the items; slot {where[-1]}"
            f"{' of context #' + str(where[0]) if len(where) > 1 else ''} sums to {float(sums[where]):.6g}; "
            "give every slot the log uses a full distribution"
        )
