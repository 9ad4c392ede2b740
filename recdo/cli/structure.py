"""`recdo structure`: learn a DAG from a CSV or Parquet file of discrete columns and print its edges."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import sources
from causal.network.learn import ALGORITHMS, check_discrete, learn
from causal.network.scores import SCORES


def main(argv: Sequence[str] | None = None) -> int:
    """`recdo structure --data PATH --algorithm hc|pc|ges|mmhc --score bic|bdeu|k2 [--json] [--max-indegree N]`."""
    parser = argparse.ArgumentParser(
        prog="recdo structure",
        description="Learn a DAG from a CSV or Parquet file of discrete columns and print its edges.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data", required=True, default=argparse.SUPPRESS, help="CSV or Parquet file, one discrete column per variable"
    )
    parser.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default="hc",
        help="hill climbing, PC, GES or MMHC (hill-climbing within an MMPC skeleton)",
    )
    parser.add_argument(
        "--score", choices=SCORES, default="bic", help="the decomposable score that hc, ges and mmhc maximise"
    )
    parser.add_argument(
        "--max-indegree", type=int, default=None, help="at most this many parents per node, or no limit"
    )
    parser.add_argument("--equivalent-sample-size", type=float, default=10.0, help="BDeu prior strength")
    parser.add_argument("--json", action="store_true", help='print {"edges": [[u, v], ...], "seconds": t}')
    args = parser.parse_args(argv)
    try:
        # The pipeline's own reader: a CSV state named "None", "NA" or "null" is a label, not a missing value.
        loaded = sources.load_table(args.data)
        frame = check_discrete(loaded.frame)
        result = learn(
            frame,
            algorithm=args.algorithm,
            score=args.score,
            max_indegree=args.max_indegree,
            equivalent_sample_size=args.equivalent_sample_size,
        )
    except ValueError as err:
        print(f"recdo structure: error: {err}", file=sys.stderr)
        return 2
    for note in (*loaded.dropped, *result.notes):
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({"edges": [list(e) for e in result.edges], "seconds": round(result.seconds, 6)}))
    else:
        for u, v in result.edges:
            print(f"{u} -> {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
