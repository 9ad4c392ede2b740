"""Always-valid monitoring against naive peeking: A/A false positives and power over simulated A/B experiments.

Each simulated experiment serves `--per-look` rows per arm between looks, `--looks` times, with 0/1 clicks.
A/A (both arms at `--rate`): the share of experiments where the always-valid CS ever excludes 0, against the
share where the fixed-horizon 95% interval checked at every look ever does (naive peeking). A/B (treatment at
`--rate + --effect`): the power of the always-valid CS (excludes 0 at some look up to the last) and of the fixed
test done once at the last look. All simulations are one numpy array per arm (sims x looks), so 1000 x 30 take
well under a second; the CS is `causal.effects.sequential.sequence_bounds`, tuned for the last look.

    python bench/sequential.py [--sims 1000] [--looks 30] [--per-look 500] [--rate 0.1] [--effect 0.01] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from causal.effects.sequential import sequence_bounds  # noqa: E402


@dataclass(frozen=True)
class Monitoring:
    """How often each way of reading the looks rejects "no difference" over the simulated experiments."""

    ever_always_valid: float  # the CS excludes 0 at some look
    ever_naive: float  # the fixed interval excludes 0 at some look (peeking)
    last_fixed: float  # the fixed interval excludes 0 at the last look (one planned test)
    seconds: float


def simulate(
    sims: int, looks: int, per_look: int, rate_t: float, rate_c: float, alpha: float = 0.05, seed: int = 0
) -> Monitoring:
    """Rejection shares of `sims` seeded experiments with click rates rate_t and rate_c, `per_look` rows per arm."""
    for name, v in (("sims", sims), ("looks", looks), ("per_look", per_look)):
        if v < 1:
            raise ValueError(f"{name} must be at least 1; got {v}")
    for name, p in (("rate_t", rate_t), ("rate_c", rate_c)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must be a click rate in [0, 1]; got {p}")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    hits_t = rng.binomial(per_look, rate_t, size=(sims, looks)).cumsum(axis=1)  # (sims, looks), cumulative
    hits_c = rng.binomial(per_look, rate_c, size=(sims, looks)).cumsum(axis=1)
    n = np.broadcast_to(per_look * np.arange(1, looks + 1, dtype=float), (sims, looks))
    # 0/1 outcomes: the sum of squares is the hits.
    b = sequence_bounds(n, hits_t, hits_t, n, hits_c, hits_c, alpha=alpha, horizon=(per_look * looks,) * 2)
    always, naive = b.rejects()
    return Monitoring(
        ever_always_valid=float(always.any(axis=1).mean()),
        ever_naive=float(naive.any(axis=1).mean()),
        last_fixed=float(naive[:, -1].mean()),
        seconds=time.perf_counter() - started,
    )


def run(
    sims: int, looks: int, per_look: int, rate: float, effect: float, alpha: float = 0.05, seed: int = 0
) -> tuple[dict, Monitoring, Monitoring]:
    """The bench's JSON (A/A false positives, power) and both simulations' figures."""
    aa = simulate(sims, looks, per_look, rate, rate, alpha, seed)
    ab = simulate(sims, looks, per_look, rate + effect, rate, alpha, seed + 1)
    result = {
        "aa_false_positive": {"always_valid": aa.ever_always_valid, "naive": aa.ever_naive},
        "power": {"always_valid": ab.ever_always_valid, "fixed": ab.last_fixed},
    }
    return result, aa, ab


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--looks", type=int, default=30)
    parser.add_argument("--per-look", type=int, default=500, help="rows per arm added between looks")
    parser.add_argument("--rate", type=float, default=0.1, help="control click rate (both arms in A/A)")
    parser.add_argument("--effect", type=float, default=0.01, help="treatment minus control click rate in A/B")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args(argv)
    try:
        result, aa, ab = run(args.sims, args.looks, args.per_look, args.rate, args.effect, args.alpha, args.seed)
    except ValueError as e:
        parser.error(str(e))
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.sims} experiments x {args.looks} looks x {args.per_look} rows per arm per look, alpha {args.alpha}, "
        f"seed {args.seed}"
    )
    print(f"{'':40} {'always-valid CS':>16} {'naive peeking':>14} {'fixed, last look':>17} {'seconds':>8}")
    print(
        f"{f'A/A false positives (both {args.rate:g})':40} {aa.ever_always_valid:16.3f} {aa.ever_naive:14.3f} "
        f"{aa.last_fixed:17.3f} {aa.seconds:8.3f}"
    )
    print(
        f"{f'power ({args.rate + args.effect:g} vs {args.rate:g})':40} {ab.ever_always_valid:16.3f} "
        f"{ab.ever_naive:14.3f} {ab.last_fixed:17.3f} {ab.seconds:8.3f}"
    )
    met = aa.ever_always_valid <= args.alpha and aa.ever_naive >= 0.15
    print(
        f"bar (always-valid A/A <= {args.alpha:g} where naive >= 0.15): {'met' if met else 'NOT met'} "
        f"({aa.ever_always_valid:.3f} vs {aa.ever_naive:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
