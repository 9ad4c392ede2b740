"""The seeded semi-synthetic recommender simulator on the real MovieLens catalogue: its config, batches and output."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from causal.sim import model
from causal.sim.batches import combine_truth, sorted_seconds, write_frames
from causal.sim.catalogue import Catalogue, load_catalogue
from causal.sim.model import ACTIVITY, STRATEGIES, reason_probability, sigmoid
from causal.sim.truth import TruthRow, exact_truth
from common.files import atomic_write_text
from common.values import check_int

# The bundled MovieLens copy, found from this file rather than the working directory, so `recdo simulate` runs
# from any folder (a wheel without data/ gets the "is missing; point --data at ..." error instead).
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "data" / "ml-latest-small"
_TASTE_RETURN = {"Drama": 0.2, "Comedy": 0.0, "Action": -0.2, "other": 0.1}  # θ_T on the logit of returned
_START = pd.Timestamp("2024-03-01", tz="UTC")
BATCH_IMPRESSIONS = 250_000  # impressions made (and held) at a time; a log of one batch is drawn as before batching


@dataclass(frozen=True)
class SimulatorConfig:
    """One simulated log; every field is checked on construction."""

    users: int = 610  # real MovieLens users sampled (ml-latest-small has 610)
    impressions: int = 50_000
    seed: int = 0
    confounding: float = 0.8  # κ: weight of the activity-dependent part of the logging policy
    reason_confounding: float = 0.6  # how far P(reason_shown | activity) moves from 0.5 (0: randomised)
    position_bias: float = 0.3  # β: click logit lost per slot down the list
    n_positions: int = 5
    relevance_weight: float = 1.0  # w: click logit per unit of true relevance
    activity_effect: float = 0.8  # α: click logit of high (+) and low (−) activity users vs mid
    reason_effect: float = 0.4  # τ: click logit when the reason is shown
    click_base: float = -3.0  # c0
    return_base: float = -1.0  # r0
    return_activity_effect: float = 0.8  # η: returned logit of high (+) and low (−) activity vs mid
    click_on_return: float = 1.2  # γ: returned logit of a click
    candidates: int = 20  # top-k pool each non-random strategy draws from
    days: int = 3  # ts spread over this many days from 2024-03-01 UTC
    force_strategy: Literal["popular", "collaborative", "content", "random"] | None = None
    force_reason: int | None = None
    taste_following: float = 0.0  # λ: weight of the taste row in π(strategy | user); > 0 adds θ_C and item_propensity
    taste_click_effect: float = 1.0  # scale of θ_C, the taste term of the click logit (only when taste_following > 0)
    allocation: Mapping[str, Mapping[str, float]] | Sequence[Sequence[float]] | None = None  # replaces π; see model

    def __post_init__(self) -> None:
        if self.allocation is not None:  # kept as a (3, 4) tuple of rows: hashable, and equal when equal
            object.__setattr__(self, "allocation", tuple(map(tuple, model.allocation_array(self.allocation).tolist())))
        check_int("users", self.users, 3, "use at least 3 users (one per activity tercile)")
        if self.users > 610:
            raise ValueError(
                f"users={self.users!r} exceeds the 610 real users of ml-latest-small; pass --users 610 or fewer"
            )
        check_int("impressions", self.impressions, 1, "simulate at least one impression")
        check_int("seed", self.seed, 0, "pass a non-negative integer seed")
        check_int("n_positions", self.n_positions, 1, "use at least one slot")
        check_int("candidates", self.candidates, 1, "let each strategy draw from at least one item")
        check_int("days", self.days, 1, "spread the log over at least one day")
        for name in ("confounding", "reason_confounding", "taste_following"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {value!r}; use 0 for a randomised assignment")
        # κ = 1 is allowed: π_A gives every strategy probability >= 0.05, so propensities stay in (0, 1]
        for name in (
            "position_bias",
            "relevance_weight",
            "activity_effect",
            "reason_effect",
            "click_base",
            "return_base",
            "return_activity_effect",
            "click_on_return",
            "taste_click_effect",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number; got {value!r}")
        if self.force_strategy is not None and self.force_strategy not in STRATEGIES:
            raise ValueError(
                f"force_strategy {self.force_strategy!r} is not a strategy; choose one of {list(STRATEGIES)} or None"
            )
        if self.force_reason is not None and self.force_reason not in (0, 1):
            raise ValueError(f"force_reason must be 0, 1 or None; got {self.force_reason!r}")


@dataclass(frozen=True)
class Simulation:
    """A simulated log, its exact interventional truth, and the config that made them."""

    log: pd.DataFrame
    truth: tuple[TruthRow, ...]
    config: SimulatorConfig

    def truth_value(
        self, treatment: str, value: str, outcome: str = "click", estimand: str = "interventional_mean"
    ) -> float:
        return _truth_value(self.truth, treatment, value, outcome, estimand)


def _truth_value(truth: tuple[TruthRow, ...], treatment: str, value: str, outcome: str, estimand: str) -> float:
    key = (treatment, str(value), outcome, estimand)
    for row in truth:
        if (row.treatment, row.treatment_value, row.outcome, row.estimand) == key:
            return row.value
    raise KeyError(f"no truth row for {estimand} of {treatment}={value!r} on {outcome!r}; see Simulation.truth")


def simulate(
    config: SimulatorConfig, data_dir: Path = DEFAULT_DATA, batch_impressions: int = BATCH_IMPRESSIONS
) -> Simulation:
    """Simulate ``config.impressions`` impressions and compute the exact interventional truth (`exact_truth`).

    The whole log in memory: `simulate_to` writes the same log batch by batch instead.
    """
    logs, parts = [], []
    for batch in simulate_batches(config, data_dir, batch_impressions):
        logs.append(batch.log)
        parts.append((len(batch.log), batch.truth))
    log = logs[0] if len(logs) == 1 else pd.concat(logs, ignore_index=True)
    return Simulation(log=log, truth=combine_truth(parts), config=config)


def simulate_batches(
    config: SimulatorConfig, data_dir: Path = DEFAULT_DATA, batch_impressions: int = BATCH_IMPRESSIONS
) -> Iterator[SimBatch]:
    """The log of ``config.impressions`` impressions in batches, each with the exact truth over its contexts.

    The structural causal model (one row per impression; ``σ`` is the logistic function):

        user u            drawn uniformly from the N sampled real MovieLens users (with their real histories)
        A = activity(u)   tercile of the user's real rating count: low / mid / high              (confounder)
        T = taste(u)      the user's most-rated genre, kept if among the three most common, else "other"
        S ~ π(· | A)      strategy ∈ {popular, collaborative, content, random}; logging policy
                          π = (1 − κ)·uniform + κ·π_A  (κ = ``confounding``), π_A favours popular for low
                          activity and collaborative/content for high activity; ``propensity`` = π(S | A).
                          λ = taste_following > 0: π(· | A, T) = (1 − λ)·π(· | A) + λ·π_T(· | T), θ_C[T] joins
                          the click logit, ``item_propensity`` = P(I | u); an ``allocation`` replaces π by its A row
        I | S, u          uniform over the strategy's top-``candidates`` unseen items for u: popular = most
                          rated; collaborative = user-neighbour (cosine of rating sets) weighted votes;
                          content = cosine of the item's genres with u's genre profile; random = uniform
                          over all items u has not rated
        P ~ uniform{0..n_positions−1}   slot, exogenous
        R ~ Bernoulli(ρ_A)              reason_shown; ρ = 0.5 ∓ 0.4·``reason_confounding`` for low/high
                                        activity (0.5 for mid): mildly confounded through A, never through S
        rel(u, i) = 3·genre_cos(u, i) + 1.5·(quality_i − 3.5) + 0.5·pop_i      (closed form, real data:
                    quality = shrunk mean rating, pop = standardised log rating count)
        C ~ Bernoulli(σ(c0 + w·rel(u, I) + α_A [+ θ_C[T]] − β·P + τ·R))        click
        Y ~ Bernoulli(σ(r0 + θ_T + η_A + γ·C))                    returned (user comes back next week)

    Impressions are made `batch_impressions` at a time. A log of at most one batch is drawn from the seven
    stage streams as it always was (the same log and truth for a seed as before batching); a longer log
    draws each batch from its own child of every stage stream, and its ts from per-day counts of the
    seconds (multinomial, so the seconds are those of sorted uniform draws), so memory stays one batch's.
    """
    check_int("batch_impressions", batch_impressions, 1, "make at least one impression per batch")
    # Independent streams per stage, so forcing a treatment leaves users, slots and reasons unchanged
    seeds = np.random.SeedSequence(config.seed).spawn(7)
    rngs = [np.random.default_rng(s) for s in seeds]
    world = _world(config, Path(data_dir), rngs[0])
    m = config.impressions
    if m <= batch_impressions:
        seconds = np.sort(rngs[6].integers(0, config.days * 86_400, size=m))
        yield draw_batch(world, config, 0, m, rngs[:6], seconds)
        return
    n_batches = -(-m // batch_impressions)
    children = [s.spawn(n_batches) for s in seeds[:6]]
    day_counts = rngs[6].multinomial(m, np.full(config.days, 1.0 / config.days))
    day_seeds = seeds[6].spawn(config.days)
    for b in range(n_batches):
        first = b * batch_impressions
        size = min(batch_impressions, m - first)
        seconds = sorted_seconds(first, first + size, day_counts, day_seeds)
        yield draw_batch(world, config, first, size, [np.random.default_rng(c[b]) for c in children], seconds)


@dataclass(frozen=True)
class SimBatch:
    """Impressions first .. first+len(log)-1 of a simulated log, and the exact truth over their contexts."""

    log: pd.DataFrame
    truth: tuple[TruthRow, ...]


@dataclass(frozen=True)
class World:
    """What every impression draws on: the sampled users, their strategy pools and exact click probabilities."""

    cat: Catalogue
    users: np.ndarray  # (N,) sampled user positions in the catalogue
    act: np.ndarray  # (N,) activity index
    seen: np.ndarray  # (N, I)
    pools: dict[str, np.ndarray]  # strategy -> (N, k) item indices
    base: np.ndarray  # (N, I) click logit without slot and reason
    offsets: np.ndarray  # (P, 2) logit offsets of slot and reason
    p_table: np.ndarray  # (N, S, P, R) mean click probability, item draw integrated out
    taste_return: np.ndarray  # (N,) θ_T of each user
    policy: np.ndarray  # (N, S) π(strategy | user) of the logging mechanism


def sampled_world(config: SimulatorConfig, data_dir: Path = DEFAULT_DATA) -> World:
    """The users, pools, click logits and logging policy every impression of `config` draws on."""
    return _world(config, Path(data_dir), np.random.default_rng(np.random.SeedSequence(config.seed).spawn(7)[0]))


def _world(config: SimulatorConfig, data_dir: Path, rng_users: np.random.Generator) -> World:
    cat = load_catalogue(data_dir)
    users = np.sort(rng_users.choice(len(cat.user_ids), size=config.users, replace=False))  # (N,)
    act = cat.activity[users]  # (N,)
    seen = cat.seen[users]  # (N, I)
    n_items = seen.shape[1]

    # Strategy scores (N, I) from the real ratings; seen items are never recommended
    rel = 3.0 * (cat.genre_profile[users] @ cat.item_genres_mat.T) + cat.relevance_item[None, :]  # (N, I)
    r_all = cat.seen.astype(np.float32)  # (U, I)
    r_all_unit = r_all / np.maximum(np.linalg.norm(r_all, axis=1, keepdims=True), 1e-12)
    sim = r_all_unit[users] @ r_all_unit.T  # (N, U) cosine similarity of rating sets
    sim[np.arange(len(users)), users] = 0.0  # not one's own neighbour
    scores = {
        "popular": np.broadcast_to(cat.popularity, seen.shape),
        "collaborative": sim @ r_all,  # (N, I)
        "content": cat.genre_profile[users] @ cat.item_genres_mat.T,
    }
    k = config.candidates
    pools = {}  # strategy -> (N, k) item indices
    for name, score in scores.items():
        # ties (equal counts, equal genre cosines) go to the lower item index, whatever argpartition does
        masked = np.where(seen, -np.inf, score - 1e-9 * np.arange(n_items) / n_items)
        top = np.argpartition(-masked, k - 1, axis=1)[:, :k]  # (N, k), unordered; the draw within is uniform
        pools[name] = np.sort(top, axis=1)

    # Per-user, per-strategy mean click probability with the item draw integrated out exactly;
    # slot and reason enter the logit additively, so one (P, 2) table of offsets covers them
    pos_vals = np.arange(config.n_positions)
    act_shift = config.activity_effect * (act - 1.0)  # (N,) −α, 0, +α
    offsets = -config.position_bias * pos_vals[:, None] + config.reason_effect * np.array([[0.0, 1.0]])  # (P, 2)
    base = config.click_base + config.relevance_weight * rel + act_shift[:, None]
    rank = model.taste_rank(cat.taste[users], cat.taste_buckets)
    if config.taste_following > 0:  # a separate step, so that λ = 0 keeps every logit bit for bit
        base = base + model.taste_click(rank, config.taste_click_effect)[:, None]
    base = base.astype(np.float32)  # (N, I)
    p_table = np.empty((len(users), len(STRATEGIES), config.n_positions, 2))  # (N, S, P, R)
    for s, name in enumerate(STRATEGIES):
        if name == "random":
            unseen = (~seen).astype(np.float32)
            n_unseen = unseen.sum(axis=1, dtype=np.float64)
            for p in pos_vals:
                for r in (0, 1):
                    prob = sigmoid(base + np.float32(offsets[p, r]))
                    p_table[:, s, p, r] = (prob * unseen).sum(axis=1, dtype=np.float64) / n_unseen
        else:
            b = np.take_along_axis(base, pools[name], axis=1).astype(np.float64)  # (N, k)
            p_table[:, s] = sigmoid(b[:, None, None, :] + offsets[None, :, :, None]).mean(axis=-1)
    taste_return = np.array([_TASTE_RETURN.get(t, 0.0) for t in cat.taste[users]])
    alloc = None if config.allocation is None else np.array(config.allocation)
    policy = model.user_policy(act, rank, config.confounding, config.taste_following, alloc)
    return World(cat, users, act, seen, pools, base, offsets, p_table, taste_return, policy)


def draw_batch(
    world: World, config: SimulatorConfig, first: int, m: int, rngs: list[np.random.Generator], seconds: np.ndarray
) -> SimBatch:
    """Impressions first .. first+m-1, drawn from the six per-stage generators, at the given sorted seconds."""
    rng_users, rng_ctx, rng_strategy, rng_item, rng_click, rng_return = rngs
    cat, users, act, seen = world.cat, world.users, world.act, world.seen
    u_of = rng_users.integers(0, len(users), size=m)  # (M,) index into users
    a_of = act[u_of]
    position = rng_ctx.integers(0, config.n_positions, size=m)
    rho = reason_probability(config.reason_confounding)
    reason = (rng_ctx.random(m) < rho[a_of]).astype(np.int64)
    if config.force_reason is not None:
        reason = np.full(m, config.force_reason, dtype=np.int64)
    pi = world.policy[u_of]  # (M, S); π[a_of] of the activity-only policy when λ = 0 and no allocation
    cum = np.cumsum(pi, axis=1)  # (M, S)
    strategy = np.minimum((rng_strategy.random(m)[:, None] > cum).sum(axis=1), len(STRATEGIES) - 1)
    propensity = pi[np.arange(m), strategy]
    if config.force_strategy is not None:
        strategy = np.full(m, STRATEGIES.index(config.force_strategy))
        propensity = np.ones(m)  # the forcing policy is deterministic

    # Item draw: uniform over the strategy's pool, or over the user's unseen items for random
    slot = rng_item.integers(0, config.candidates, size=m)
    item = np.empty(m, dtype=np.int64)
    for s, name in enumerate(STRATEGIES[:-1]):
        rows = strategy == s
        item[rows] = world.pools[name][u_of[rows], slot[rows]]
    rows = np.flatnonzero(strategy == STRATEGIES.index("random"))
    draw = rng_item.integers(0, seen.shape[1], size=len(rows))
    bad = seen[u_of[rows], draw]
    while bad.any():  # rejection keeps the draw uniform over unseen items
        draw[bad] = rng_item.integers(0, seen.shape[1], size=int(bad.sum()))
        bad = seen[u_of[rows], draw]
    item[rows] = draw

    p_click = sigmoid(world.base[u_of, item].astype(np.float64) + world.offsets[position, reason])
    click = (rng_click.random(m) < p_click).astype(np.int64)
    taste = cat.taste[users][u_of]
    ret_base = config.return_base + world.taste_return[u_of] + config.return_activity_effect * (a_of - 1.0)  # (M,)
    returned = (rng_return.random(m) < sigmoid(ret_base + config.click_on_return * click)).astype(np.int64)

    truth = exact_truth(
        world.p_table[u_of],
        a_of,
        ret_base,
        rho,
        None,  # `policy` gives each impression's own row of π
        n_positions=config.n_positions,
        click_on_return=config.click_on_return,
        policy=pi,
    )

    ts = _START + pd.to_timedelta(seconds, unit="s")
    items = cat.item_ids[item]
    log = pd.DataFrame(
        {
            "event_id": [f"sim{config.seed}-{i:07d}" for i in range(first, first + m)],
            "ts": ts,
            "user_id": cat.user_ids[users][u_of].astype(str).astype(object),
            "item_id": items.astype(str).astype(object),
            "strategy": np.array(STRATEGIES, dtype=object)[strategy],
            "position": position.astype(np.int64),
            "propensity": propensity.astype(np.float64),
            "reason_shown": reason,
            "click": click,
            "returned": returned,
            "user_activity": np.array(ACTIVITY, dtype=object)[a_of],
            "user_taste": taste.astype(object),
            "item_title": cat.titles[item],
            "item_genres": cat.genres[item],
        }
    )
    log["item_text"] = log["item_title"] + " | " + log["item_genres"]
    log["partition"] = log["ts"].dt.strftime("%Y-%m-%d")
    if config.taste_following > 0 or config.allocation is not None:  # absent otherwise: logs stay as they were
        served = pi if config.force_strategy is None else np.eye(len(STRATEGIES))[strategy]  # forcing: π(S) = 1
        log["item_propensity"] = model.item_probability(served, world.pools, (~seen).sum(axis=1), u_of, item)
    return SimBatch(log=log, truth=truth)


@dataclass(frozen=True)
class Written:
    """What `simulate_to` wrote: the two files, the log's size, its exact truth and the naive click rates."""

    log_path: Path
    truth_path: Path
    impressions: int
    truth: tuple[TruthRow, ...]
    naive_click: dict[str, float]  # strategy -> click rate in the log

    def truth_value(self, treatment: str, value: str, outcome: str = "click") -> float:
        return _truth_value(self.truth, treatment, value, outcome, "interventional_mean")


def simulate_to(
    config: SimulatorConfig, out_dir: Path, data_dir: Path = DEFAULT_DATA, batch_impressions: int = BATCH_IMPRESSIONS
) -> Written:
    """Simulate and write ``out_dir/log.parquet`` and ``truth.json`` one batch at a time (bounded memory)."""
    parts: list[tuple[int, tuple[TruthRow, ...]]] = []
    clicks = dict.fromkeys(STRATEGIES, 0)
    shown = dict.fromkeys(STRATEGIES, 0)

    def frames() -> Iterator[pd.DataFrame]:
        for batch in simulate_batches(config, data_dir, batch_impressions):
            parts.append((len(batch.log), batch.truth))
            by = batch.log.groupby("strategy")["click"].agg(["sum", "count"])
            for name, row in by.iterrows():
                clicks[name] += int(row["sum"])
                shown[name] += int(row["count"])
            yield batch.log

    log_path, truth_path = _paths(out_dir)
    write_frames(frames(), log_path)
    truth = combine_truth(parts)
    atomic_write_text(truth_path, json.dumps([asdict(r) for r in truth], indent=2) + "\n")
    naive = {name: clicks[name] / shown[name] if shown[name] else float("nan") for name in STRATEGIES}
    return Written(log_path, truth_path, sum(n for n, _ in parts), truth, naive)


def write(sim: Simulation, out_dir: Path) -> tuple[Path, Path]:
    """Write ``out_dir/log.parquet`` (canonical log, in row groups of a batch) and ``out_dir/truth.json``."""
    log_path, truth_path = _paths(out_dir)
    step = BATCH_IMPRESSIONS
    write_frames((sim.log.iloc[i : i + step] for i in range(0, len(sim.log), step)), log_path)
    atomic_write_text(truth_path, json.dumps([asdict(r) for r in sim.truth], indent=2) + "\n")
    return log_path, truth_path


def _paths(out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / "log.parquet", out_dir / "truth.json"
