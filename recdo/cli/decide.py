"""`recdo decide`: which value to deploy and at what risk, from a run's stored bootstrap replicates."""

from __future__ import annotations

import argparse
import json
import math
import sys

DECISION_COLUMNS = (
    "run_id",
    "treatment",
    "outcome",
    "segment",
    "value",
    "p_best",
    "expected_loss",
    "lift",
    "lift_low",
    "lift_high",
    "recommended",
    "mean",
    "baseline",
    "explanation",
)


def _number(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _segment_label(segment: str, segment_value: str) -> str:
    """'all', or 'node=state' as the interventions table writes a CATE row's segment."""
    return segment if segment == "all" else f"{segment}={segment_value}"


def latest_run(con, run_id: str | None) -> str:
    """The run to decide on: the one asked for, or the newest run with stored replicates."""
    from common.errors import InputError

    if run_id is not None:
        found = con.execute("SELECT count(*) FROM replicates WHERE run_id = ?", [run_id]).fetchone()[0]
        if not found:
            raise InputError(
                f"run {run_id!r} has no stored replicates (runs made before `recdo decide` existed keep none); "
                "run it again with `recdo run`, or pass another --run-id"
            )
        return run_id
    row = con.execute(
        "SELECT r.run_id FROM runs r WHERE r.run_id IN (SELECT DISTINCT run_id FROM replicates) "
        "ORDER BY r.started_at DESC NULLS LAST LIMIT 1"
    ).fetchone()
    if row is None:
        raise InputError("no run in the database has stored replicates; run `recdo run --db DB` first, then decide")
    return str(row[0])


def decision_rows(run_id: str, decisions) -> list[dict]:
    """One JSON row per (pair, segment, value); a segment without a decision keeps its values with nulls."""
    rows = []
    for d, values in decisions:
        chosen = {v.value: v for v in d.values}
        for value in values:
            v = chosen.get(value)
            rows.append(
                {
                    "run_id": run_id,
                    "treatment": d.treatment,
                    "outcome": d.outcome,
                    "segment": _segment_label(d.segment, d.segment_value),
                    "value": value,
                    "p_best": _number(v.p_best) if v else None,
                    "expected_loss": _number(v.expected_loss) if v else None,
                    "lift": _number(v.lift) if v else None,
                    "lift_low": _number(v.lift_low) if v else None,
                    "lift_high": _number(v.lift_high) if v else None,
                    "recommended": bool(v and v.recommended),
                    "mean": _number(v.mean) if v else None,
                    "baseline": d.baseline,
                    "explanation": d.explanation,
                }
            )
    return rows


def _policy_line(values, population) -> str:
    """The segment policy with its value by the network and by DR, and the single best value's beside them."""
    first = values[0]
    policy = ", ".join(f"{first.segment}={s} → {v}" for s, v in sorted(first.policy.items()))
    parts = []
    for pv in values:
        name = {"bn_do": "network", "dr": "DR on the log"}.get(pv.method, pv.method)
        if pv.explanation:
            parts.append(f"{name}: no number ({pv.explanation})")
        else:
            parts.append(f"{name} {pv.estimate:.4f} [{pv.ci_low:.4f}, {pv.ci_high:.4f}]")
    best = population.recommended if population is not None else None
    single = f"; deploying {best.value} to everyone: {best.mean:.4f} (network)" if best else ""
    return f"Segment policy ({policy}): value by {'; by '.join(parts)}{single}"


def cmd_decide(args: argparse.Namespace) -> int:
    import store
    from causal.decide.allocation import check_floor
    from causal.decide.policy import policy_values_from_rows
    from causal.decide.posterior import ALL
    from causal.decide.replicates import replicate_sets
    from causal.decide.run import decide_sets
    from common.errors import InputError

    try:
        floor = check_floor(args.floor)
    except ValueError as exc:
        raise InputError(f"--floor: {exc}") from None
    if not 0.0 < args.level < 1.0:
        raise InputError(f"--level must lie strictly between 0 and 1; got {args.level!r}; use e.g. 0.95")
    with store.connect(args.db, read_only=True) as con:
        run_id = latest_run(con, args.run_id)
        frame = con.execute("SELECT * FROM replicates WHERE run_id = ?", [run_id]).df()
        stored = con.execute("SELECT * FROM policy_values WHERE run_id = ?", [run_id]).df()
    sets = replicate_sets(frame)
    decisions = decide_sets(sets, args.level)
    paired = list(zip(decisions, (s.values for s in sets)))
    if args.json:
        print(json.dumps(decision_rows(run_id, paired), indent=2))
    else:
        _print_decisions(run_id, paired)
    policy_values = policy_values_from_rows(stored)
    pairs = list(dict.fromkeys((d.treatment, d.outcome) for d in decisions))
    if not args.json:
        for t, y in pairs:
            values = [v for v in policy_values if (v.treatment, v.outcome) == (t, y)]
            population = next((d for d in decisions if (d.treatment, d.outcome, d.segment) == (t, y, ALL)), None)
            if values and values[0].policy:
                print(_policy_line(values, population))
            elif values:
                print(f"No segment policy for {t} on {y}: {values[0].explanation}")
    if args.policy_out:
        _write_allocations(args.policy_out, run_id, decisions, pairs, policy_values, floor)
    return 0


def _print_decisions(run_id: str, paired) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150), markup=False, emoji=False, highlight=False)
    groups: dict[tuple[str, str], list] = {}
    for d, values in paired:
        groups.setdefault((d.treatment, d.outcome), []).append((d, values))
    for (t, y), items in groups.items():
        table = Table(title=f"{run_id}: which {t} to deploy for {y} (from {items[0][0].replicates} replicates)")
        for col in ("segment", "value", f"P({y}=1 | do)", "P(best)", "expected loss", "lift vs baseline", ""):
            table.add_column(col, justify="left" if col in ("segment", "value", "") else "right")
        for d, values in items:
            chosen = {v.value: v for v in d.values}
            for value in values:
                v = chosen.get(value)
                if v is None:
                    table.add_row(_segment_label(d.segment, d.segment_value), value, "—", "—", "—", "—", "no decision")
                    continue
                table.add_row(
                    _segment_label(d.segment, d.segment_value),
                    value,
                    f"{v.mean:.4f}",
                    f"{v.p_best:.2f}",
                    f"{v.expected_loss:.4f}",
                    "baseline" if value == d.baseline else f"{v.lift:+.4f} [{v.lift_low:+.4f}, {v.lift_high:+.4f}]",
                    "★ recommended" if v.recommended else "",
                )
        console.print(table)
        for d, _ in items:
            console.print(d.sentence())


def _write_allocations(path: str, run_id: str, decisions, pairs, policy_values, floor: float) -> None:
    """The allocation file (docs/allocation.md): one object, or a list of them when the run has several pairs."""
    from dataclasses import asdict
    from datetime import UTC, datetime

    from causal.decide.allocation import allocate

    created = datetime.now(UTC).isoformat(timespec="seconds")
    out = []
    for t, y in pairs:
        mine = tuple(d for d in decisions if (d.treatment, d.outcome) == (t, y))
        body = allocate(mine, floor, run_id, created).to_json()
        body["policy_value"] = [
            {k: _number(v) if isinstance(v, float) else v for k, v in asdict(pv).items()}
            for pv in policy_values
            if (pv.treatment, pv.outcome) == (t, y)
        ]
        out.append(body)
    with open(path, "w") as fh:
        json.dump(out[0] if len(out) == 1 else out, fh, indent=2)
        fh.write("\n")
    print(f"allocation written to {path}", file=sys.stderr)


def add_parser(sub) -> None:
    dec = sub.add_parser(
        "decide",
        help="which value to deploy and at what risk (P(best), expected loss), from a run's stored replicates",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    dec.add_argument("--db", default="recdo.duckdb", help="DuckDB file with the results")
    dec.add_argument("--run-id", default=None, help="the run to decide on (default: the newest with replicates)")
    dec.add_argument("--json", action="store_true", help="a JSON list of rows, one per (pair, segment, value)")
    dec.add_argument(
        "--policy-out",
        default=None,
        metavar="FILE",
        help="write the allocation (Thompson sampling with an exploration floor) as JSON: docs/allocation.md",
    )
    dec.add_argument(
        "--floor", type=float, default=0.05, help="exploration floor: each value is served >= floor / k (0..1)"
    )
    dec.add_argument("--level", type=float, default=0.95, help="level of the lift intervals")
    dec.set_defaults(func=cmd_decide)
