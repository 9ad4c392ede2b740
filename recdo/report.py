"""`recdo report`: one self-contained HTML page (inline SVG, no scripts, no fetches) of what a results database holds."""

from __future__ import annotations

import argparse
import html
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import pandas as pd

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
TREATMENT_FILL, OUTCOME_FILL, NODE_FILL = "#ffd8a8", "#a5d8ff", "#f1f3f5"
DASHED = ' stroke-dasharray="5 4"'


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, read from the database in one go."""

    db: str
    run: dict  # the run the DAG and the estimate panels are about
    runs: pd.DataFrame  # every run, with its partition
    edges: pd.DataFrame
    estimates: pd.DataFrame
    over_time: pd.DataFrame  # bn_do rows of the latest completed run of each dated partition
    validation: pd.DataFrame
    quarantine: pd.DataFrame  # rule, n for the run
    quarantine_by_run: pd.DataFrame
    metrics: pd.DataFrame


def _df(con, sql: str, args: Sequence = ()) -> pd.DataFrame:
    return con.execute(sql, list(args)).df()


def load(con, db: str, run_id: str | None = None) -> ReportData:
    """Read the focus run (given, else the latest completed one) and the per-partition history."""
    runs = _df(con, "SELECT * FROM runs ORDER BY started_at")
    if runs.empty:
        raise ValueError(f"{db!r} holds no runs; run `recdo run --db {db}` first")
    runs["partition"] = [(json.loads(p) if isinstance(p, str) else (p or {})).get("partition") or "all" for p in runs["params"]]
    if run_id is None:
        done = runs[runs.status == "completed"]
        if done.empty:
            raise ValueError(f"{db!r} holds no completed run (statuses: {sorted(runs.status.dropna().unique())}); pass --run-id")
        run_id = done.sort_values("finished_at").run_id.iloc[-1]
    elif run_id not in set(runs.run_id):
        raise ValueError(f"run {run_id!r} is not in {db!r}; known runs: {list(runs.run_id)[-10:]}")
    run = runs[runs.run_id == run_id].iloc[0].to_dict()

    latest = (
        runs[(runs.status == "completed") & (runs.partition != "all")]
        .sort_values("finished_at")
        .groupby("partition")
        .tail(1)
    )
    over_time = pd.DataFrame()
    if len(latest):
        ids = list(latest.run_id)
        marks = ",".join("?" * len(ids))
        over_time = _df(
            con,
            f'SELECT run_id, "partition", treatment, treatment_value, baseline_value, outcome, estimand, estimate, ci_low, ci_high '
            f"FROM interventions WHERE method = 'bn_do' AND estimand IN ('ate', 'interventional_mean') AND run_id IN ({marks})",
            ids,
        )
    q_by_run = _df(con, "SELECT run_id, count(*) AS n_quarantined FROM quarantine GROUP BY run_id")
    return ReportData(
        db=db,
        run=run,
        runs=runs,
        edges=_df(con, "SELECT * FROM bn_edges WHERE run_id = ?", [run_id]),
        estimates=_df(con, "SELECT * FROM interventions WHERE run_id = ?", [run_id]),
        over_time=over_time,
        validation=_df(con, "SELECT * FROM validation_results WHERE run_id = ?", [run_id]),
        quarantine=_df(con, "SELECT rule, count(*) AS n FROM quarantine WHERE run_id = ? GROUP BY rule ORDER BY n DESC", [run_id]),
        quarantine_by_run=q_by_run,
        metrics=_df(con, "SELECT * FROM scorer_metrics WHERE run_id = ? ORDER BY split, metric", [run_id]),
    )


# ---------------------------------------------------------------- SVG pieces

def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(float(x))


def _layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering: every edge points down a layer or more (bounded, so a stray cycle cannot loop)."""
    layer = {n: 0 for n in nodes}
    for _ in range(len(nodes)):
        changed = False
        for u, v in edges:
            if layer[v] < layer[u] + 1 and layer[u] + 1 < len(nodes):
                layer[v] = layer[u] + 1
                changed = True
        if not changed:
            break
    return layer


def dag_svg(edges: pd.DataFrame, treatment: str | None, outcome: str | None) -> str:
    """The learned network, layered top to bottom; edge width and label give the bootstrap frequency."""
    # Edges only bootstrap replicates found (in_network false) are drawn dashed: they are not in the network used.
    pairs = [
        (r.source_node, r.target_node, float(r.frequency) if _finite(r.frequency) else 1.0, getattr(r, "in_network", True) is not False)
        for r in edges.itertuples()
    ]
    nodes = sorted({n for u, v, _, _ in pairs for n in (u, v)} | {n for n in (treatment, outcome) if n})
    if not nodes:
        return '<p class="note">no edges stored for this run</p>'
    layer = _layers(nodes, [(u, v) for u, v, _, used in pairs if used])
    rows: dict[int, list[str]] = defaultdict(list)
    for n in nodes:
        rows[layer[n]].append(n)
    box_w = max(90, 8 * max(len(n) for n in nodes) + 20)
    gap_x, box_h, gap_y = 24, 30, 70
    width = max(len(r) for r in rows.values()) * (box_w + gap_x) + gap_x + box_w  # room for bent edges
    height = len(rows) * (box_h + gap_y) + 20
    pos = {}
    for k, names in rows.items():
        row_w = len(names) * (box_w + gap_x) - gap_x
        x0 = (width - row_w) / 2
        for i, n in enumerate(sorted(names)):
            pos[n] = (x0 + i * (box_w + gap_x), 20 + k * (box_h + gap_y))
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="learned DAG">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#495057"/></marker></defs>',
    ]
    for u, v, freq, used in pairs:
        (ux, uy), (vx, vy) = pos[u], pos[v]
        x1, y1 = ux + box_w / 2, uy + box_h
        x2, y2 = vx + box_w / 2, vy
        if vy <= uy:  # same layer or upwards (only when the stored graph is not acyclic): side to side
            y1, y2 = uy + box_h / 2, vy + box_h / 2
            x1, x2 = (ux + box_w, vx) if vx > ux else (ux, vx + box_w)
        key = " edge-key" if (u, v) == (treatment, outcome) else ""
        # An edge that skips a layer bends to the side, so it does not run through the boxes between.
        bend = box_w * 0.9 if vy - uy > box_h + gap_y else 0.0
        cx, cy = (x1 + x2) / 2 + bend, (y1 + y2) / 2
        parts.append(
            f'<g class="edge{key}"><path d="M {x1:.1f} {y1:.1f} Q {cx:.1f} {cy:.1f} {x2:.1f} {y2:.1f}" fill="none" stroke="#495057" '
            f'stroke-opacity="{0.35 + 0.65 * freq:.2f}" stroke-width="{0.8 + 3.2 * freq:.2f}" marker-end="url(#arrow)"'
            f"{'' if used else DASHED}/>"
            f'<text x="{(x1 + x2) / 2 + bend / 2 + 4:.1f}" y="{cy:.1f}" class="freq">{freq:.2f}</text>'
            f"<title>{_e(u)} → {_e(v)}: in {freq:.0%} of bootstrap structures</title></g>"
        )
    for n, (x, y) in pos.items():
        fill = TREATMENT_FILL if n == treatment else OUTCOME_FILL if n == outcome else NODE_FILL
        parts.append(
            f'<g class="node"><rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="8" fill="{fill}" stroke="#343a40"/>'
            f'<text x="{x + box_w / 2:.1f}" y="{y + box_h / 2 + 4:.1f}" text-anchor="middle">{_e(n)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _label(r) -> str:
    segment = getattr(r, "segment", None)
    where = f" | {segment}" if isinstance(segment, str) and segment else ""
    if r.estimand in ("ate", "cate"):
        return f"{r.estimand.upper()} {r.treatment_value} − {r.baseline_value}{where} · {r.method}"
    return f"{r.treatment_value}{where} · {r.method}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / n)) if span > 0 else 1.0
    for mult in (1, 2, 2.5, 5, 10):
        if span / (step * mult) <= n:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step) + 1)]


def interval_svg(rows: pd.DataFrame, title: str, zero_line: bool) -> str:
    """A forest plot: one line per estimate, the point and its 95% interval on a shared axis."""
    rows = rows[[_finite(v) for v in rows.estimate]]
    if rows.empty:
        return f'<p class="note">{_e(title)}: no finite estimates</p>'
    lows = [v if _finite(v) else e for v, e in zip(rows.ci_low, rows.estimate)]
    highs = [v if _finite(v) else e for v, e in zip(rows.ci_high, rows.estimate)]
    lo, hi = min(lows), max(highs)
    if zero_line:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 0.01
    lo, hi = lo - pad, hi + pad
    label_w = max(160, 7 * max(len(_label(r)) for r in rows.itertuples()) + 16)  # ~7 px per character at 12 px
    plot_w, row_h = 460, 22
    width, height = label_w + plot_w + 30, 40 + row_h * len(rows) + 30

    def sx(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    parts = [
        f'<svg class="intervals" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
        f'<text x="4" y="16" class="title">{_e(title)}</text>',
    ]
    axis_y = 30 + row_h * len(rows)
    methods = sorted(set(rows.method))  # one colour per method within a panel
    for t in _ticks(lo, hi):
        parts.append(
            f'<line x1="{sx(t):.1f}" y1="26" x2="{sx(t):.1f}" y2="{axis_y}" stroke="#e9ecef"/>'
            f'<text x="{sx(t):.1f}" y="{axis_y + 16}" text-anchor="middle" class="tick">{t:.4g}</text>'
        )
    if zero_line:
        parts.append(f'<line x1="{sx(0):.1f}" y1="26" x2="{sx(0):.1f}" y2="{axis_y}" stroke="#868e96" stroke-dasharray="4 3"/>')
    for i, (r, low, high) in enumerate(zip(rows.itertuples(), lows, highs)):
        y = 40 + i * row_h
        colour = PALETTE[methods.index(r.method) % len(PALETTE)]
        parts.append(
            f'<g class="interval"><text x="{label_w - 8}" y="{y + 4}" text-anchor="end">{_e(_label(r))}</text>'
            f'<line x1="{sx(low):.1f}" y1="{y}" x2="{sx(high):.1f}" y2="{y}" stroke="{colour}" stroke-width="2.5"/>'
            f'<circle cx="{sx(r.estimate):.1f}" cy="{y}" r="4.5" fill="{colour}"/>'
            f"<title>{_e(_label(r))}: {r.estimate:.5f} [{low:.5f}, {high:.5f}]</title></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def over_time_svg(rows: pd.DataFrame, title: str) -> str:
    """Per partition (x, in date order): each treatment value's estimate and interval, one colour per value."""
    rows = rows[[_finite(v) for v in rows.estimate]]
    if rows.empty:
        return f'<p class="note">{_e(title)}: no finite estimates</p>'
    parts_x = sorted(rows.partition.unique())
    values = sorted(rows.treatment_value.astype(str).unique())
    lo = min(min(rows.ci_low.where(rows.ci_low.map(_finite), rows.estimate)), 0.0)
    hi = max(max(rows.ci_high.where(rows.ci_high.map(_finite), rows.estimate)), 0.0)
    pad = (hi - lo) * 0.08 or 0.01
    lo, hi = lo - pad, hi + pad
    left, plot_w, plot_h, top = 70, max(300, 90 * len(parts_x)), 240, 30
    width, height = left + plot_w + 160, top + plot_h + 50

    def sx(i: int, j: int) -> float:
        slot = plot_w / len(parts_x)
        return left + slot * (i + 0.5) + (j - (len(values) - 1) / 2) * min(10, slot / (len(values) + 1))

    def sy(v: float) -> float:
        return top + (hi - v) / (hi - lo) * plot_h

    out = [
        f'<svg class="over-time" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
        f'<text x="4" y="16" class="title">{_e(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ced4da"/>',
    ]
    for t in _ticks(lo, hi):
        out.append(
            f'<line x1="{left}" y1="{sy(t):.1f}" x2="{left + plot_w}" y2="{sy(t):.1f}" stroke="#f1f3f5"/>'
            f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">{t:.3g}</text>'
        )
    out.append(f'<line x1="{left}" y1="{sy(0):.1f}" x2="{left + plot_w}" y2="{sy(0):.1f}" stroke="#868e96" stroke-dasharray="4 3"/>')
    for i, p in enumerate(parts_x):
        out.append(f'<text x="{sx(i, (len(values) - 1) / 2):.1f}" y="{top + plot_h + 18}" text-anchor="middle" class="tick">{_e(p)}</text>')
    for j, value in enumerate(values):
        colour = PALETTE[j % len(PALETTE)]
        series = rows[rows.treatment_value.astype(str) == value]
        points = []
        for r in series.itertuples():
            i = parts_x.index(r.partition)
            x = sx(i, j)
            low = r.ci_low if _finite(r.ci_low) else r.estimate
            high = r.ci_high if _finite(r.ci_high) else r.estimate
            points.append((i, x, sy(r.estimate)))
            out.append(
                f'<g class="point"><line x1="{x:.1f}" y1="{sy(low):.1f}" x2="{x:.1f}" y2="{sy(high):.1f}" stroke="{colour}" stroke-width="2"/>'
                f'<circle cx="{x:.1f}" cy="{sy(r.estimate):.1f}" r="4" fill="{colour}"/>'
                f"<title>{_e(p)} {_e(value)}: {r.estimate:.5f} [{low:.5f}, {high:.5f}]</title></g>"
            )
        points.sort()
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for _, x, y in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-opacity="0.5"/>')
        out.append(
            f'<rect x="{left + plot_w + 16}" y="{top + 8 + 18 * j}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{left + plot_w + 34}" y="{top + 18 + 18 * j}">{_e(value)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _table(frame: pd.DataFrame, columns: Sequence[str], klass: str = "") -> str:
    if frame.empty:
        return '<p class="note">none</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for r in frame[list(columns)].itertuples(index=False):
        cells = []
        for v in r:
            if isinstance(v, float):
                cells.append(f'<td class="num">{v:.5g}</td>')
            else:
                cells.append(f"<td>{_e('' if v is None or (isinstance(v, float) and math.isnan(v)) else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{klass}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#212529;background:#fff}
h1{font-size:24px}h2{font-size:19px;border-bottom:1px solid #dee2e6;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #dee2e6;padding:3px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f8f9fa}.note{color:#868e96}
svg{display:block;margin:8px 0;font-size:12px}svg text{fill:#212529}svg .title{font-weight:600;font-size:13px}
svg .tick,svg .freq{fill:#868e96;font-size:11px}.bad{color:#c92a2a;font-weight:600}.ok{color:#2b8a3e}
code{background:#f1f3f5;padding:1px 4px;border-radius:3px}.lineage td:first-child{font-weight:600}
"""


def render(data: ReportData) -> str:
    """The page as one string of HTML: inline CSS and SVG, no scripts, no external resources."""
    run = data.run
    rid = run["run_id"]
    params = json.loads(run["params"]) if isinstance(run.get("params"), str) else (run.get("params") or {})
    lineage = pd.DataFrame(
        [
            ("run id", rid),
            ("status", run.get("status")),
            ("partition", run.get("partition")),
            ("data", f"{run.get('source')} (sha256 {run.get('data_hash')})"),
            ("code version", run.get("code_version")),
            ("Prefect flow run", run.get("flow_run_id")),
            ("started / finished", f"{run.get('started_at')} / {run.get('finished_at')}"),
            ("parameters", json.dumps({k: v for k, v in params.items() if k not in ("db", "work_dir")}, sort_keys=True)),
        ],
        columns=["field", "value"],
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>recdo report: {_e(rid)}</title><style>{CSS}</style></head><body>",
        f"<h1>recdo report: run <code>{_e(rid)}</code></h1>",
        f'<p class="note">from <code>{_e(data.db)}</code>, written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; '
        f"{len(data.runs)} runs stored. Every number below traces to the lineage table.</p>",
        '<h2 id="lineage">Lineage</h2>',
        _table(lineage, ["field", "value"], "lineage"),
    ]

    out.append('<h2 id="dag">Learned network</h2>')
    out.append(
        '<p class="note">Edges point from cause to effect; the width and the number give the share of bootstrap '
        "replicates whose relearned structure held the edge. Orange: treatment, blue: outcome.</p>"
    )
    edges = data.edges
    if "treatment" in edges.columns and edges.treatment.notna().any():
        groups = list(edges.groupby(["treatment", "outcome"], sort=True))
    else:
        first = data.estimates.iloc[0] if len(data.estimates) else None
        groups = [((first.treatment if first is not None else None, first.outcome if first is not None else None), edges)]
    for (treatment, outcome), frame in groups:
        out.append(f"<h3>network for {_e(treatment)} → {_e(outcome)}</h3>")
        out.append(dag_svg(frame, treatment, outcome))

    out.append('<h2 id="effects">Effect estimates (95% intervals)</h2>')
    est = data.estimates
    if est.empty:
        out.append('<p class="note">no estimates stored for this run</p>')
    for (treatment, outcome), frame in est.groupby(["treatment", "outcome"], sort=True):
        out.append(f"<h3>what {_e(treatment)} does to {_e(outcome)}</h3>")
        order = [c for c in ("treatment_value", "segment", "method") if c in frame.columns]
        means = frame[~frame.estimand.isin(["ate", "cate"])].sort_values(order)
        ates = frame[frame.estimand == "ate"].sort_values(order)
        cates = frame[frame.estimand == "cate"].sort_values(order)
        out.append(interval_svg(means, f"P({outcome}=1) under each {treatment} value", zero_line=False))
        out.append(interval_svg(ates, f"ATE against the baseline ({outcome})", zero_line=True))
        if len(cates):
            out.append(interval_svg(cates, f"conditional ATE by segment ({outcome})", zero_line=True))
        missing = frame[frame.estimate.isna()]
        for r in missing.itertuples():
            out.append(f'<p class="note">{_e(_label(r))}: no number ({_e(getattr(r, "explanation", None) or "not estimable")})</p>')

    out.append('<h2 id="partitions">Per partition over time (bn_do, latest completed run of each partition)</h2>')
    ot = data.over_time
    if ot.empty:
        out.append('<p class="note">no partitioned runs yet: run a backfill (`recdo backfill`) or drop files into a watched folder</p>')
    else:
        for (treatment, outcome, estimand), frame in ot.groupby(["treatment", "outcome", "estimand"], sort=True):
            name = "ATE against the baseline" if estimand == "ate" else "interventional mean"
            out.append(over_time_svg(frame, f"{treatment} → {outcome}: {name}, by partition"))

    out.append('<h2 id="validation">Validation and quarantine</h2>')
    v = data.validation
    if not v.empty:
        failed = int((~v.success.astype(bool)).sum())
        klass = "bad" if failed else "ok"
        out.append(f'<p class="{klass}">{len(v) - failed} of {len(v)} expectations passed on this run.</p>')
        cols = [c for c in ("expectation", "column_name", "success", "observed_value", "unexpected_count") if c in v.columns]
        out.append(_table(v, cols))
    out.append("<h3>quarantined rows of this run, by rule</h3>")
    out.append(_table(data.quarantine, ["rule", "n"]))
    out.append("<h3>every run</h3>")
    runs = data.runs.merge(data.quarantine_by_run, on="run_id", how="left").fillna({"n_quarantined": 0})
    runs["n_quarantined"] = runs["n_quarantined"].astype(int)
    out.append(_table(runs.sort_values("started_at"), ["run_id", "partition", "status", "started_at", "n_quarantined", "code_version"]))

    out.append('<h2 id="scorer">Scorer metrics</h2>')
    out.append(_table(data.metrics, [c for c in ("backbone", "split", "metric", "value") if c in data.metrics.columns]))
    out.append("</body></html>")
    return "\n".join(out)


def write_report(db: str | Path, out: str | Path, run_id: str | None = None, con=None) -> Path:
    """Read the database (read-only unless a connection is passed) and write the page to `out`."""
    import store

    out = Path(out)
    if con is None:
        with store.connect(db, read_only=True) as ro:
            data = load(ro, str(db), run_id)
    else:
        data = load(con, str(db), run_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(render(data), encoding="utf-8")
    tmp.replace(out)
    return out


def cmd_report(args: argparse.Namespace) -> int:
    try:
        path = write_report(args.db, args.out, args.run_id)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"recdo: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {path.resolve()} (open it in a browser; it needs no network)")
    return 0


def add_parser(sub) -> None:
    rep = sub.add_parser("report", help="write one self-contained HTML report of a results database")
    rep.add_argument("--db", default="recdo.duckdb")
    rep.add_argument("--out", default="report.html")
    rep.add_argument("--run-id", default=None, help="the run the DAG and estimate panels show; default: the latest completed run")
    rep.set_defaults(func=cmd_report)
