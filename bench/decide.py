"""Does `recdo decide` recommend the truth's best strategy? The causal engine and the posterior on simulator logs.

For each seed: simulate a confounded log, run the causal engine (prepare → bootstrap chunks) on it, keep the
replicates as a run stores them, and decide per pair and segment. Reports in how many seeds the recommended
strategy for click is the truth's best (Simulation.truth_value), that P(best) sums to 1 in every (pair, segment)
and that the recommended value has the smallest expected loss. Bar: the truth's best in >= 9 of 10 seeds.

    python bench/decide.py [--seeds 10] [--impressions 50000] [--bootstrap 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from causal.config import CausalConfig  # noqa: E402
from causal.decide.posterior import ALL  # noqa: E402
from causal.decide.replicates import replicate_frame, replicate_sets  # noqa: E402
from causal.decide.run import decide_sets  # noqa: E402
from causal.effects.estimate import bootstrap_chunk, prepare_effects  # noqa: E402
from causal.sim.simulator import SimulatorConfig, simulate  # noqa: E402


def one_seed(seed: int, impressions: int, bootstrap: int) -> dict:
    sim = simulate(SimulatorConfig(impressions=impressions, seed=seed))
    config = CausalConfig(
        treatment="strategy",
        outcome="click",
        baseline="random",
        n_bootstrap=bootstrap,
        seed=seed,
        progress=False,
        refute=False,
    )
    prepared = prepare_effects(sim.log, config)
    chunks = [bootstrap_chunk(prepared, c) for c in range(config.n_chunks)]
    decisions = decide_sets(replicate_sets(replicate_frame(prepared, chunks)), config.ci_level)
    truth = {v: sim.truth_value("strategy", v, "click") for v in prepared.values}
    best = max(truth, key=truth.get)
    population = next(d for d in decisions if d.segment == ALL)
    pick = population.recommended
    sums = [sum(v.p_best for v in d.values) for d in decisions if d.values]
    smallest = all(d.recommended.expected_loss == min(v.expected_loss for v in d.values) for d in decisions if d.values)
    return {
        "seed": seed,
        "truth_best": best,
        "truth_gap": truth[best] - sorted(truth.values())[-2],  # how close the runner-up is: the hard seeds
        "recommended": pick.value if pick else None,
        "p_best": pick.p_best if pick else None,
        "expected_loss": pick.expected_loss if pick else None,
        "regret": truth[best] - truth[pick.value] if pick else None,
        "correct": bool(pick and pick.value == best),
        "p_best_sums_to_1": bool(sums) and all(abs(s - 1) < 1e-9 for s in sums),
        "recommended_smallest_loss": smallest,
        "decisions": len(decisions),
        "no_decision": sum(1 for d in decisions if not d.values),
        "sentence": population.sentence(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--impressions", type=int, default=50_000)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        rows.append(one_seed(seed, args.impressions, args.bootstrap))
        r = rows[-1]
        print(
            f"seed {seed}: truth best {r['truth_best']} (gap {r['truth_gap']:.4f}), recommended {r['recommended']} "
            f"P(best)={r['p_best']:.2f}, {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    summary = {
        "seeds": args.seeds,
        "impressions": args.impressions,
        "bootstrap": args.bootstrap,
        "correct": sum(r["correct"] for r in rows),
        "p_best_sums_to_1": all(r["p_best_sums_to_1"] for r in rows),
        "recommended_smallest_loss": all(r["recommended_smallest_loss"] for r in rows),
        "mean_regret": float(np.mean([r["regret"] for r in rows if r["regret"] is not None])),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{args.seeds} seeds x {args.impressions:,} impressions, B={args.bootstrap}, {summary['seconds']:.0f} s: "
        f"recommended = truth's best in {summary['correct']}/{args.seeds}; P(best) sums to 1: "
        f"{summary['p_best_sums_to_1']}; recommended has the smallest loss: {summary['recommended_smallest_loss']}; "
        f"mean regret {summary['mean_regret']:.5f}"
    )
    print(
        f"{'seed':>4} {'truth best':>14} {'gap':>7} {'recommended':>14} {'P(best)':>8} {'exp. loss':>10} {'regret':>8}"
    )
    for r in rows:
        print(
            f"{r['seed']:>4} {r['truth_best']:>14} {r['truth_gap']:>7.4f} {str(r['recommended']):>14} "
            f"{r['p_best']:>8.2f} {r['expected_loss']:>10.5f} {r['regret']:>8.5f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
