"""What the scorer's node does to the bias of do(strategy) on the simulator, with and without the confounder.

True relevance is never in the simulated log (only the item is); the scorer learns a proxy of it
from the item text and the clicks. For each seed, the scorer is trained on the log (the pipeline's
calibrated scorer, tiny-bert by default) and the ATE of every strategy against `random` on click is
estimated four ways: user_activity (the confounder) observed or dropped, the score a node of the
network or not. Prints the median absolute error against the simulator's exact truth, and coverage.

    python bench/score_bias.py [--seeds 3] [--impressions 20000] [--bootstrap 100] [--backbone tiny-bert]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scoring  # noqa: E402
from causal.config import CausalConfig  # noqa: E402
from causal.effects.estimate import estimate_effects  # noqa: E402
from causal.sim.simulator import SimulatorConfig, simulate  # noqa: E402

VARIANTS = {
    "activity observed, no score": dict(drop=("score",)),
    "activity observed, score node": dict(drop=()),
    "activity hidden, no score": dict(drop=("score", "user_activity")),
    "activity hidden, score node": dict(drop=("user_activity",)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--impressions", type=int, default=20_000)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--backbone", default="tiny-bert")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    errors: dict[str, list[float]] = {v: [] for v in VARIANTS}
    covered: dict[str, int] = {v: 0 for v in VARIANTS}
    aucs = []
    for seed in range(args.seeds):
        sim = simulate(SimulatorConfig(impressions=args.impressions, seed=seed))
        with tempfile.TemporaryDirectory() as work:
            scored = scoring.train_and_score(
                sim.log,
                outcome="click",
                config=scoring.ScorerConfig(backbone=args.backbone, seed=seed, progress=False),
                work_dir=Path(work),
            )
        aucs.append(scored.metrics.get("auc_val", float("nan")))
        log = sim.log.assign(score=scored.scores)
        for name, spec in VARIANTS.items():
            config = CausalConfig(
                treatment="strategy",
                outcome="click",
                baseline="random",
                n_bootstrap=args.bootstrap,
                equivalent_sample_size=1.0,
                seed=seed,
                progress=False,
                refute=False,
            )
            report = estimate_effects(log.drop(columns=list(spec["drop"])), config)
            for e in report.estimates:
                if (e.method, e.estimand) == ("bn_do", "ate"):
                    truth = sim.truth_value("strategy", e.treatment_value, "click", "ate")
                    errors[name].append(abs(e.estimate - truth))
                    covered[name] += e.ci_low <= truth <= e.ci_high
        print(
            f"seed {seed}: scorer val AUC {aucs[-1]:.3f}, {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    cells = 3 * args.seeds
    print(
        f"{args.seeds} seeds x {args.impressions:,} impressions, B={args.bootstrap}, backbone {args.backbone}, "
        f"scorer val AUC {np.mean(aucs):.3f}, {time.perf_counter() - started:.0f} s"
    )
    print(f"{'variant':<32}{'median |ATE error|':>20}{'covers truth':>14}")
    for name in VARIANTS:
        print(f"{name:<32}{np.median(errors[name]):>20.4f}{covered[name]:>10}/{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
