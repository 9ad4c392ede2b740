"""Item-level truth of the simulator: each user's logging distribution over items, E[click | user, item], and values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from causal.sim.model import STRATEGIES, reason_probability, sigmoid
from causal.sim.simulator import DEFAULT_DATA, Simulation, SimulatorConfig, sampled_world, simulate_batches


@dataclass(frozen=True)
class ItemWorld:
    """The simulated users (N) and catalogue items (I) with exact item-level quantities of the logging mechanism.

    value(target) is the exact E[click] of serving items from `target` to the log's impressions, with slots
    uniform and reason ~ ρ(activity) as the exact truth integrates them; value(strategy_policy(s)) is the
    truth of do(strategy = s). Log rows map to indices with locate(log).
    """

    users: np.ndarray  # (N,) MovieLens userIds as the log's user_id strings
    items: np.ndarray  # (I,) movieIds as the log's item_id strings
    item_text: np.ndarray  # (I,) "title | genres", as the log's item_text
    logging: np.ndarray  # (N, I) P(item | user) under the logging mechanism; rows sum to 1
    q: np.ndarray  # (N, I) E[click | user, item], slot and reason integrated out
    user_weight: np.ndarray  # (N,) the user's share of the log's impressions
    policy: np.ndarray  # (N, S) π(strategy | user) of the logging mechanism, columns in STRATEGIES order
    unseen: np.ndarray  # (N, I) bool: items the user never rated, the only ones a strategy serves
    pools: Mapping[str, np.ndarray]  # strategy -> (N, k) the top-k items each non-random strategy draws from

    def strategy_policy(self, name: str) -> np.ndarray:
        """The (N, I) item distribution of one strategy: uniform on its pool, or on the unseen items for random."""
        if name not in STRATEGIES:
            raise ValueError(f"strategy {name!r} is not a strategy; choose one of {list(STRATEGIES)}")
        if name == "random":
            return self.unseen / self.unseen.sum(axis=1, keepdims=True)
        pool = self.pools[name]
        target = np.zeros(self.q.shape)
        target[np.arange(len(pool))[:, None], pool] = 1.0 / pool.shape[1]
        return target

    def greedy(self, scores: np.ndarray) -> np.ndarray:
        """The (N, I) policy serving each user the unseen item of highest score (the lowest index on ties)."""
        masked = np.where(self.unseen, self._check_shape("scores", scores), -np.inf)
        target = np.zeros(self.q.shape)
        target[np.arange(len(masked)), masked.argmax(axis=1)] = 1.0
        return target

    def softmax(self, scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """The (N, I) policy drawing unseen items with probability ∝ exp(score / temperature)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature!r}; use greedy() for the limit at 0")
        logits = np.where(self.unseen, self._check_shape("scores", scores) / temperature, -np.inf)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))  # exp(-inf) = 0 on seen items
        return weights / weights.sum(axis=1, keepdims=True)

    def value(self, target: np.ndarray) -> float:
        """Exact E[click] under `target` (N, I): Σ_u user_weight[u] Σ_a target[u, a]·q[u, a]."""
        target = self._check_shape("target", target)
        sums = target.sum(axis=1)
        if (target < 0).any() or not np.allclose(sums, 1.0, atol=1e-6):
            raise ValueError(
                f"target rows must be item distributions summing to 1; got row sums in "
                f"[{sums.min():.6f}, {sums.max():.6f}]; normalise each user's row"
            )
        return float(self.user_weight @ np.einsum("ua,ua->u", target, self.q))

    def locate(self, log: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each log row's user index into `users` and item index into `items`; (M,) ints each."""
        found = []
        for column, ids in (("user_id", self.users), ("item_id", self.items)):
            pos = pd.Index(ids).get_indexer(log[column].astype(str))
            if (pos < 0).any():
                missing = log[column][pos < 0].iloc[0]
                raise ValueError(f"{column} {missing!r} is not in this ItemWorld; build it from the same simulation")
            found.append(pos)
        return found[0], found[1]

    def _check_shape(self, name: str, matrix: np.ndarray) -> np.ndarray:
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != self.q.shape:
            raise ValueError(f"{name} must be (users, items) = {self.q.shape}; got {matrix.shape}")
        return matrix


def item_world(sim_or_config: Simulation | SimulatorConfig, data_dir: Path = DEFAULT_DATA) -> ItemWorld:
    """The ItemWorld of a simulation (weights from its log) or of a config (its log simulated batch by batch)."""
    config = sim_or_config.config if isinstance(sim_or_config, Simulation) else sim_or_config
    world = sampled_world(config, data_dir)
    cat = world.cat
    users = cat.user_ids[world.users].astype(str).astype(object)
    if isinstance(sim_or_config, Simulation):
        counts = sim_or_config.log["user_id"].value_counts()
    else:  # only the users' draws matter, but they come from the same streams as the rest of the log
        counts = pd.Series(0, index=users)
        for batch in simulate_batches(config, data_dir):
            counts = counts.add(batch.log["user_id"].value_counts(), fill_value=0)
    weight = counts.reindex(users, fill_value=0).to_numpy(dtype=np.float64)

    unseen = ~world.seen
    n_unseen = unseen.sum(axis=1)
    policy = world.policy  # (N, S)
    if config.force_strategy is not None:  # the forcing policy serves its strategy with probability 1
        policy = np.zeros_like(policy)
        policy[:, STRATEGIES.index(config.force_strategy)] = 1.0
    logging = unseen * (policy[:, STRATEGIES.index("random")] / n_unseen)[:, None]  # (N, I)
    rows = np.arange(len(users))[:, None]
    for name, pool in world.pools.items():
        # items within one pool are distinct, so the fancy-index += adds each once
        logging[rows, pool] += policy[:, STRATEGIES.index(name), None] / pool.shape[1]

    # Slots uniform, reason ~ ρ(activity) as the exact truth integrates them; float64 like the pools' truth
    rho = reason_probability(config.reason_confounding)[world.act]  # (N,)
    base = world.base.astype(np.float64)
    n_pos = world.offsets.shape[0]
    q = np.zeros(base.shape)
    for p in range(n_pos):
        for r, share in ((0, 1.0 - rho), (1, rho)):
            q += (share / n_pos)[:, None] * sigmoid(base + world.offsets[p, r])
    return ItemWorld(
        users=users,
        items=cat.item_ids.astype(str).astype(object),
        item_text=(pd.Series(cat.titles) + " | " + pd.Series(cat.genres)).to_numpy(dtype=object),
        logging=logging,
        q=q,
        user_weight=weight / weight.sum(),
        policy=policy,
        unseen=unseen,
        pools=dict(world.pools),
    )
