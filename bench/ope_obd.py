"""The Open Bandit benchmark without obp: Bernoulli-TS's click rate estimated from the Random log, scored on its own.

    python bench/ope_obd.py --data data/obd-sample --campaign all [--runs 30] [--json]

Protocol of obp's examples/obd/evaluate_off_policy_estimators.py (obp 0.5, run there with
--base_model logistic_regression --evaluation_policy bts --behavior_policy random --n_runs 30):

- evaluation policy: Bernoulli-TS with the production prior of the campaign (the prior file),
  its action distribution by Monte Carlo (`causal.policy.policies.bts_action_dist`, RandomState(12345),
  1,000,000 draws: the example's default `--n_sim_to_compute_action_dist`);
- ground truth: the mean click of the Bernoulli-TS log (on-policy);
- run b = 0..runs-1: the Random log (rows in timestamp order, as obp sorts them) resampled with
  `RandomState(b).choice(n, n, replace=True)`; the reward model is obp's `RegressionModel` with
  logistic regression (C=100, max_iter=10000, random_state=12345), one model per slot, features
  = one-hot user features (drop_first) + label-encoded item features, 3-fold cross-fitting;
  Switch-DR and DRos tuned by SLOPE over (10, 50, 100, 500, 1000, 5000, 10000, inf);
- relative error |estimate - truth| / truth per run; mean and std (ddof=1) over the runs.

bn_policy is recdo's Bayesian-network answer on the same resample (structure learned and CPDs fitted
on it), with the default CausalConfig.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import causal  # noqa: F401
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from causal.config import CausalConfig
from causal.policy.estimators import OPE_METHODS, point_estimates
from causal.policy.logged import OPEError, bandit_log
from causal.policy.network_value import policy_network
from causal.policy.policies import bts_action_dist, load_bts_prior
from causal.policy.reward import LogisticRewardModel
from sources import load_obd
from sources.base import SourceError

# obp README (examples/obd), small sample, campaign all, logistic regression, 30 runs: mean (std).
PUBLISHED = {
    "dm": (0.156876, 0.109898),
    "ipw": (0.311082, 0.311170),
    "snipw": (0.311795, 0.334736),
    "dr": (0.292464, 0.315485),
    "sndr": (0.302407, 0.328434),
    "switch_dr": (0.258410, 0.160598),
    "dr_os": (0.159520, 0.109660),
}


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except (SourceError, OPEError, ValueError, FileNotFoundError) as exc:
        print(f"ope_obd: {exc}", file=sys.stderr)
        return 2


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="directory in the OBD layout (random/, bts/)")
    parser.add_argument("--campaign", default="all", choices=["all", "men", "women"])
    parser.add_argument("--runs", type=int, default=30, help="bootstrap runs (obp's --n_runs)")
    parser.add_argument("--prior", type=Path, default=None, help="Bernoulli-TS prior YAML (default DIR/bts_prior.yaml)")
    parser.add_argument("--n-sim", type=int, default=1_000_000, help="Monte Carlo draws for the BTS distribution")
    parser.add_argument("--seed", type=int, default=12345, help="obp's random_state (policy and cross-fitting)")
    parser.add_argument("--no-bn", action="store_true", help="skip the Bayesian-network answer")
    parser.add_argument("--json", action="store_true", help='print {estimator: {"mean": x, "std": y}} only')
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2 (a standard deviation needs two runs)")
    prior = args.prior if args.prior is not None else args.data / "bts_prior.yaml"
    start = time.perf_counter()

    frame = load_obd(args.data, policies=("random", "bts"), campaign=args.campaign).frame
    truth = float(frame.loc[frame["policy"] == "bts", "click"].mean())
    random_rows = frame[frame["policy"] == "random"]
    # obp sorts the raw log by its timestamp strings (pandas' default quicksort); so do we.
    order = np.argsort(random_rows["ts"].astype(str).to_numpy(dtype=object), kind="quicksort")
    random_rows = random_rows.iloc[order].reset_index(drop=True)
    alpha, _ = load_bts_prior(prior, args.campaign)
    log = bandit_log(random_rows, n_actions=len(alpha))
    action_dist = bts_action_dist(prior, args.campaign, log.n_actions, log.len_list, n_sim=args.n_sim, seed=args.seed)
    reward_model = LogisticRewardModel(C=100.0, max_iter=10_000)
    bn_config = CausalConfig(treatment="item_id", progress=False)

    errors: dict[str, list[float]] = {m: [] for m in (*OPE_METHODS, *(() if args.no_bn else ("bn_policy",)))}
    for b in range(args.runs):
        idx = np.random.RandomState(b).choice(np.arange(log.n_rounds), size=log.n_rounds, replace=True)
        boot = log.take(idx)
        q = reward_model.fit_predict(boot, n_folds=3, seed=args.seed)
        found = point_estimates(boot, action_dist, q, OPE_METHODS)
        if not args.no_bn:
            net = policy_network(random_rows.iloc[idx].reset_index(drop=True), bn_config, items=log.items)
            found["bn_policy"] = net.value(action_dist)[0]
        for method, value in found.items():
            errors[method].append(abs(value - truth) / truth)
        if not args.json:
            print(f"run {b + 1}/{args.runs} done ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    summary = {m: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))} for m, v in errors.items()}
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0

    rows = []
    for method, s in summary.items():
        pub = PUBLISHED.get(method) if args.campaign == "all" else None
        rows.append(
            {
                "estimator": method,
                "recdo mean": f"{s['mean']:.3f}",
                "recdo std": f"{s['std']:.3f}",
                "published mean": f"{pub[0]:.3f}" if pub else "—",
                "published std": f"{pub[1]:.3f}" if pub else "—",
                "recdo - published": f"{s['mean'] - pub[0]:+.3f}" if pub else "—",
            }
        )
    print(
        f"Open Bandit benchmark, campaign {args.campaign}: Bernoulli-TS evaluated from the Random log "
        f"({log.n_rounds:,} rows), truth = on-policy click rate {truth:.5f}; relative estimation error "
        f"|estimate - truth| / truth over {args.runs} bootstrap runs"
    )
    print(pd.DataFrame(rows).to_string(index=False))
    print(
        f"reward model: logistic regression (C=100), 3-fold cross-fitting; BTS distribution: {args.n_sim:,} draws; "
        f"{seconds:.0f} s"
    )
    if args.campaign == "all":
        print("published: obp examples/obd README (logistic_regression, 30 runs, small sample)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
