"""The closed loop on the simulator: allocation in, analysis, allocation out, day after day, against three baselines.

Day 1 of every policy is served by the simulator's confounded logging policy (the same log for all); each
later day by the allocation the policy under test made from its own logs so far, per user_activity segment:

  recdo           pools every day's log so far (every day's assignment depends on activity alone, which the
                  network adjusts for, so the pooled log stays analysable), runs the causal engine with the CATE
                  segment user_activity, decides from the bootstrap replicates and serves Thompson sampling with
                  an exploration floor (causal.decide: P(best), allocate)
  uniform         every strategy with probability 1/4
  greedy_naive    everyone gets the strategy with the best pooled naive click rate of its own logs (no adjustment)
  epsilon_greedy  per segment, epsilon spread uniformly, the rest on the segment's best pooled click rate

Regret per impression of a day is expected, not sampled: sum_a share(a) * sum_s alloc(s | a) * (mu*(a) - mu(s, a))
with mu the simulator's exact E[click | do(strategy), activity] (causal.sim.segments). The simulator's world
(users, pools, exact click probabilities) is built once; each day draws users, slots, reasons and clicks from
the same seeded streams for every policy (common random numbers), so policies differ only in what they serve.
Bar (issue 15): recdo's regret over all days <= 50% of uniform's, and over the last 10 days below greedy_naive's.

    python bench/loop.py --days 30 [--per-day 5000] [--seed 0] [--bootstrap 50] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from causal.config import CausalConfig  # noqa: E402
from causal.decide import loop  # noqa: E402
from causal.decide.posterior import ALL  # noqa: E402
from causal.decide.replicates import replicate_frame, replicate_sets  # noqa: E402
from causal.decide.run import decide_sets, segment_sets  # noqa: E402
from causal.effects.estimate import bootstrap_chunk, prepare_effects  # noqa: E402
from causal.sim import simulator  # noqa: E402
from causal.sim.model import ACTIVITY, STRATEGIES, allocation_array, logging_policy  # noqa: E402
from causal.sim.segments import segment_truth  # noqa: E402

POLICIES = ("recdo", "uniform", "greedy_naive", "epsilon_greedy")
SEGMENT, TREATMENT, OUTCOME, BASELINE = "user_activity", "strategy", "click", "random"
LAST = 10  # the "last 10 days"
DROP = ("item_title", "item_genres", "item_text", "item_propensity")  # not network nodes; text costs memory


@dataclasses.dataclass(frozen=True)
class Day:
    """One simulated day's world: the sampled users with their exact probabilities, and the config they came from."""

    world: simulator.World
    config: simulator.SimulatorConfig


def serve(day: Day, allocation: loop.Alloc | None, number: int, seed: int) -> pd.DataFrame:
    """Day `number`'s log served by `allocation` (None: the logging policy), from the day's own seeded streams.

    simulate() rebuilds the world (catalogue, pools, click tables: seconds) on every call; the world depends only
    on the seed and the users, so the day's impressions are drawn from the one world with the policy swapped in.
    """
    world, config = day.world, day.config
    if allocation is not None:
        world = dataclasses.replace(world, policy=allocation_array(allocation)[world.act])
        config = dataclasses.replace(config, allocation=allocation)
    m = config.impressions
    streams = np.random.SeedSequence([seed, number]).spawn(7)
    rngs = [np.random.default_rng(s) for s in streams]
    seconds = (number - 1) * 86_400 + np.sort(rngs[6].integers(0, 86_400, size=m))
    # simulator's own batch drawer: a public one that takes a built world would be the cleaner entry point
    batch = simulator.draw_batch(world, config, (number - 1) * m, m, rngs[:6], seconds)
    return batch.log.drop(columns=[c for c in DROP if c in batch.log.columns])


def recdo_next(logs: list[pd.DataFrame], seed: int, bootstrap: int, floor: float) -> tuple[loop.Alloc, str]:
    """recdo's allocation from the pooled logs: the engine's replicates, decided per segment, Thompson with a floor."""
    pooled = pd.concat(logs, ignore_index=True)
    config = CausalConfig(
        treatment=TREATMENT,
        outcome=OUTCOME,
        baseline=BASELINE,
        n_bootstrap=bootstrap,
        seed=seed,
        progress=False,
        refute=False,
        segment=SEGMENT,
    )
    prepared = prepare_effects(pooled, config)
    chunks = [bootstrap_chunk(prepared, c) for c in range(config.n_chunks)]
    sets = replicate_sets(replicate_frame(prepared, chunks))
    decisions = decide_sets(sets, config.ci_level)
    picks = {d.segment_value: d.recommended.value if d.recommended else "-" for d in decisions}
    if not segment_sets(sets, TREATMENT, OUTCOME):
        note = f"no {SEGMENT} CATE (population only)"
    else:
        note = ", ".join(f"{a}:{picks.get(a, '-')}" for a in ACTIVITY)
    population = picks.get(ALL, "-")
    return loop.thompson_allocation(decisions, floor, ACTIVITY), f"{note} (all: {population})"


def run(
    days: int, per_day: int, seed: int, bootstrap: int, floor: float, epsilon: float, data: Path, users: int = 610
) -> dict:
    started = time.perf_counter()
    config = simulator.SimulatorConfig(users=users, impressions=per_day, seed=seed, days=1)
    world = simulator.sampled_world(config, data)
    day = Day(world, config)
    truth = segment_truth(world, config)
    mu = {a: {s: truth.value(a, s) for s in STRATEGIES} for a in ACTIVITY}
    share = {a: float(w) for a, w in zip(ACTIVITY, truth.share)}
    logging = {
        a: dict(zip(STRATEGIES, map(float, row))) for a, row in zip(ACTIVITY, logging_policy(config.confounding))
    }
    first = serve(day, None, 1, seed)
    logs = {p: [first] for p in POLICIES}
    counts = {p: [loop.count_arms(first, SEGMENT, TREATMENT, OUTCOME)] for p in POLICIES}
    served = {p: logging for p in POLICIES}
    daily: dict[str, list[float]] = {p: [] for p in POLICIES}
    notes = []
    for number in range(1, days + 1):
        if number > 1:
            for p in POLICIES:
                log = serve(day, served[p], number, seed)
                logs[p].append(log)
                counts[p].append(loop.count_arms(log, SEGMENT, TREATMENT, OUTCOME))
        for p in POLICIES:
            daily[p].append(loop.regret(served[p], mu, share))
        if number == days:
            break
        pooled = {p: loop.pool_counts(counts[p]) for p in POLICIES}
        served["recdo"], note = recdo_next(logs["recdo"], seed + number, bootstrap, floor)
        served["uniform"] = loop.uniform_over(ACTIVITY, STRATEGIES)
        served["greedy_naive"] = loop.greedy_naive(pooled["greedy_naive"], ACTIVITY, STRATEGIES)
        served["epsilon_greedy"] = loop.epsilon_greedy(pooled["epsilon_greedy"], ACTIVITY, STRATEGIES, epsilon)
        greedy = max(served["greedy_naive"][ACTIVITY[0]].items(), key=lambda kv: kv[1])[0]
        notes.append(f"day {number + 1}: recdo picks {note}; greedy_naive serves {greedy}")
        print(
            f"day {number:>2} done, {time.perf_counter() - started:5.0f} s: regret "
            + ", ".join(f"{p} {daily[p][-1]:.4f}" for p in POLICIES)
            + f"; next: {notes[-1]}",
            file=sys.stderr,
            flush=True,
        )
    summaries = {p: loop.summarise(daily[p], LAST) for p in POLICIES}
    return {
        "regret": {p: s.overall for p, s in summaries.items()},
        "final_regret": {p: s.final for p, s in summaries.items()},
        "per_day": {p: list(s.per_day) for p, s in summaries.items()},
        "bar": {
            "recdo_vs_uniform_all_days": summaries["recdo"].overall / summaries["uniform"].overall,
            "recdo_below_greedy_last_days": summaries["recdo"].final < summaries["greedy_naive"].final,
            "met": summaries["recdo"].overall <= 0.5 * summaries["uniform"].overall
            and summaries["recdo"].final < summaries["greedy_naive"].final,
        },
        "oracle": truth.best(),
        "truth": mu,
        "share": share,
        "final_allocation": served,
        "notes": notes,
        "settings": {
            "days": days,
            "per_day": per_day,
            "seed": seed,
            "users": users,
            "bootstrap": bootstrap,
            "floor": floor,
            "epsilon": epsilon,
            "last": LAST,
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=5_000, help="impressions served each day by each policy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=50, help="recdo's bootstrap replicates each day")
    parser.add_argument("--floor", type=float, default=0.05, help="recdo's exploration floor")
    parser.add_argument("--epsilon", type=float, default=0.1, help="epsilon_greedy's uniform share")
    parser.add_argument("--users", type=int, default=610, help="real MovieLens users sampled (610: all)")
    parser.add_argument("--data", type=Path, default=simulator.DEFAULT_DATA, help="MovieLens folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.days < 1 or args.per_day < 1:
        parser.error(f"--days and --per-day must be >= 1; got {args.days} and {args.per_day}")
    result = run(args.days, args.per_day, args.seed, args.bootstrap, args.floor, args.epsilon, args.data, args.users)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    bar = result["bar"]
    print(
        f"{args.days} days x {args.per_day:,} impressions, seed {args.seed}, B={args.bootstrap}, floor {args.floor}, "
        f"{result['seconds']:.0f} s; oracle {result['oracle']}"
    )
    print(f"{'policy':<16} {'regret (all days)':>18} {f'regret (last {LAST})':>18}")
    for p in POLICIES:
        print(f"{p:<16} {result['regret'][p]:>18.5f} {result['final_regret'][p]:>18.5f}")
    print(
        f"bar: recdo/uniform over all days {bar['recdo_vs_uniform_all_days']:.2f} (<= 0.50), recdo below greedy_naive "
        f"over the last {LAST} days: {bar['recdo_below_greedy_last_days']} -> {'met' if bar['met'] else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
