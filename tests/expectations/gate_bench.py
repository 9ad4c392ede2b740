"""Wall time and peak RSS of the file gate on synthetic logs: python -m tests.expectations.gate_bench 1000000."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.expectations.synthetic_log import write_log

REPO = Path(__file__).resolve().parents[2]

_RUN = """
import json, sys, time
from expectations import run_file_gate, run_gate, runner
from tests.expectations.synthetic_log import CONFIG
runner.context()

def mib(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key)) / 1024

base = mib("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")
start = time.perf_counter()
if sys.argv[3] == "pandas":
    import pandas as pd
    result = run_gate(pd.read_parquet(sys.argv[1]), CONFIG)
else:
    result = run_file_gate(sys.argv[1], CONFIG, sys.argv[2], memory_limit=sys.argv[4])
wall = time.perf_counter() - start
print(json.dumps({"wall_s": round(wall, 1), "rss_base_mb": round(base), "rss_peak_mb": round(mib("VmHWM:")),
                  "rss_growth_mb": round(mib("VmHWM:") - base),
                  "rows": [result.n_in, result.n_clean, result.n_quarantined]}))
"""


def measure(folder: Path, out: Path, gate: str, memory_limit: str) -> dict:
    """One gate run in a fresh process (so its peak RSS is its own)."""
    args = [sys.executable, "-c", textwrap.dedent(_RUN), str(folder), str(out), gate, memory_limit]
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise RuntimeError(f"{gate} gate on {folder} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", type=int, nargs="+", help="log sizes, e.g. 1000000 10000000")
    parser.add_argument("--files", type=int, default=10, help="part files per log")
    parser.add_argument("--memory-limit", default="2GB", help="the gate's DuckDB memory_limit")
    parser.add_argument("--pandas-up-to", type=int, default=0, help="also time today's pandas gate up to this size")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the logs (default: a temp dir)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="gate-bench-"))
    for n in args.rows:
        folder = root / f"log-{n}"
        if not folder.exists():
            start = time.perf_counter()
            write_log(folder, n_rows=n, n_files=args.files)
            print(f"wrote {n} rows in {args.files} files in {time.perf_counter() - start:.0f}s", flush=True)
        size_mb = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2**20
        print(f"{n} rows ({size_mb:.0f} MB): file gate {measure(folder, root / f'out-{n}', 'file', args.memory_limit)}")
        if n <= args.pandas_up_to:
            print(f"{n} rows: pandas gate {measure(folder, root / f'out-{n}', 'pandas', args.memory_limit)}")


if __name__ == "__main__":
    main()
