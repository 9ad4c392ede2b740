"""Does recdo's do() recover the simulator's exact truth? Coverage, bias and placebo over many seeds.

For each seed: simulate a confounded log on MovieLens (`recdo simulate`'s code, 50,000 impressions by
default), estimate every (treatment, outcome) pair with causal.estimate_effects, and compare each ATE
against the simulator's exact interventional truth (truth.json). Prints, per ATE:

  bn_do coverage   seeds whose bn_do 95% interval contains the truth      (target >= 18 of 20)
  naive misses     seeds whose naive interval misses the truth            (target >= 15 of 20)
  median |error|   bn_do vs naive, and their ratio                        (target < 1/3)
  placebo          seeds whose permuted-treatment interval contains 0     (target >= 18 of 20)

    python bench/causal_truth.py [--seeds 20] [--impressions 50000] [--bootstrap 200] [--json]
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
from causal.effects.estimate import estimate_effects  # noqa: E402
from causal.sim.simulator import DEFAULT_DATA, SimulatorConfig, simulate  # noqa: E402

PAIRS = (("strategy", "click"), ("strategy", "returned"), ("reason_shown", "click"), ("reason_shown", "returned"))
BASELINES = {"strategy": "random", "reason_shown": "0"}


def run(seeds: int, impressions: int, bootstrap: int, data: Path) -> list[dict]:
    """One record per (seed, treatment, outcome, value): truth, bn_do, naive, placebo."""
    records = []
    for seed in range(seeds):
        started = time.perf_counter()
        sim = simulate(SimulatorConfig(impressions=impressions, seed=seed), data)
        for treatment, outcome in PAIRS:
            config = CausalConfig(
                treatment=treatment,
                outcome=outcome,
                baseline=BASELINES[treatment],
                n_bootstrap=bootstrap,
                equivalent_sample_size=1.0,
                seed=seed,
                progress=False,
            )
            report = estimate_effects(sim.log, config)
            rows = {(e.method, e.treatment_value): e for e in report.estimates if e.estimand == "ate"}
            for (method, value), bn in rows.items():
                if method != "bn_do":
                    continue
                naive = rows[("naive", value)]
                placebo = bn.diagnostics["refutations"]["placebo"]
                records.append(
                    {
                        "seed": seed,
                        "treatment": treatment,
                        "outcome": outcome,
                        "value": value,
                        "truth": sim.truth_value(treatment, value, outcome, "ate"),
                        "bn_do": [bn.estimate, bn.ci_low, bn.ci_high],
                        "naive": [naive.estimate, naive.ci_low, naive.ci_high],
                        "placebo": [placebo["estimate"], placebo["ci_low"], placebo["ci_high"]],
                        "adjustment_set": list(bn.adjustment_set),
                        "refutations_passed": bn.diagnostics.get("refutations_passed"),
                    }
                )
        print(f"seed {seed}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return records


def summarise(records: list[dict], seeds: int) -> list[dict]:
    rows = []
    for key in dict.fromkeys((r["treatment"], r["outcome"], r["value"]) for r in records):
        rs = [r for r in records if (r["treatment"], r["outcome"], r["value"]) == key]
        covered = sum(r["bn_do"][1] <= r["truth"] <= r["bn_do"][2] for r in rs)
        naive_miss = sum(not (r["naive"][1] <= r["truth"] <= r["naive"][2]) for r in rs)
        placebo = sum(r["placebo"][1] <= 0 <= r["placebo"][2] for r in rs)
        err_bn = float(np.median([abs(r["bn_do"][0] - r["truth"]) for r in rs]))
        err_naive = float(np.median([abs(r["naive"][0] - r["truth"]) for r in rs]))
        rows.append(
            {
                "treatment": key[0],
                "outcome": key[1],
                "ate": f"{key[2]} - {BASELINES[key[0]]}",
                "seeds": len(rs),
                "bn_do_covers": covered,
                "naive_misses": naive_miss,
                "median_abs_err_bn_do": err_bn,
                "median_abs_err_naive": err_naive,
                "error_ratio": err_bn / err_naive if err_naive > 0 else float("nan"),
                "placebo_contains_0": placebo,
                "pass": covered >= 0.9 * seeds
                and naive_miss >= 0.75 * seeds
                and err_bn < err_naive / 3
                and placebo >= 0.9 * seeds,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--impressions", type=int, default=50_000)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true", help="print the summary rows and every record as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    records = run(args.seeds, args.impressions, args.bootstrap, args.data)
    rows = summarise(records, args.seeds)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({"summary": rows, "records": records, "seconds": elapsed}, indent=2))
        return 0
    print(render(rows, args.seeds, args.impressions, args.bootstrap, elapsed))
    return 0


def render(rows: list[dict], seeds: int, impressions: int, bootstrap: int, elapsed: float) -> str:
    lines = [
        f"{seeds} seeds x {impressions:,} impressions, B={bootstrap}, {elapsed:.0f} s",
        f"targets: bn_do covers >= {int(np.ceil(0.9 * seeds))}, naive misses >= {int(np.ceil(0.75 * seeds))}, "
        f"error ratio < 0.333, placebo contains 0 >= {int(np.ceil(0.9 * seeds))}",
    ]
    header = (
        f"{'treatment':<13}{'outcome':<10}{'ATE':<24}{'bn_do covers':>13}{'naive misses':>13}"
        f"{'|err| bn_do':>12}{'|err| naive':>12}{'ratio':>7}{'placebo∋0':>10}  ok"
    )
    lines += [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['treatment']:<13}{r['outcome']:<10}{r['ate']:<24}{r['bn_do_covers']:>10}/{r['seeds']:<2}"
            f"{r['naive_misses']:>10}/{r['seeds']:<2}{r['median_abs_err_bn_do']:>12.4f}{r['median_abs_err_naive']:>12.4f}"
            f"{r['error_ratio']:>7.3f}{r['placebo_contains_0']:>7}/{r['seeds']:<2}  {'yes' if r['pass'] else 'NO'}"
        )
    lines.append(f"all targets met: {'yes' if all(r['pass'] for r in rows) else 'no'}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
