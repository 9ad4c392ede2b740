"""One measured run of bench/scale.py, in its own process: the whole pipeline, or the causal stages alone.

The parent reads the process's peak RSS from the OS (os.wait4); this process samples its own RSS from
/proc a few times a second, so each stage's peak can be told apart, and writes stage times, stage peaks and
the bn_do estimates as JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGE = os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """(seconds since start, resident bytes) of this process every `every` seconds, from /proc/self/statm."""

    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.start = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with open("/proc/self/statm") as statm:
            while not self._stop.is_set():
                statm.seek(0)
                self.samples.append((time.time(), int(statm.read().split()[1]) * PAGE))
                self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, begin: float, end: float) -> int:
        """The highest sample taken between two wall-clock times (the nearest sample when none falls inside)."""
        inside = [rss for t, rss in self.samples if begin <= t <= end]
        if inside:
            return max(inside)
        return min(self.samples, key=lambda s: abs(s[0] - end))[1] if self.samples else 0


def stage(name: str, begin: float, end: float, sampler: RssSampler) -> dict:
    return {"stage": name, "seconds": end - begin, "peak_rss": sampler.peak(begin, end)}


def run_pipeline(argv: list[str], sampler: RssSampler) -> dict:
    """`recdo run` with these flags, in this process; stages from the flow run's task runs in Prefect."""
    from recdo.cli.args import add_pipeline_flags, params_from_args

    parser = argparse.ArgumentParser()
    add_pipeline_flags(parser, "run")
    params = params_from_args(parser.parse_args(argv))

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.pipeline import pipeline

    began = time.time()
    state = pipeline(params, return_state=True)
    summary = state.result()
    ended = time.time()
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    spans: dict[str, list[float]] = {}
    for run in runs:
        if run.start_time is None or run.end_time is None:
            continue
        name = run.name.rsplit("-", 1)[0]  # "bootstrap chunk-3f2" -> "bootstrap chunk"
        lo, hi = run.start_time.timestamp(), run.end_time.timestamp()
        span = spans.setdefault(name, [lo, hi])
        span[0], span[1] = min(span[0], lo), max(span[1], hi)
    stages = [stage(name, lo, hi, sampler) for name, (lo, hi) in sorted(spans.items(), key=lambda kv: kv[1][0])]
    stages.append(stage("total", began, ended, sampler))
    estimates = [e for e in summary.estimates if e["method"] == "bn_do" and e["estimand"] == "ate"]
    return {"stages": stages, "estimates": estimates, "n_rows": summary.n_clean}


def run_causal(args: argparse.Namespace, sampler: RssSampler) -> dict:
    """load -> gate -> counts -> network -> bootstrap on one (treatment, outcome), no scorer."""
    import causal
    import sources
    from causal.config import CausalConfig
    from expectations import GateConfig, run_file_gate

    stages = []
    t0 = time.time()
    layout = sources.layout_for(args.data, "auto")
    log = sources.write_canonical(layout, {}, Path(args.work_dir) / "logs")
    t1 = time.time()
    stages.append(stage("load", t0, t1, sampler))
    gate = run_file_gate(log.path, GateConfig(outcomes=(args.outcome,), treatments=(args.treatment,)), args.work_dir)
    t2 = time.time()
    stages.append(stage("gate", t1, t2, sampler))
    config = CausalConfig(
        treatment=args.treatment,
        outcome=args.outcome,
        baseline=args.baseline,
        n_bootstrap=args.bootstrap,
        progress=False,
    )
    cells = sources.count_cells(gate.clean_path, config, work_dir=args.work_dir)
    t3 = time.time()
    stages.append(stage("counts", t2, t3, sampler))
    prepared = causal.prepare_effects(cells, config)
    t4 = time.time()
    stages.append(stage("network", t3, t4, sampler))
    chunks = [causal.bootstrap_chunk(prepared, c) for c in range(config.n_chunks)]
    report = causal.combine_effects(prepared, chunks)
    t5 = time.time()
    stages.append(stage("bootstrap", t4, t5, sampler))
    stages.append(stage("total", t0, t5, sampler))
    estimates = [asdict(e) for e in report.estimates if e.method == "bn_do" and e.estimand == "ate"]
    return {
        "stages": stages,
        "estimates": estimates,
        "n_rows": gate.n_clean,
        "n_quarantined": gate.n_quarantined,
        "cells": int(len(cells.data)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("pipeline", "causal"))
    parser.add_argument("--out", required=True, type=Path, help="JSON result file")
    parser.add_argument("--data", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--treatment", default="strategy")
    parser.add_argument("--outcome", default="click")
    parser.add_argument("--baseline", default="random")
    parser.add_argument("--bootstrap", type=int, default=200)
    args, rest = parser.parse_known_args(argv)
    with RssSampler() as sampler:
        if args.mode == "pipeline":
            flags = ["--data", args.data, "--work-dir", args.work_dir, "--bootstrap", str(args.bootstrap)]
            flags += ["--treatment", args.treatment, "--outcome", args.outcome, "--baseline", args.baseline]
            found = run_pipeline(flags + rest, sampler)
        else:
            found = run_causal(args, sampler)
    args.out.write_text(json.dumps(found, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
