"""Multi-device scorer training: `python -m scoring.multidevice JOB OUT`, what Lightning relaunches per device."""

from __future__ import annotations

import pickle
import sys
from dataclasses import replace
from pathlib import Path

import torch

from scoring.fit import FitJob, fit_and_predict
from scoring.train import deterministic_run


def main(argv: list[str] | None = None) -> int:
    """Train the pickled FitJob at JOB on this rank; global rank 0 alone writes the FitOutcome to OUT."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit(
            f"usage: python -m scoring.multidevice JOB OUT; got {len(args)} arguments {args!r}; "
            "train_and_score writes JOB and reads OUT"
        )
    job_path, out_path = Path(args[0]), Path(args[1])
    job: FitJob = torch.load(job_path, weights_only=False)  # written by train_and_score in the parent a moment ago
    with deterministic_run(job.config.seed, quiet=not job.config.progress, threads=job.threads):
        outcome, trainer = fit_and_predict(job)
    if trainer.is_global_zero:  # every rank holds the same gathered outcome: one writer
        if job.keep_weights:  # the net was trained (and its best weights loaded) in place
            outcome = replace(outcome, net_state={k: v.detach().cpu() for k, v in job.net.state_dict().items()})
        tmp = out_path.with_name(out_path.name + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(outcome, f)
        tmp.replace(out_path)
        # Rank 0 is the process the parent waits on: return only once the ranks it launched have ended too.
        for proc in getattr(trainer.strategy.launcher, "procs", []):
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
