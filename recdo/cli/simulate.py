"""`recdo simulate`: write a simulated log with its exact interventional truth."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from causal.sim.model import STRATEGIES
from causal.sim.simulator import DEFAULT_DATA, SimulatorConfig, simulate, write


def main(argv: Sequence[str] | None = None) -> int:
    """`recdo simulate --out DIR [--users N] [--impressions M] [--seed S] [--data MOVIELENS_DIR]`."""
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
