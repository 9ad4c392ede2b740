"""The `recdo` command line: run the pipeline, print stored effects."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Sequence


def _quiet_environment() -> None:
    # Offline machine: no analytics pings, no model-hub lookups. Must be set before prefect/transformers import.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _parse_map(pairs: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"recdo: --map expects FILE_COLUMN=CANONICAL_COLUMN, got {pair!r}")
        src, dst = pair.split("=", 1)
        mapping[src.strip()] = dst.strip()
    return mapping


def _fmt(x: float | None, digits: int = 5) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _short_set(names: Sequence[str]) -> str:
    """An adjustment set short enough for a table cell; `recdo effects --json` has it whole."""
    names = list(names)
    return ", ".join(names) if len(names) <= 2 else f"{names[0]} … {names[-1]} ({len(names)})"


def print_summary(summary) -> None:
    """The table a person reads at the end of a run: every estimate with its interval."""
    from rich.console import Console
    from rich.table import Table

    # Wide enough for one line per estimate even when stdout is a pipe (CI logs, `make demo | tee`).
    console = Console(width=max(Console().width, 140))
    first = summary.estimates[0]
    treatment, outcome = first["treatment"], first["outcome"]
    table = Table(title=f"recdo run {summary.run_id}: what {treatment} does to {outcome}")
    for col in ("estimand", "method", "estimate", "95% CI", "n rows", "adjusted for"):
        table.add_column(col, justify="right" if col in ("estimate", "95% CI", "n rows") else "left", no_wrap=True)
    for e in summary.estimates:
        logged = (e.get("diagnostics") or {}).get("logged_policy")
        if logged:  # off-policy: the target policy's value read from another policy's log
            estimand = f"P({outcome}=1) under {e['treatment_value']}, from {logged} log"
        elif e["estimand"] == "ate":
            estimand = f"ATE {e['treatment_value']} − {e['baseline_value']}"
        elif e["method"] == "naive":  # conditioning, not intervening: this is the biased comparison
            estimand = f"P({outcome}=1 | {treatment}={e['treatment_value']})"
        else:
            estimand = f"P({outcome}=1 | do({treatment}={e['treatment_value']}))"
        table.add_row(
            estimand,
            e["method"],
            _fmt(e["estimate"]),
            f"[{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]",
            str(e["n_rows"]),
            _short_set(e["adjustment_set"]) or ("nothing (no backdoor path)" if e["method"] == "bn_do" else "—"),
        )
    console.print(table)
    for e in summary.estimates:
        diagnostics = e.get("diagnostics") or {}
        if e["method"] == "ab_diff" and "verdict" in diagnostics:
            console.print(f"A/B {e['treatment_value']} vs {e['baseline_value']}: {diagnostics['verdict']}")
    truth = next((e["diagnostics"]["on_policy_value"] for e in summary.estimates if "on_policy_value" in (e.get("diagnostics") or {})), None)
    if truth is not None:
        console.print(
            f"Off-policy rows estimate the target policy's click rate from the logged policy's rows alone; "
            f"its own log gives {truth:.5f} (relative errors: recdo effects --json, diagnostics)."
        )
    for e in summary.estimates:
        if e["estimand"] == "ate" and e["method"] == "bn_do":
            verdict = (
                "the interval includes 0: the data cannot tell these two apart"
                if e["ci_low"] <= 0 <= e["ci_high"]
                else "the interval excludes 0"
            )
            console.print(f"ATE {e['treatment_value']} vs {e['baseline_value']} (bn_do): {_fmt(e['estimate'])}; {verdict}.")
    metrics = ", ".join(
        f"{k}={v:.3f}" if k.startswith("auc") else f"{k}={v:.0f}"
        for k, v in summary.scorer_metrics.items()
        if k in ("auc_train", "auc_val", "n_train", "n_val", "samples_per_s")
    )
    console.print(
        f"rows: {summary.n_in} in, {summary.n_clean} processed, {summary.n_quarantined} quarantined | scorer: {metrics}\n"
        f"network edges: {', '.join(f'{u}→{v}' for u, v in summary.edges)}\n"
        f"run id: {summary.run_id}   results: {summary.db} (recdo effects --db {summary.db})"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from flows.params import PipelineParams

    fields = dict(
        data=args.data,
        source=args.source,
        campaign=args.campaign,
        column_map=_parse_map(args.map),
        treatment=args.treatment,
        outcome=args.outcome,
        baseline=None if args.baseline in ("", "none") else args.baseline,
        max_rejected_share=args.max_rejected_share,
        backbone=args.backbone,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        accelerator=args.accelerator,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        db=args.db,
        run_id=args.run_id,
        work_dir=args.work_dir,
        io_retries=args.retries,
        io_retry_delay_s=args.retry_delay,
        progress=not args.no_progress,
    )
    params = PipelineParams(**{k: v for k, v in fields.items() if v is not None or k in ("baseline", "run_id")})
    if not os.path.exists(params.data):
        # Caught here so the user gets one line, not a flow run's traceback.
        print(f"recdo: no log at {params.data!r}; pass --data DIR (Open Bandit layout) or --data FILE.csv|.parquet", file=sys.stderr)
        return 2

    import expectations
    import sources
    from flows.pipeline import pipeline

    try:
        summary = pipeline(params)
    except (sources.SourceError, expectations.DatasetError, expectations.GateFailed) as exc:
        print(f"\nrecdo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 0


def _short_diagnostics(raw: str | None, width: int = 70) -> str:
    """The first few diagnostics as k=v, so a table row still fits on a screen; --json has them all."""
    if not raw:
        return ""
    parts = []
    for key, value in json.loads(raw).items():
        parts.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    text = ", ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_effects(args: argparse.Namespace) -> int:
    import store

    try:
        frame = store.read_table(args.db, "interventions", run_id=args.run_id)
    except FileNotFoundError as exc:
        print(f"recdo: {exc}", file=sys.stderr)
        return 2
    frame = frame.sort_values(["run_id", "treatment", "outcome", "estimand", "method", "treatment_value"], kind="stable")
    if args.json:
        records = json.loads(frame.to_json(orient="records", date_format="iso", double_precision=15))
        for r in records:
            r["adjustment_set"] = json.loads(r["adjustment_set"]) if r["adjustment_set"] else []
            r["diagnostics"] = json.loads(r["diagnostics"]) if r.get("diagnostics") else {}
        print(json.dumps(records, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"interventions in {args.db}")
    cols = ["run_id", "partition", "treatment", "treatment_value", "baseline_value", "outcome", "estimand", "method", "estimate", "ci_low", "ci_high", "n_rows", "adjustment_set", "diagnostics"]
    for col in cols:
        table.add_column(col)
    for row in frame[cols].itertuples(index=False):
        cells = [_fmt(v) if isinstance(v, float) else str(v) for v in row[:-1]]
        table.add_row(*cells, _short_diagnostics(row[-1]))
    Console(width=max(Console().width, 170)).print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recdo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline on a log and store the estimates")
    run.add_argument("--data", default="data/obd-sample", help="Open Bandit directory or canonical CSV/Parquet file")
    run.add_argument("--source", choices=["auto", "obd", "table"], default="auto")
    run.add_argument("--campaign", default="all", help="Open Bandit campaign")
    run.add_argument("--map", action="append", default=[], metavar="FILE_COL=CANONICAL_COL", help="rename a column (repeatable)")
    run.add_argument("--treatment", default="policy")
    run.add_argument("--outcome", default="click")
    run.add_argument("--baseline", default="random", help="treatment value ATEs are taken against ('none': first in sorted order)")
    run.add_argument("--db", default="recdo.duckdb", help="DuckDB file for the results")
    run.add_argument("--run-id", default=None, help="default: derived from the data hash and parameters")
    run.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates (B)")
    run.add_argument("--epochs", type=int, default=1, help="scorer training epochs")
    run.add_argument("--batch-size", type=int, default=256)
    run.add_argument("--backbone", default="tiny-bert", help="'tiny-bert' or a local transformers model directory")
    run.add_argument("--accelerator", default="auto")
    run.add_argument("--max-rejected-share", type=float, default=0.01, help="fail when a larger share of rows is quarantined")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--work-dir", default=".recdo")
    run.add_argument("--retries", type=int, default=2, help="retries of the I/O tasks")
    run.add_argument("--retry-delay", type=float, default=2.0, help="seconds between I/O retries")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run)

    sub.add_parser(
        "structure",
        help="learn a DAG from a CSV/Parquet of discrete columns (recdo structure --help)",
        add_help=False,
    )

    sub.add_parser(
        "simulate",
        help="write a simulated log with exact interventional truth (recdo simulate --help)",
        add_help=False,
    )

    eff = sub.add_parser("effects", help="print the stored interventions table")
    eff.add_argument("--db", default="recdo.duckdb")
    eff.add_argument("--run-id", default=None)
    eff.add_argument("--json", action="store_true", help="a JSON list of rows keyed by column name")
    eff.set_defaults(func=cmd_effects)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["structure"]:  # its own argparse lives beside the learners
        from causal.learn import main as structure_main

        return structure_main(argv[1:])
    if argv[:1] == ["simulate"]:
        from causal.simulator import main as simulate_main

        return simulate_main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
