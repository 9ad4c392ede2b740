"""`recdo simulate`: write a simulated log with its exact interventional truth."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from causal.sim.model import STRATEGIES
from causal.sim.simulator import DEFAULT_DATA, SimulatorConfig, simulate_to


def main(argv: Sequence[str] | None = None) -> int:
    """`recdo simulate --out DIR [--users N] [--impressions M] [--seed S] [--taste-following X] [--data DIR]`."""
    parser = argparse.ArgumentParser(
        prog="recdo simulate",
        description="Simulate a confounded recommender log on MovieLens with exact interventional truth.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=SimulatorConfig.users, help="real users to sample (<= 610)")
    parser.add_argument(
        "--impressions", type=int, default=SimulatorConfig.impressions, help="rows of the log (one per impression)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the simulation")
    parser.add_argument(
        "--taste-following",
        type=float,
        default=SimulatorConfig.taste_following,
        help="weight in [0, 1] of the user's taste in the logging policy (taste then confounds strategy -> click, "
        "and the log gains item_propensity); 0 keeps the activity-only log",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        default=argparse.SUPPRESS,  # required: no "(default: None)" in --help
        help="folder for log.parquet, truth.json and user_history.parquet (the sampled users' ratings as text)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens folder (ratings.csv, movies.csv)")
    args = parser.parse_args(argv)
    try:
        config = SimulatorConfig(
            users=args.users, impressions=args.impressions, seed=args.seed, taste_following=args.taste_following
        )
        started = time.perf_counter()
        # written a batch of impressions at a time: memory stays one batch's however long the log
        out = simulate_to(config, args.out, args.data)
        history_path = write_user_history(out.log_path, args.data)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"recdo simulate: error: {err}\n")
    elapsed = time.perf_counter() - started
    where = f"{out.log_path}, {out.truth_path}, {history_path}"
    print(f"{out.impressions} impressions from {config.users} users in {elapsed:.1f} s -> {where}")
    print(f"{'strategy':<14}{'naive click':>12}{'do() truth':>12}")
    for name in STRATEGIES:
        print(f"{name:<14}{out.naive_click[name]:>12.4f}{out.truth_value('strategy', name):>12.4f}")
    return 0


def write_user_history(log_path: Path, data_dir: Path) -> Path:
    """Write the log's users' MovieLens ratings as text beside the log; `recdo run` reads it as user_history.

    Every row predates the simulated log (ratings end in 2018, the log starts 2024-03-01), so each user's whole
    history is pre-treatment; `recdo run` still keeps only rows before the log's first impression.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from causal.sim.history import user_history
    from common.files import atomic_path
    from flows.params import USER_HISTORY_FILE

    users = pc.unique(pq.read_table(log_path, columns=["user_id"])["user_id"]).to_pylist()
    frame = user_history(data_dir, sorted(users, key=int))  # MovieLens userIds, as the log's strings
    out = Path(log_path).with_name(USER_HISTORY_FILE)
    with atomic_path(out) as tmp:
        frame.to_parquet(tmp, index=False)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
