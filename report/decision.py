"""The report's decision section and the `decision` artifact's text: `causal.decide`'s verdicts on a run's replicates.

Nothing here decides: the numbers and sentences are `causal.decide`'s (the functions `recdo decide` calls), so a
verdict shown in the report, in the Prefect UI and in the terminal is one verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from causal.decide.allocation import Allocation, allocate
from causal.decide.policy import PolicyValue, policy_values_from_rows
from causal.decide.posterior import ALL, Decision
from causal.decide.replicates import replicate_sets
from causal.decide.run import decide_sets
from report.draw import escape, interval_svg

FLOOR = 0.05  # `recdo decide --policy-out`'s default floor: the table is the file that command would write
LEVEL = 0.95  # `recdo decide`'s default --level, so the lift intervals match the terminal's
ROW_KEYS = ("treatment", "outcome", "segment", "value", "p_best", "expected_loss", "lift", "lift_low", "lift_high")
BEST, OTHER, TRACK = "#2b8a3e", "#adb5bd", "#f1f3f5"  # the recommended value's bar, the others', the 0..1 track
METHOD_NAMES = {"bn_do": "network (bn_do)", "dr": "DR on the log (dr)"}


@dataclass(frozen=True, eq=False)
class PairDecision:
    """One (treatment, outcome) of a run: its decisions, its segment policy's values and its allocation."""

    treatment: str
    outcome: str
    decisions: tuple[Decision, ...]  # the population ("all") first, then each segment value
    values: tuple[tuple[str, ...], ...]  # each decision's treatment values (a decision without numbers keeps them)
    policy_values: tuple[PolicyValue, ...]
    allocation: Allocation | None
    allocation_note: str | None = None  # why there is no allocation

    @property
    def population(self) -> Decision | None:
        return next((d for d in self.decisions if d.segment == ALL), None)


def segment_label(d: Decision) -> str:
    """'all', or 'node=state' as `recdo decide` and the interventions table write a segment."""
    return d.segment if d.segment == ALL else f"{d.segment}={d.segment_value}"


def pair_decisions(
    replicates: pd.DataFrame,
    policy_values: pd.DataFrame,
    run_id: str,
    level: float = LEVEL,
    floor: float = FLOOR,
) -> tuple[PairDecision, ...]:
    """Each pair of a run's `replicates` rows decided as `recdo decide` does, with its policy values and allocation."""
    if replicates.empty:
        return ()
    sets = replicate_sets(replicates)
    decisions = decide_sets(sets, level)
    stored = policy_values_from_rows(policy_values)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    out = []
    for t, y in dict.fromkeys((d.treatment, d.outcome) for d in decisions):
        mine = [(d, s.values) for d, s in zip(decisions, sets) if (d.treatment, d.outcome) == (t, y)]
        pair = tuple(d for d, _ in mine)
        allocation, note = None, None
        try:
            allocation = allocate(pair, floor, run_id, created)
        except ValueError as exc:  # no decision anywhere (or no population row): say why instead of a table
            note = str(exc)
        out.append(
            PairDecision(
                treatment=t,
                outcome=y,
                decisions=pair,
                values=tuple(v for _, v in mine),
                policy_values=tuple(v for v in stored if (v.treatment, v.outcome) == (t, y)),
                allocation=allocation,
                allocation_note=note,
            )
        )
    return tuple(out)


def _number(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def decision_rows(pairs: tuple[PairDecision, ...]) -> list[dict]:
    """One row per (pair, segment, value), the `recdo decide --json` keys; a segment without a decision has nulls."""
    rows = []
    for pair in pairs:
        for d, values in zip(pair.decisions, pair.values):
            chosen = {v.value: v for v in d.values}
            for value in values:
                v = chosen.get(value)
                numbers = (v.p_best, v.expected_loss, v.lift, v.lift_low, v.lift_high) if v else (math.nan,) * 5
                rows.append(
                    {
                        **dict(zip(ROW_KEYS, (d.treatment, d.outcome, segment_label(d), value))),
                        **dict(zip(ROW_KEYS[4:], (_number(x) for x in numbers))),
                        "recommended": bool(v and v.recommended),
                    }
                )
    return rows


def pbest_svg(pair: PairDecision) -> str:
    """P(best) of each value as a bar on a 0..1 track, one block per segment; the recommended value's bar is green.

    A segment without a decision gets one line pointing to the reason printed under the drawing.
    """
    bar_w, row_h, head_h = 300, 18, 22
    labels = [segment_label(d) for d in pair.decisions] + [v for vs in pair.values for v in vs]
    label_w = 16 + 7 * max(len(s) + 2 for s in labels)
    height = 26 + sum(head_h + (row_h * len(d.values) if d.values else row_h) for d in pair.decisions) + 6
    width = label_w + bar_w + 150
    title = f"P(best) of each {pair.treatment} for {pair.outcome}, by segment"
    out = [
        f'<svg class="p-best" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" class="title">{escape(title)}</text>',
    ]
    y = 26
    for d in pair.decisions:
        seg = segment_label(d)
        out.append(f'<text x="4" y="{y + 15}" class="legend-title">{escape(seg)}</text>')
        y += head_h
        if not d.values:
            out.append(f'<text x="{label_w}" y="{y + 12}" class="tick">no decision (the reason is below)</text>')
            y += row_h
            continue
        for v in d.values:
            w = v.p_best * bar_w
            mark = " ★ recommended" if v.recommended else ""
            out.append(
                f'<g class="bar" data-segment="{escape(seg)}" data-value="{escape(v.value)}" '
                f'data-p-best="{v.p_best!r}" data-recommended="{str(v.recommended).lower()}">'
                f'<text x="{label_w - 8}" y="{y + 12}" text-anchor="end">{escape(v.value)}</text>'
                f'<rect x="{label_w}" y="{y + 2}" width="{bar_w}" height="{row_h - 5}" fill="{TRACK}"/>'
                f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 5}" '
                f'fill="{BEST if v.recommended else OTHER}"/>'
                f'<text x="{label_w + bar_w + 6}" y="{y + 12}" class="freq">{v.p_best:.2f}{mark}</text>'
                f"<title>{escape(seg)} · {escape(v.value)}: P(best) {v.p_best:.4f}</title></g>"
            )
            y += row_h
    out.append("</svg>")
    return "".join(out)


def _html_table(rows: list[list[object]], columns: list[str], klass: str) -> str:
    """A small table: numbers right-aligned (floats to 4 digits, nan blank, counts with separators), text escaped."""

    def cell(v: object) -> str:
        if isinstance(v, int) and not isinstance(v, bool):
            return f'<td class="num">{v:,}</td>'
        if isinstance(v, float):
            return "<td></td>" if math.isnan(v) else f'<td class="num">{v:.4g}</td>'
        return f"<td>{escape(v)}</td>"

    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f'<table class="{klass}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def risk_table(pair: PairDecision) -> str:
    """Per segment and value: the do-mean, P(best), expected loss (risk) and lift with its interval."""
    rows: list[list[object]] = []
    nan = math.nan
    for d, values in zip(pair.decisions, pair.values):
        chosen = {v.value: v for v in d.values}
        for value in values:
            v = chosen.get(value)
            if v is None:
                rows.append([segment_label(d), value, nan, nan, nan, nan, "", f"no decision: {d.explanation}"])
                continue
            interval = "baseline" if value == d.baseline else f"[{v.lift_low:+.4f}, {v.lift_high:+.4f}]"
            verdict = "★ recommended" if v.recommended else ""
            rows.append([segment_label(d), value, v.mean, v.p_best, v.expected_loss, v.lift, interval, verdict])
    y = pair.outcome
    columns = ["segment", "value", f"P({y}=1 | do)", "P(best)", "expected loss", "lift", f"lift {LEVEL:.0%}", ""]
    return _html_table(rows, columns, "decision")


def lift_svg(pair: PairDecision) -> str:
    """Each value's lift over the baseline with its replicate interval, per segment, on one axis with 0 marked."""
    rows = [
        {
            "estimand": "ate",
            "method": "bn_do",
            "treatment_value": v.value,
            "baseline_value": d.baseline,
            "segment": None if d.segment == ALL else segment_label(d),
            "estimate": v.lift,
            "ci_low": v.lift_low,
            "ci_high": v.lift_high,
        }
        for d in pair.decisions
        for v in d.values
        if v.value != d.baseline
    ]
    title = f"lift on P({pair.outcome}=1) over the baseline ({LEVEL:.0%} replicate intervals)"
    return interval_svg(pd.DataFrame(rows), title, zero_line=True) if rows else ""


def _interval(v: PolicyValue) -> str:
    return "" if math.isnan(v.ci_low) else f"[{v.ci_low:.4f}, {v.ci_high:.4f}]"


def policy_table(pair: PairDecision) -> str:
    """The segment policy valued by the network and by DR on the log, side by side, and deploying one value to all."""
    if not pair.policy_values:
        return '<p class="note">no segment-policy values stored for this pair</p>'
    first = next((v for v in pair.policy_values if v.policy), pair.policy_values[0])
    if not first.policy:
        return f'<p class="note">no segment policy: {escape(first.explanation)}</p>'
    policy = ", ".join(f"{first.segment}={s} → {v}" for s, v in sorted(first.policy.items()))
    rows: list[list[object]] = [
        [METHOD_NAMES.get(v.method, v.method), v.estimate, _interval(v), v.n_rows, v.explanation or ""]
        for v in pair.policy_values
    ]
    best = pair.population.recommended if pair.population is not None else None
    if best is not None:
        rows.append([f"deploy {best.value} to everyone (network)", best.mean, "", "", ""])
    columns = [
        "valued by",
        f"P({pair.outcome}=1)",
        f"{LEVEL:.0%} interval",
        "log rows",
        "why no number",
    ]
    return f"<p>Segment policy: {escape(policy)}</p>" + _html_table(rows, columns, "policy-value")


def allocation_table(pair: PairDecision) -> str:
    """The allocation `recdo decide --policy-out` would write: per segment value, a serving probability per value."""
    a = pair.allocation
    if a is None:
        return f'<p class="note">no allocation: {escape(pair.allocation_note)}</p>'
    values = list(a.default)
    rows: list[list[object]] = [[key, *(probs.get(v, math.nan) for v in values)] for key, probs in a.allocation.items()]
    rows.append(["(default: a segment value not listed)", *(a.default[v] for v in values)])
    head = a.segment_column or "segment"
    out = [
        f"<p>Allocation (Thompson sampling from the replicates, exploration floor {a.floor:g}: each value is served "
        f"≥ {a.floor / len(values):.4g}), as <code>recdo decide --policy-out FILE</code> writes it "
        "(docs/allocation.md):</p>",
        _html_table(rows, [head, *values], "allocation"),
    ]
    out += [f'<p class="note">{escape(n)}</p>' for n in a.notes]
    return "".join(out)


def decision_section(replicates: pd.DataFrame, policy_values: pd.DataFrame, run_id: str) -> list[str]:
    """'Decision': per (treatment, outcome), the sentences, P(best) bars, risk and lift, policy values, allocation."""
    out = ['<h2 id="decision">Decision</h2>']
    pairs = pair_decisions(replicates, policy_values, run_id)
    if not pairs:
        out.append(
            '<p class="note">no bootstrap replicates stored for this run (it was stored before `recdo decide` '
            "existed, or it failed before its effects): no decision; run it again with `recdo run`</p>"
        )
        return out
    out.append(
        '<p class="note">From the run\'s stored bootstrap replicates (each relearns the network), as '
        "<code>recdo decide</code> computes them: P(best) is the share of replicates in which a value has the "
        "highest P(outcome=1 | do(value)); the expected loss (risk) is what choosing it gives up on average; the "
        "recommended value has the smallest expected loss.</p>"
    )
    for pair in pairs:
        out.append(f"<h3>which {escape(pair.treatment)} to deploy for {escape(pair.outcome)}</h3>")
        out.append('<ul class="decision">' + "".join(f"<li>{escape(d.sentence())}</li>" for d in pair.decisions))
        out.append("</ul>")
        out.append(pbest_svg(pair))
        out.append(risk_table(pair))
        out.append(lift_svg(pair))
        out.append(policy_table(pair))
        out.append(allocation_table(pair))
    return out


def _md(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")  # a pipe inside a value would split the markdown cell


def decision_markdown(run_id: str, replicates: pd.DataFrame, policy_values: pd.DataFrame) -> str:
    """The `decision` artifact: the recommendation sentences per pair, then one table of every decision row."""
    pairs = pair_decisions(replicates, policy_values, run_id)
    out = [f"# recdo decision of run `{run_id}`", ""]
    if not pairs:
        out.append(f"No bootstrap replicates stored for run `{run_id}`: no decision.")
        return "\n".join(out) + "\n"
    for pair in pairs:
        out += [f"## which {pair.treatment} to deploy for {pair.outcome}", ""]
        out += [f"- {d.sentence()}" for d in pair.decisions]
        out.append("")
    columns = [*ROW_KEYS, "recommended"]
    out += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_md(r[c]) for c in columns) + " |" for r in decision_rows(pairs)]
    out += ["", f"Allocation file: `recdo decide --run-id {run_id} --policy-out FILE` (docs/allocation.md)."]
    return "\n".join(out) + "\n"
