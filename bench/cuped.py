"""CUPED and CUPAC against the plain A/B difference on per-user clicks of a user-randomised simulated experiment.

Per seed s, on the simulator's 610 real MovieLens users (all of them, so every period has the same users):

  history      seed s + 20,000: a period under the usual confounded logging policy, only to train CUPAC's model
  pre-period   seed s + 10,000: the period before the experiment, same logging policy; CUPED's covariate is each
               user's clicks in it, CUPAC's is a model's prediction of the user's clicks made from it
  experiment   seed s: each user is assigned one strategy once (complete randomisation, equal arms), and every
               impression of that user is served it. The simulator draws users, slots, reasons and click
               uniforms from separate streams, so `force_strategy` on the same seed gives every arm the same
               impressions; keeping each user's impressions from their own arm's simulation is exactly the log a
               user-randomised experiment would have produced, and nothing else about the log changes.

The truth: given the users' impression counts n_u (the same in every arm), a user's expected clicks under
strategy v are n_u pbar_u(v), where pbar_u(v) is the simulator's exact click probability with item, slot and
reason integrated out. The difference in per-user means targets (1/N) sum_u n_u (pbar_u(v) - pbar_u(random))
= (M/N) (E[C | do(v)] - E[C | do(random)]) with the exact truth over the experiment's M impressions.
CUPAC's model (gradient boosting over per-user click counts and rates, per-strategy rates, activity and taste)
learns history -> pre-period clicks per impression and predicts from the pre-period's features, so it never sees
the experiment.

    python bench/cuped.py [--seeds 5] [--impressions 50000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from causal.effects.cuped import cuped, per_user_outcomes, pre_period_covariate  # noqa: E402
from causal.sim.model import STRATEGIES  # noqa: E402
from causal.sim.simulator import DEFAULT_DATA, SimulatorConfig, simulate  # noqa: E402
from common.values import jsonable  # noqa: E402

BASELINE = "random"
PRE_OFFSET, HISTORY_OFFSET = 10_000, 20_000  # seeds of the pre-period and the history period, apart from any s
METHODS = ("plain", "cuped", "cupac")
BAR_WIDTH_RATIO = 0.90  # the bar: intervals at least 10% narrower than plain A/B
BAR_COVERAGE = 0.90  # share of intervals that must cover the truth (bench/causal_truth.py's 18 of 20)


def assign_users(users: pd.Index, arms: tuple[str, ...], seed: int) -> pd.Series:
    """Each user's arm, drawn once: a seeded permutation dealt round the arms, so arm sizes differ by at most 1."""
    order = np.random.default_rng([seed, 7]).permutation(len(users))
    arm = np.empty(len(users), dtype=object)
    for k, name in enumerate(arms):
        arm[order[k :: len(arms)]] = name
    return pd.Series(arm, index=users, name="strategy")


def experiment(seed: int, impressions: int, data: Path, users: pd.Index) -> tuple[pd.DataFrame, dict[str, float]]:
    """The user-randomised experiment's log and the truth of each strategy's effect on per-user clicks vs random."""
    assignment = assign_users(users, STRATEGIES, seed)
    parts, means = [], {}
    for name in STRATEGIES:
        sim = simulate(SimulatorConfig(impressions=impressions, seed=seed, force_strategy=name), data)
        parts.append(sim.log[sim.log["user_id"].map(assignment) == name])
        means[name] = sim.truth_value("strategy", name)
    log = pd.concat(parts, ignore_index=True)
    per_user = impressions / len(users)  # (M/N): mean impressions per user, the rate -> per-user-sum factor
    truth = {name: per_user * (means[name] - means[BASELINE]) for name in STRATEGIES if name != BASELINE}
    return log, truth


def user_features(log: pd.DataFrame, users: pd.Index, attributes: pd.DataFrame) -> pd.DataFrame:
    """Per-user features of one period: clicks, impressions, click rate, per-strategy click rates, activity, taste."""
    clicks = pre_period_covariate(log, users, "click", per="user")
    rate = pre_period_covariate(log, users, "click", per="impression")
    shown = log.groupby("user_id").size().reindex(users, fill_value=0)
    by_strategy = log.pivot_table(index="user_id", columns="strategy", values="click", aggfunc="mean")
    by_strategy = by_strategy.reindex(index=users, columns=list(STRATEGIES))
    # a user never shown a strategy in the period gets that strategy's rate over everyone
    by_strategy = by_strategy.fillna(log.groupby("strategy")["click"].mean()).fillna(float(log["click"].mean()))
    features = pd.DataFrame({"clicks": clicks, "impressions": shown.astype(float), "rate": rate}, index=users)
    features = features.join(by_strategy.add_prefix("rate_"))
    return features.join(pd.get_dummies(attributes, dtype=float))


def cupac_prediction(history: pd.DataFrame, pre: pd.DataFrame, users: pd.Index, seed: int) -> pd.Series:
    """Each user's predicted clicks per impression: a model fit on history -> pre-period, applied to the pre-period."""
    from sklearn.ensemble import GradientBoostingRegressor

    attributes = pd.concat([history, pre]).groupby("user_id")[["user_activity", "user_taste"]].first()
    attributes = attributes.reindex(users).fillna("unknown")
    x_train = user_features(history, users, attributes)
    y_train = pre_period_covariate(pre, users, "click", per="impression")
    model = GradientBoostingRegressor(
        n_estimators=300, max_depth=2, learning_rate=0.03, subsample=0.8, random_state=seed
    )
    model.fit(x_train.to_numpy(), y_train.to_numpy())
    return pd.Series(model.predict(user_features(pre, users, attributes).to_numpy()), index=users, name="cupac")


def run_seed(seed: int, impressions: int, data: Path) -> list[dict]:
    """One record per (method, strategy) of one seed: the interval on per-user clicks, its truth and reduction."""
    pre = simulate(SimulatorConfig(impressions=impressions, seed=seed + PRE_OFFSET), data).log
    history = simulate(SimulatorConfig(impressions=impressions, seed=seed + HISTORY_OFFSET), data).log
    users = pd.Index(sorted(pre["user_id"].unique()), name="user_id")
    # all 610 users appear in a 50,000-impression period; a user missing from one (tiny logs) still counts
    users = pd.Index(sorted(set(users) | set(history["user_id"])), name="user_id")
    log, truth = experiment(seed, impressions, data, users)
    users = pd.Index(sorted(set(users) | set(log["user_id"])), name="user_id")
    frame = per_user_outcomes(log, "click", "strategy", users=users)
    # a user the experiment never showed anything still belongs to their arm, with 0 clicks
    frame["strategy"] = frame["strategy"].fillna(assign_users(users, STRATEGIES, seed))
    frame[["click", "impressions"]] = frame[["click", "impressions"]].fillna(0)
    frame["cuped"] = pre_period_covariate(pre, users, "click", per="user")
    frame["cupac"] = cupac_prediction(history, pre, users, seed)
    records = []
    for method in ("cuped", "cupac"):
        for r in cuped(frame, "click", "strategy", method, BASELINE):
            truth_v = truth[r.value]
            rows = [("plain", r.plain_estimate, r.plain_low, r.plain_high, 0.0, 0.0)] if method == "cuped" else []
            rows.append((method, r.estimate, r.ci_low, r.ci_high, r.theta, r.variance_reduction))
            for name, est, lo, hi, theta, reduction in rows:
                records.append(
                    {
                        "seed": seed,
                        "method": name,
                        "value": r.value,
                        "truth": truth_v,
                        "estimate": est,
                        "ci_low": lo,
                        "ci_high": hi,
                        "width": hi - lo,
                        "width_vs_plain": (hi - lo) / (r.plain_high - r.plain_low),
                        "variance_reduction": reduction,
                        "theta": theta,
                        "covered": bool(lo <= truth_v <= hi),
                        "n_users": r.n_users,
                    }
                )
    return sorted(records, key=lambda r: (STRATEGIES.index(r["value"]), METHODS.index(r["method"])))


def summarise(records: list[dict]) -> dict[str, dict]:
    """Per method: mean width, mean and worst width over plain's, mean variance reduction, coverage of the truth."""
    out = {}
    for method in METHODS:
        rs = [r for r in records if r["method"] == method]
        ratios = [r["width_vs_plain"] for r in rs]
        covered = sum(r["covered"] for r in rs)
        out[method] = {
            "intervals": len(rs),
            "mean_width": float(np.mean([r["width"] for r in rs])),
            "mean_width_vs_plain": float(np.mean(ratios)),
            "max_width_vs_plain": float(np.max(ratios)),
            "mean_variance_reduction": float(np.mean([r["variance_reduction"] for r in rs])),
            "covered": covered,
            "coverage": covered / len(rs),
            "meets_bar": method == "plain"
            or (float(np.mean(ratios)) <= BAR_WIDTH_RATIO and covered / len(rs) >= BAR_COVERAGE),
        }
    return out


def run(seeds: int, impressions: int, data: Path) -> dict:
    """Every seed's records, the per-method summary and the seconds it took."""
    started = time.perf_counter()
    records = []
    for seed in range(seeds):
        t0 = time.perf_counter()
        records += run_seed(seed, impressions, data)
        print(f"seed {seed}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    summary = summarise(records)
    return {
        "config": {"seeds": seeds, "impressions": impressions, "baseline": BASELINE, "outcome": "clicks per user"},
        "summary": summary,
        "meets_bar": all(summary[m]["meets_bar"] for m in ("cuped", "cupac")),
        "records": records,
        "seconds": time.perf_counter() - started,
    }


def render(result: dict) -> str:
    """The per-seed widths beside plain, then the per-method summary against the bar."""
    config = result["config"]
    lines = [
        f"{config['seeds']} seeds x {config['impressions']:,} impressions, user-randomised, per-user clicks "
        f"vs {BASELINE}, {result['seconds']:.0f} s",
        f"bar: CUPED/CUPAC mean width <= {BAR_WIDTH_RATIO:.0%} of plain, >= {BAR_COVERAGE:.0%} of intervals cover",
    ]
    header = (
        f"{'seed':>4}  {'strategy':<14}{'truth':>8}"
        + "".join(f"{m + ' est':>11}{m + ' width':>13}" for m in METHODS)
        + f"{'var red cuped':>15}{'var red cupac':>15}"
    )
    lines += [header, "-" * len(header)]
    by_key = {(r["seed"], r["value"], r["method"]): r for r in result["records"]}
    for seed, value in dict.fromkeys((r["seed"], r["value"]) for r in result["records"]):
        cells = [by_key[(seed, value, m)] for m in METHODS]
        line = f"{seed:>4}  {value:<14}{cells[0]['truth']:>8.2f}"
        for c in cells:
            mark = "" if c["covered"] else "!"
            line += f"{c['estimate']:>11.2f}{c['width']:>12.2f}{mark:1}"
        line += f"{cells[1]['variance_reduction']:>15.1%}{cells[2]['variance_reduction']:>15.1%}"
        lines.append(line)
    lines.append("(! : the interval misses the truth)")
    lines.append("")
    lines.append(f"{'method':<8}{'mean width':>12}{'vs plain':>10}{'worst':>8}{'var red':>9}{'covers':>9}  bar")
    for method, s in result["summary"].items():
        lines.append(
            f"{method:<8}{s['mean_width']:>12.2f}{s['mean_width_vs_plain']:>10.1%}{s['max_width_vs_plain']:>8.1%}"
            f"{s['mean_variance_reduction']:>9.1%}{s['covered']:>6}/{s['intervals']:<2}  "
            f"{'-' if method == 'plain' else 'yes' if s['meets_bar'] else 'NO'}"
        )
    lines.append(f"bar met: {'yes' if result['meets_bar'] else 'no'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--impressions", type=int, default=50_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true", help="print the summary and every record as JSON")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.impressions < 1:
        parser.error(f"--seeds and --impressions must be >= 1; got {args.seeds} and {args.impressions}")
    result = run(args.seeds, args.impressions, args.data)
    print(json.dumps(jsonable(result), indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
