"""recdo at platform scale: per-stage wall time and peak RSS from 10^5 to 10^8 impressions, with truth coverage.

    python bench/scale.py --rows 100000,1000000,10000000 [--json out.json]
    python bench/scale.py --rows 1000000,100000000 --causal-only

Each log is made by `recdo simulate` (seeded; a log above --seed-rows is a folder of several seeds' logs,
whose pooled truth is the row-weighted mean of their truths). Each run is a child process (bench/scale_child.py):
the whole pipeline (`recdo run`, default scorer MiniLM frozen, B=200, one pair strategy -> click), or with
--causal-only load -> gate -> counts -> network -> bootstrap without the scorer. The child's peak RSS comes from
the OS (os.wait4's rusage); each stage's own peak from the child's /proc samples.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from causal.sim.batches import combine_truth  # noqa: E402
from causal.sim.truth import TruthRow  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3


def measured(cmd: list[str], log: Path) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes, exit status) of a child process, RSS from the OS via wait4."""
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss * 1024, child.returncode


def make_log(rows: int, seed_rows: int, folder: Path, seed: int) -> tuple[Path, list[dict], dict]:
    """The simulated log (one seed, or a folder of seeds) and its pooled truth; the simulate stage measured."""
    seeds = max(1, math.ceil(rows / seed_rows))
    sizes = [rows // seeds + (1 if k < rows % seeds else 0) for k in range(seeds)]
    parts, wall, peak = [], 0.0, 0
    for k, size in enumerate(sizes):
        out = folder / (f"seed-{seed + k}" if seeds > 1 else "sim")
        if not (out / "truth.json").is_file():
            cmd = [sys.executable, "-m", "recdo.cli", "simulate", "--impressions", str(size)]
            cmd += ["--seed", str(seed + k), "--out", str(out)]
            seconds, rss, code = measured(cmd, folder / f"simulate-{k}.log")
            if code:
                raise SystemExit(f"recdo simulate failed (exit {code}); see {folder / f'simulate-{k}.log'}")
            wall, peak = wall + seconds, max(peak, rss)
        truth = tuple(TruthRow(**row) for row in json.loads((out / "truth.json").read_text()))
        parts.append((size, truth))
    pooled = [row.__dict__ for row in combine_truth(parts)]
    data = folder / "sim" if seeds == 1 else folder
    if seeds > 1:  # the folder holds seed-k/log.parquet and seed-k/truth.json: a folder of Parquet files
        (folder / "truth.json").unlink(missing_ok=True)
    return data, pooled, {"stage": "simulate", "seconds": wall, "peak_rss": peak, "seeds": seeds}


def covered(estimates: list[dict], truth: list[dict]) -> list[dict]:
    """Each bn_do ATE beside the simulator's truth: inside its interval or not."""
    out = []
    for e in estimates:
        match = [
            t["value"]
            for t in truth
            if t["estimand"] == "ate"
            and (t["treatment"], t["treatment_value"], t["baseline_value"], t["outcome"])
            == (e["treatment"], e["treatment_value"], e["baseline_value"], e["outcome"])
        ]
        value = match[0] if match else None
        inside = value is not None and e["ci_low"] is not None and e["ci_low"] <= value <= e["ci_high"]
        out.append(
            {
                "ate": f"{e['treatment_value']} - {e['baseline_value']}",
                "estimate": e["estimate"],
                "ci": [e["ci_low"], e["ci_high"]],
                "truth": value,
                "covered": inside,
            }
        )
    return out


def run_size(rows: int, args: argparse.Namespace) -> dict:
    folder = args.work / f"rows-{rows}"
    folder.mkdir(parents=True, exist_ok=True)
    data, truth, simulate = make_log(rows, args.seed_rows, folder, args.seed)
    work = folder / ("work-causal" if args.causal_only else "work-pipeline")
    shutil.rmtree(work, ignore_errors=True)
    result = folder / "result.json"
    mode = "causal" if args.causal_only else "pipeline"
    cmd = [sys.executable, str(ROOT / "bench" / "scale_child.py"), mode, "--out", str(result), "--data", str(data)]
    cmd += ["--work-dir", str(work), "--bootstrap", str(args.bootstrap)]
    if not args.causal_only:
        cmd += ["--db", str(work / "recdo.duckdb"), "--backbone", args.backbone, "--scorer-mode", args.scorer_mode]
        # the users' text history costs the same at any size (610 users): left out, so sizes compare stage by stage
        cmd += ["--user-history", args.user_history]
    print(f"{rows:>11,} rows: {mode} ...", flush=True)
    seconds, peak, code = measured(cmd, folder / f"{mode}.log")
    if code:
        raise SystemExit(f"the {mode} run at {rows} rows failed (exit {code}); see {folder / f'{mode}.log'}")
    found = json.loads(result.read_text())
    found.update(
        rows=rows,
        mode=mode,
        wall_seconds=seconds,
        peak_rss=peak,
        simulate=simulate,
        coverage=covered(found["estimates"], truth),
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(render_one(found), flush=True)
    return found


def render_one(r: dict) -> str:
    lines = [f"{r['rows']:,} rows ({r['mode']}): {r['wall_seconds']:.0f} s, peak RSS {r['peak_rss'] / GIB:.2f} GiB"]
    for s in r["stages"]:
        lines.append(f"  {s['stage']:<20}{s['seconds']:>9.1f} s{s['peak_rss'] / GIB:>9.2f} GiB")
    for c in r["coverage"]:
        mark = "covers" if c["covered"] else "MISSES"
        lines.append(
            f"  ATE {c['ate']:<24}{c['estimate']:>9.5f} [{c['ci'][0]:.5f}, {c['ci'][1]:.5f}] {mark} truth "
            f"{c['truth']:.5f}"
        )
    return "\n".join(lines)


def render(results: list[dict]) -> str:
    """One table: stage x size (seconds / peak GiB), then the growth ratio of the two largest sizes."""
    sizes = [r["rows"] for r in results]
    stages = [s["stage"] for s in results[-1]["stages"]]
    head = f"{'stage':<20}" + "".join(f"{n:>22,}" for n in sizes)
    if len(sizes) > 1:
        head += f"{'x' + format(sizes[-1] // sizes[-2], ','):>10}"
    lines = [head]
    for name in stages:
        cells = []
        for r in results:
            s = next((s for s in r["stages"] if s["stage"] == name), None)
            cells.append(f"{s['seconds']:>10.1f} s {s['peak_rss'] / GIB:>6.2f} GiB" if s else f"{'-':>22}")
        line = f"{name:<20}" + "".join(f"{c:>22}" for c in cells)
        if len(results) > 1:
            a, b = (next((s for s in r["stages"] if s["stage"] == name), None) for r in results[-2:])
            line += f"{b['seconds'] / a['seconds']:>9.2f}x" if a and b and a["seconds"] > 0 else f"{'-':>10}"
        lines.append(line)
    lines.append(f"{'process peak (OS)':<20}" + "".join(f"{r['peak_rss'] / GIB:>18.2f} GiB" for r in results))
    lines.append(f"{'process wall':<20}" + "".join(f"{r['wall_seconds']:>20.0f} s" for r in results))
    hits = [f"{sum(c['covered'] for c in r['coverage'])}/{len(r['coverage'])}" for r in results]
    lines.append(f"{'bn_do ATE covers':<20}" + "".join(f"{h:>22}" for h in hits))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rows", default="100000,1000000,10000000", help="comma-separated log sizes")
    parser.add_argument("--causal-only", action="store_true", help="load -> gate -> counts -> network -> bootstrap")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--scorer-mode", default="frozen")
    parser.add_argument("--user-history", default="none", help="a history file for user_text, or none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seed-rows", type=int, default=10_000_000, help="rows per simulated seed; more: a folder")
    parser.add_argument("--work", type=Path, default=Path("/tmp/recdo-scale"), help="logs and work files")
    parser.add_argument("--keep", action="store_true", help="keep each run's work files")
    parser.add_argument("--json", type=Path, help="write every result here")
    args = parser.parse_args(argv)
    args.work = args.work.resolve()
    results = [run_size(int(n.replace("_", "")), args) for n in args.rows.split(",")]
    print()
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
