"""Reward models and action embeddings of bench/text_causal.py: the id-free baseline, text + id-free, MIPS keys."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from causal.policy.item_support import ItemLevelLog  # noqa: E402
from causal.policy.text_reward import CrossFit, TextRewardModel, cross_fit  # noqa: E402
from causal.sim.model import ACTIVITY, STRATEGIES  # noqa: E402
from causal.sim.taste import ItemWorld  # noqa: E402

MIPS_EMBEDDING = "text_pop_pool"  # the action embedding of mips_text / offcem_text (MIPS_EMBEDDINGS): dev-chosen
MIPS_EMBEDDINGS = ("text", "text_pop", "text_pop_pool")
POP_BANDS = 5  # popularity quintiles (of the public rating count), fixed per item: dev-chosen (5 vs 10)
MIPS_TEXT_CLUSTERS = 30  # k-means clusters of the item vectors in the MIPS embedding: dev-chosen (30, 99, 200)
TEXT_MODEL_COMPONENTS = 8  # TextRewardModel's principal axes for dm_text / dr_text: dev-chosen (8 vs 32)
TEXT_MODEL_C = 1.0  # and its inverse regularisation: dev-chosen (0.1 vs 1)


@dataclass(frozen=True)
class IdFreeLogistic:
    """A logistic reward model without text and without item ids: what the log and the logger know as columns.

    Features of (user u, item a): one-hots of u's user_activity and user_taste (logged columns; taste is observed
    in the off-policy table), whether a lies in each non-random strategy's candidate pool for u (the logger's own
    candidate sets, which it needs anyway to record item_propensity), and log1p of a's MovieLens rating count
    (the public popularity the popular strategy ranks by). Genres are left out: they are half of the item text
    ("title | genres"), and this model is the no-text baseline. Linear in these, so the (N, I) predictions are
    user term + pool terms + popularity term, computed per block of users.
    """

    activity: np.ndarray  # (N,) activity index
    taste: np.ndarray  # (N,) taste bucket index
    pools: tuple[np.ndarray, ...]  # (N, I) bool per non-random strategy
    popularity: np.ndarray  # (I,) standardised log1p rating count
    C: float = 100.0  # LogisticRewardModel's (obp's example configuration)

    def cross_fit(self, log: ItemLevelLog, n_folds: int, seed: int) -> CrossFit:
        n_taste = int(self.taste.max()) + 1
        users = np.hstack([np.eye(len(ACTIVITY))[self.activity], np.eye(n_taste)[self.taste]])  # (N, 3 + T)

        def fit(train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            from sklearn.linear_model import LogisticRegression

            u, a = log.user[train], log.item[train]
            pool_cols = np.column_stack([p[u, a] for p in self.pools]).astype(float)
            x = np.hstack([users[u], pool_cols, self.popularity[a, None]])
            model = LogisticRegression(C=self.C, max_iter=10_000, random_state=seed).fit(x, log.reward[train])
            beta, bias = model.coef_[0], float(model.intercept_[0])
            k = users.shape[1]
            user_term, pool_beta, pop_beta = users @ beta[:k] + bias, beta[k : k + len(self.pools)], beta[-1]

            def predict(block: np.ndarray) -> np.ndarray:
                logit = user_term[block, None] + pop_beta * self.popularity[None, :]
                for b, p in zip(pool_beta, self.pools):
                    logit = logit + b * p[block]
                return 1.0 / (1.0 + np.exp(-logit))  # (k users, I)

            return predict

        return cross_fit(fit, log, n_folds, seed)


def mips_clusters(item_vecs: np.ndarray, k: int | None = None, seed: int = 0) -> np.ndarray:
    """k-means labels of the item vectors; k = round(sqrt(I)) unless given (never chosen by the truth)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    k = max(2, round(math.sqrt(len(item_vecs)))) if k is None else k
    with threadpool_limits(limits=1):  # OpenMP's spinning workers crawl on a shared machine
        return KMeans(n_clusters=k, n_init=3, random_state=seed).fit(item_vecs).labels_.astype(np.int64)


def id_free_logistic(w: ItemWorld, log: pd.DataFrame, data: Path) -> IdFreeLogistic:
    """The IdFreeLogistic of one log: its users' first-row activity and taste, the pools, MovieLens popularity."""
    first = log.drop_duplicates("user_id").set_index("user_id").reindex(w.users)
    activity = first["user_activity"].map({a: k for k, a in enumerate(ACTIVITY)}).fillna(1).to_numpy(int)
    taste_codes, _ = pd.factorize(first["user_taste"].fillna("other"), sort=True)
    pools = []
    for name in STRATEGIES[:-1]:
        member = np.zeros(w.q.shape, dtype=bool)
        member[np.arange(len(w.users))[:, None], w.pools[name]] = True
        pools.append(member)
    counts = pd.read_csv(data / "ratings.csv", usecols=["movieId"])["movieId"].astype(str).value_counts()
    pop = np.log1p(counts.reindex(w.items, fill_value=0).to_numpy(dtype=float))
    return IdFreeLogistic(activity, taste_codes, tuple(pools), (pop - pop.mean()) / pop.std())


def text_reward_model(idf: IdFreeLogistic) -> TextRewardModel:
    """TextRewardModel on the MiniLM vectors plus the id-free columns IdFreeLogistic uses (never an item id).

    As the pipeline's scorer reads item features beside item text: activity and taste one-hots per user,
    popularity per item, and candidate-pool membership per (user, item) enter the logit linearly.
    """
    users = np.hstack([np.eye(len(ACTIVITY))[idf.activity], np.eye(int(idf.taste.max()) + 1)[idf.taste]])
    return TextRewardModel(
        C=TEXT_MODEL_C, n_components=TEXT_MODEL_COMPONENTS, extra_user=users, extra_item=idf.popularity,
        extra_pair=idf.pools,
    )  # fmt: skip


def popularity_bands(popularity: np.ndarray, n_bands: int = POP_BANDS) -> np.ndarray:
    """(I,) band of each item: how many of its popularity's quantile edges (ties merged) lie at or below it."""
    edges = np.unique(np.quantile(popularity, np.arange(1, n_bands) / n_bands))
    return np.searchsorted(edges, popularity, side="right").astype(np.int64)


def action_embedding(text_clusters: np.ndarray, idf: IdFreeLogistic, kind: str = MIPS_EMBEDDING) -> np.ndarray:
    """The discrete action embedding of MIPS / OffCEM: (I,) or, with pool membership, (N, I) per user.

    "text": the text cluster; "text_pop": text cluster x popularity band; "text_pop_pool": that x which of the
    logger's candidate pools hold the item for the user (a bitmask). No item id and no outcome enter it.
    """
    if kind not in MIPS_EMBEDDINGS:
        raise ValueError(f"MIPS embedding must be one of {MIPS_EMBEDDINGS}; got {kind!r}")
    if kind == "text":
        return text_clusters
    c = text_clusters * POP_BANDS + popularity_bands(idf.popularity)
    if kind == "text_pop":
        return c
    mask = sum(p.astype(np.int64) << k for k, p in enumerate(idf.pools))  # (N, I) in [0, 2^pools)
    return c[None, :] * (1 << len(idf.pools)) + mask
