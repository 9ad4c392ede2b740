"""A seeded semi-synthetic recommender simulator on the real MovieLens catalogue, with exact interventional truth.

The structural causal model (one row per impression; ``σ`` is the logistic function):

    user u            drawn uniformly from the N sampled real MovieLens users (with their real histories)
    A = activity(u)   tercile of the user's real rating count: low / mid / high              (confounder)
    T = taste(u)      the user's most-rated genre, kept if among the three most common, else "other"
    S ~ π(· | A)      strategy ∈ {popular, collaborative, content, random}; logging policy
                      π = (1 − κ)·uniform + κ·π_A  (κ = ``confounding``), π_A favours popular for low
                      activity and collaborative/content for high activity; ``propensity`` = π(S | A)
    I | S, u          uniform over the strategy's top-``candidates`` unseen items for u: popular = most
                      rated; collaborative = user-neighbour (cosine of rating sets) weighted votes;
                      content = cosine of the item's genres with u's genre profile; random = uniform
                      over all items u has not rated
    P ~ uniform{0..n_positions−1}   slot, exogenous
    R ~ Bernoulli(ρ_A)              reason_shown; ρ = 0.5 ∓ 0.4·``reason_confounding`` for low/high
                                    activity (0.5 for mid): mildly confounded through A, never through S
    rel(u, i) = 3·genre_cos(u, i) + 1.5·(quality_i − 3.5) + 0.5·pop_i      (closed form, real data:
                quality = shrunk mean rating, pop = standardised log rating count)
    C ~ Bernoulli(σ(c0 + w·rel(u, I) + α_A − β·P + τ·R))        click
    Y ~ Bernoulli(σ(r0 + θ_T + η_A + γ·C))                    returned (user comes back next week)

Exact truth.  For treatment X ∈ {strategy, reason_shown} and value v, the simulator forces X = v for
every impression and averages the *probabilities* — never sampled outcomes — over the same impression
contexts (the impression's user; the item draw, slot and, for do(strategy), the reason are integrated
out exactly with their known distributions; for do(reason_shown) the strategy is integrated over π):

    E[C | do(X=v)] = (1/M) Σ_m E[C | do(X=v), u_m],   E[Y | do(X=v)] likewise (linear in P(C=1)).

This is exact for the simulated population (the M impressions' users), which is what an estimator run
on the log targets; no estimator is involved.  ATE rows are differences of these means against
baseline ``random`` (strategy) and 0 (reason_shown).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

STRATEGIES: tuple[str, ...] = ("popular", "collaborative", "content", "random")
ACTIVITY: tuple[str, ...] = ("low", "mid", "high")
OUTCOMES: tuple[str, ...] = ("click", "returned")
DEFAULT_DATA = Path("data/ml-latest-small")

# π_A: the confounded part of the logging policy (rows: low, mid, high activity; columns: STRATEGIES)
_POLICY_BY_ACTIVITY = np.array(
    [
        [0.70, 0.10, 0.10, 0.10],
        [0.25, 0.25, 0.25, 0.25],
        [0.05, 0.50, 0.35, 0.10],
    ]
)
_TASTE_RETURN = {"Drama": 0.2, "Comedy": 0.0, "Action": -0.2, "other": 0.1}  # θ_T on the logit of returned
_START = pd.Timestamp("2024-03-01", tz="UTC")


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

    def __post_init__(self) -> None:
        _check_int("users", self.users, 3, "use at least 3 users (one per activity tercile)")
        if self.users > 610:
            raise ValueError(
                f"users={self.users!r} exceeds the 610 real users of ml-latest-small; pass --users 610 or fewer"
            )
        _check_int("impressions", self.impressions, 1, "simulate at least one impression")
        _check_int("seed", self.seed, 0, "pass a non-negative integer seed")
        _check_int("n_positions", self.n_positions, 1, "use at least one slot")
        _check_int("candidates", self.candidates, 1, "let each strategy draw from at least one item")
        _check_int("days", self.days, 1, "spread the log over at least one day")
        for name in ("confounding", "reason_confounding"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {value!r}; use 0 for a randomised assignment")
        # κ = 1 is allowed: π_A gives every strategy probability >= 0.05, so propensities stay in (0, 1]
        for name in (
            "position_bias", "relevance_weight", "activity_effect", "reason_effect", "click_base",
            "return_base", "return_activity_effect", "click_on_return",
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


def _check_int(name: str, value: object, low: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}; {fix}")


@dataclass(frozen=True)
class TruthRow:
    """One exact interventional quantity, in the shape of the interventions table."""

    treatment: str
    treatment_value: str
    baseline_value: str | None
    outcome: str
    estimand: Literal["interventional_mean", "ate"]
    value: float


@dataclass(frozen=True)
class Simulation:
    log: pd.DataFrame
    truth: tuple[TruthRow, ...]
    config: SimulatorConfig

    def truth_value(
        self, treatment: str, value: str, outcome: str = "click", estimand: str = "interventional_mean"
    ) -> float:
        key = (treatment, str(value), outcome, estimand)
        for row in self.truth:
            if (row.treatment, row.treatment_value, row.outcome, row.estimand) == key:
                return row.value
        raise KeyError(f"no truth row for {estimand} of {treatment}={value!r} on {outcome!r}; see Simulation.truth")


def logging_policy(confounding: float) -> np.ndarray:
    """π(strategy | activity) as a (3 activity × 4 strategy) array, rows in ACTIVITY order, columns in STRATEGIES."""
    return (1.0 - confounding) / len(STRATEGIES) + confounding * _POLICY_BY_ACTIVITY


def reason_probability(reason_confounding: float) -> np.ndarray:
    """P(reason_shown = 1 | activity) in ACTIVITY order."""
    return 0.5 + 0.4 * reason_confounding * np.array([-1.0, 0.0, 1.0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class _Catalogue:
    user_ids: np.ndarray  # (U,) real userId of every user in ratings.csv
    activity: np.ndarray  # (U,) index into ACTIVITY
    taste: np.ndarray  # (U,) taste bucket name
    seen: np.ndarray  # (U, I) bool: the user rated the item
    genre_profile: np.ndarray  # (U, G) user genre profile (unit rows)
    item_ids: np.ndarray  # (I,) movieId
    item_genres_mat: np.ndarray  # (I, G) unit rows (zeros for no genres)
    titles: np.ndarray
    genres: np.ndarray
    relevance_item: np.ndarray  # (I,) item part of rel: 1.5·(quality − 3.5) + 0.5·pop
    popularity: np.ndarray  # (I,) rating count


def _load(data_dir: Path) -> _Catalogue:
    ratings_path, movies_path = data_dir / "ratings.csv", data_dir / "movies.csv"
    for path in (ratings_path, movies_path):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing; point --data at a MovieLens folder holding ratings.csv and movies.csv"
            )
    ratings = pd.read_csv(ratings_path, usecols=["userId", "movieId", "rating"])
    movies = pd.read_csv(movies_path)
    item_ids = movies["movieId"].to_numpy()
    item_index = pd.Series(np.arange(len(item_ids)), index=item_ids)
    ratings = ratings[ratings["movieId"].isin(item_index.index)]
    user_ids = np.sort(ratings["userId"].unique())
    user_index = pd.Series(np.arange(len(user_ids)), index=user_ids)
    ui = user_index[ratings["userId"]].to_numpy()
    ii = item_index[ratings["movieId"]].to_numpy()
    n_users, n_items = len(user_ids), len(item_ids)
    seen = np.zeros((n_users, n_items), dtype=bool)
    seen[ui, ii] = True

    genre_lists = movies["genres"].fillna("").str.split("|")
    vocab = sorted({g for gs in genre_lists for g in gs if g and g != "(no genres listed)"})
    gpos = {g: k for k, g in enumerate(vocab)}
    item_genres_mat = np.zeros((n_items, len(vocab)))
    for row, gs in enumerate(genre_lists):
        for g in gs:
            if g in gpos:
                item_genres_mat[row, gpos[g]] = 1.0
    genre_counts = seen.astype(float) @ item_genres_mat  # (U, G) how many rated films of each genre
    norm = np.linalg.norm(item_genres_mat, axis=1, keepdims=True)
    item_unit = np.divide(item_genres_mat, norm, out=np.zeros_like(item_genres_mat), where=norm > 0)
    unorm = np.linalg.norm(genre_counts, axis=1, keepdims=True)
    profile = genre_counts / np.maximum(unorm, 1e-12)

    counts = seen.sum(axis=1)
    activity = np.searchsorted(np.quantile(counts, [1 / 3, 2 / 3]), counts, side="right")
    top = np.array(vocab)[genre_counts.argmax(axis=1)]
    common = pd.Series(top).value_counts().index[:3]
    taste = np.where(np.isin(top, common), top, "other")
    # Buckets stay in _TASTE_RETURN's names where the data agree (Drama, Comedy, Action on ml-latest-small)

    n_ratings = np.bincount(ii, minlength=n_items).astype(float)
    sum_ratings = np.bincount(ii, weights=ratings["rating"].to_numpy(), minlength=n_items)
    quality = (sum_ratings + 3.5 * 5) / (n_ratings + 5)  # shrunk towards 3.5 with 5 pseudo-ratings
    logpop = np.log1p(n_ratings)
    pop = (logpop - logpop.mean()) / logpop.std()
    return _Catalogue(
        user_ids=user_ids,
        activity=activity,
        taste=taste,
        seen=seen,
        genre_profile=profile,
        item_ids=item_ids,
        item_genres_mat=item_unit,
        titles=movies["title"].to_numpy(dtype=object),
        genres=movies["genres"].to_numpy(dtype=object),
        relevance_item=1.5 * (quality - 3.5) + 0.5 * pop,
        popularity=n_ratings,
    )


def simulate(config: SimulatorConfig, data_dir: Path = DEFAULT_DATA) -> Simulation:
    """Simulate ``config.impressions`` impressions and compute the exact interventional truth."""
    cat = _load(Path(data_dir))
    # Independent streams per stage, so forcing a treatment leaves users, slots and reasons unchanged
    rng_users, rng_ctx, rng_strategy, rng_item, rng_click, rng_return, rng_ts = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(7)
    )
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
    base = (config.click_base + config.relevance_weight * rel + act_shift[:, None]).astype(np.float32)  # (N, I)
    p_table = np.empty((len(users), len(STRATEGIES), config.n_positions, 2))  # (N, S, P, R)
    for s, name in enumerate(STRATEGIES):
        if name == "random":
            unseen = (~seen).astype(np.float32)
            n_unseen = unseen.sum(axis=1, dtype=np.float64)
            for p in pos_vals:
                for r in (0, 1):
                    prob = _sigmoid(base + np.float32(offsets[p, r]))
                    p_table[:, s, p, r] = (prob * unseen).sum(axis=1, dtype=np.float64) / n_unseen
        else:
            b = np.take_along_axis(base, pools[name], axis=1).astype(np.float64)  # (N, k)
            p_table[:, s] = _sigmoid(b[:, None, None, :] + offsets[None, :, :, None]).mean(axis=-1)

    # Impressions
    m = config.impressions
    u_of = rng_users.integers(0, len(users), size=m)  # (M,) index into users
    a_of = act[u_of]
    position = rng_ctx.integers(0, config.n_positions, size=m)
    rho = reason_probability(config.reason_confounding)
    reason = (rng_ctx.random(m) < rho[a_of]).astype(np.int64)
    if config.force_reason is not None:
        reason = np.full(m, config.force_reason, dtype=np.int64)
    pi = logging_policy(config.confounding)  # (3, S)
    cum = np.cumsum(pi[a_of], axis=1)  # (M, S)
    strategy = np.minimum((rng_strategy.random(m)[:, None] > cum).sum(axis=1), len(STRATEGIES) - 1)
    propensity = pi[a_of, strategy]
    if config.force_strategy is not None:
        strategy = np.full(m, STRATEGIES.index(config.force_strategy))
        propensity = np.ones(m)  # the forcing policy is deterministic

    # Item draw: uniform over the strategy's pool, or over the user's unseen items for random
    slot = rng_item.integers(0, k, size=m)
    item = np.empty(m, dtype=np.int64)
    for s, name in enumerate(STRATEGIES[:-1]):
        rows = strategy == s
        item[rows] = pools[name][u_of[rows], slot[rows]]
    rows = np.flatnonzero(strategy == STRATEGIES.index("random"))
    draw = rng_item.integers(0, n_items, size=len(rows))
    bad = seen[u_of[rows], draw]
    while bad.any():  # rejection keeps the draw uniform over unseen items
        draw[bad] = rng_item.integers(0, n_items, size=int(bad.sum()))
        bad = seen[u_of[rows], draw]
    item[rows] = draw

    p_click = _sigmoid(base[u_of, item].astype(np.float64) + offsets[position, reason])
    click = (rng_click.random(m) < p_click).astype(np.int64)
    taste = cat.taste[users][u_of]
    ret_base = (
        config.return_base
        + np.array([_TASTE_RETURN.get(t, 0.0) for t in cat.taste[users]])[u_of]
        + config.return_activity_effect * (a_of - 1.0)
    )  # (M,)
    returned = (rng_return.random(m) < _sigmoid(ret_base + config.click_on_return * click)).astype(np.int64)

    truth = _truth(config, p_table[u_of], a_of, ret_base, rho, pi)

    seconds = np.sort(rng_ts.integers(0, config.days * 86_400, size=m))
    ts = _START + pd.to_timedelta(seconds, unit="s")
    items = cat.item_ids[item]
    log = pd.DataFrame(
        {
            "event_id": [f"sim{config.seed}-{i:07d}" for i in range(m)],
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
    return Simulation(log=log, truth=truth, config=config)


def _truth(config, p_imp, a_of, ret_base, rho, pi) -> tuple[TruthRow, ...]:
    """Exact E[Y | do(X=v)] averaged over the impressions' contexts; p_imp is (M, S, P, R) click probabilities."""
    p_pos = np.full(config.n_positions, 1.0 / config.n_positions)
    q0, q1 = _sigmoid(ret_base), _sigmoid(ret_base + config.click_on_return)  # P(returned | click=0/1), (M,)
    p_reason = np.stack([1.0 - rho[a_of], rho[a_of]], axis=1)  # (M, 2) under the logging mechanism
    per_strategy = np.einsum("msrp,p,mr->ms", p_imp.transpose(0, 1, 3, 2), p_pos, p_reason)  # (M, S)
    per_reason = np.einsum("msrp,p,ms->mr", p_imp.transpose(0, 1, 3, 2), p_pos, pi[a_of])  # (M, 2)
    rows: list[TruthRow] = []
    for treatment, values, probs, baseline in (
        ("strategy", STRATEGIES, per_strategy, "random"),
        ("reason_shown", ("0", "1"), per_reason, "0"),
    ):
        means = {}
        for outcome in OUTCOMES:
            for j, v in enumerate(values):
                pc = probs[:, j]
                value = float(pc.mean() if outcome == "click" else (q0 + (q1 - q0) * pc).mean())
                means[(outcome, v)] = value
                rows.append(TruthRow(treatment, v, None, outcome, "interventional_mean", value))
            for v in values:
                if v != baseline:
                    ate = means[(outcome, v)] - means[(outcome, baseline)]
                    rows.append(TruthRow(treatment, v, baseline, outcome, "ate", ate))
    return tuple(rows)


def write(sim: Simulation, out_dir: Path) -> tuple[Path, Path]:
    """Write ``out_dir/log.parquet`` (canonical log) and ``out_dir/truth.json`` (list of truth rows)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path, truth_path = out_dir / "log.parquet", out_dir / "truth.json"
    sim.log.to_parquet(log_path, index=False)
    truth_path.write_text(json.dumps([asdict(r) for r in sim.truth], indent=2) + "\n")
    return log_path, truth_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="recdo simulate",
        description="Simulate a confounded recommender log on MovieLens with exact interventional truth.",
    )
    parser.add_argument("--users", type=int, default=SimulatorConfig.users, help="real users to sample (<= 610)")
    parser.add_argument("--impressions", type=int, default=SimulatorConfig.impressions)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for log.parquet and truth.json")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens folder (ratings.csv, movies.csv)")
    args = parser.parse_args(argv)
    try:
        config = SimulatorConfig(users=args.users, impressions=args.impressions, seed=args.seed)
        started = time.perf_counter()
        sim = simulate(config, args.data)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"recdo simulate: error: {err}\n")
    log_path, truth_path = write(sim, args.out)
    elapsed = time.perf_counter() - started
    print(f"{len(sim.log)} impressions from {config.users} users in {elapsed:.1f} s -> {log_path}, {truth_path}")
    naive = sim.log.groupby("strategy")["click"].mean()
    print(f"{'strategy':<14}{'naive click':>12}{'do() truth':>12}")
    for name in STRATEGIES:
        print(f"{name:<14}{naive.get(name, float('nan')):>12.4f}{sim.truth_value('strategy', name):>12.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
