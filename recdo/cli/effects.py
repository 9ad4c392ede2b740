"""`recdo effects`: the stored interventions table, with the checks, the withheld rows and the truth beside it."""

from __future__ import annotations

import argparse
import json
import os
import sys

from recdo.cli.summary import fmt


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


def _why_empty(db: str, run_id: str | None) -> str:
    """Why there is nothing to show: no such run, or runs that failed or never finished (with their messages)."""
    import store

    runs = store.read_table(db, "runs", run_id=run_id)
    if runs.empty:
        return (
            f"no run {run_id!r} in {db}; `recdo effects --db {db}` lists every run's rows"
            if run_id
            else f"{db} holds no runs yet; run `recdo run --db {db}` first"
        )
    lines = [f"{r.run_id} {r.status}: {' '.join(str(r.message or '').split())[:200]}" for r in runs.itertuples()]
    return (
        f"no estimates stored in {db}: {len(runs)} run(s) without rows ({'; '.join(lines)}); fix the cause named "
        "there and run again"
    )


def cmd_effects(args: argparse.Namespace) -> int:
    import store

    frame = store.read_table(args.db, "interventions", run_id=args.run_id)  # a missing --db: one line, exit 2
    if frame.empty:
        print(f"recdo: {_why_empty(args.db, args.run_id)}", file=sys.stderr)
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
            [
                "run_id",
                "partition",
                "treatment",
                "outcome",
                "_estimand",
                "_method",
                "method",
                "treatment_value",
                "segment",
            ],
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
    from rich.text import Text

    truth = _load_truth(args.truth) if args.truth else {}
    # markup/emoji off: treatment values and run ids are data, printed as they are ("content[/b]", ":x:")
    console = Console(width=max(Console().width, 190), markup=False, emoji=False, highlight=False)
    withheld: dict[str, list[str]] = {}
    for (run_id, partition, treatment, outcome), part in frame.groupby(
        ["run_id", "partition", "treatment", "outcome"], sort=False, dropna=False
    ):
        table = Table(title=f"{run_id} · partition {partition}: what {treatment} does to {outcome}")
        columns = (
            ["estimand", "method", "estimate", "95% CI"]
            + (["truth"] if truth else [])
            + ["n rows", "adjusted for", "checks"]
        )
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
            cells = [label, row["method"], fmt(row["estimate"]), f"[{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"]
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
        console.print(Text.assemble(("No number for", "bold"), f" {'; '.join(labels)}:\n  {explanation}"))
    return 0


def add_parser(sub) -> None:
    eff = sub.add_parser(
        "effects", help="print the stored interventions table", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    eff.add_argument("--db", default="recdo.duckdb", help="DuckDB file with the results")
    eff.add_argument("--run-id", default=None, help="only this run (default: every run)")
    eff.add_argument("--json", action="store_true", help="a JSON list of rows keyed by column name")
    eff.add_argument(
        "--truth",
        default=None,
        metavar="TRUTH_JSON",
        help=(
            "a `recdo simulate` truth.json (or its folder): show the exact answer beside each estimate, ✓ where the "
            "interval covers it"
        ),
    )
    eff.set_defaults(func=cmd_effects)
