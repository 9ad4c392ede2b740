"""The report page: one self-contained HTML file (inline CSS and SVG, no scripts, no fetches) of a results database."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from common.files import atomic_write_text
from report.data import ReportData, load
from report.draw import dag_svg, escape, estimate_label, interval_svg, over_time_svg

if TYPE_CHECKING:
    import duckdb


def _table(frame: pd.DataFrame, columns: Sequence[str], klass: str = "") -> str:
    """An HTML table of `columns` of `frame`, floats right-aligned to 5 significant digits."""
    if frame.empty:
        return '<p class="note">none</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for r in frame[list(columns)].itertuples(index=False):
        cells = []
        for v in r:
            if isinstance(v, float):
                cells.append(f'<td class="num">{v:.5g}</td>')
            else:
                cells.append(f"<td>{escape('' if v is None or (isinstance(v, float) and math.isnan(v)) else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{klass}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


CSS = (
    "\n"
    'body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;'
    "color:#212529;background:#fff}\n"
    "h1{font-size:24px}h2{font-size:19px;border-bottom:1px solid #dee2e6;padding-bottom:4px;margin-top:32px}"
    "h3{font-size:15px}\n"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0}"
    "th,td{border:1px solid #dee2e6;padding:3px 8px;text-align:left}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f8f9fa}.note{color:#868e96}\n"
    "svg{display:block;margin:8px 0;font-size:12px}svg text{fill:#212529}"
    "svg .title{font-weight:600;font-size:13px}\n"
    "svg .tick,svg .freq{fill:#868e96;font-size:11px}.bad{color:#c92a2a;font-weight:600}.ok{color:#2b8a3e}\n"
    "code{background:#f1f3f5;padding:1px 4px;border-radius:3px}.lineage td:first-child{font-weight:600}\n"
)


def render(data: ReportData) -> str:
    """The page as one string of HTML: inline CSS and SVG, no scripts, no external resources."""
    run = data.run
    rid = run["run_id"]
    params = json.loads(run["params"]) if isinstance(run.get("params"), str) else (run.get("params") or {})
    shown = {k: v for k, v in params.items() if k not in ("db", "work_dir")}
    lineage = pd.DataFrame(
        [
            ("run id", rid),
            ("status", run.get("status")),
            ("partition", run.get("partition")),
            ("data", f"{run.get('source')} (sha256 {run.get('data_hash')})"),
            ("code version", run.get("code_version")),
            ("Prefect flow run", run.get("flow_run_id")),
            ("started / finished", f"{run.get('started_at')} / {run.get('finished_at')}"),
            ("parameters", json.dumps(shown, sort_keys=True)),
        ],
        columns=["field", "value"],
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>recdo report: {escape(rid)}</title><style>{CSS}</style></head><body>",
        f"<h1>recdo report: run <code>{escape(rid)}</code></h1>",
        f'<p class="note">from <code>{escape(data.db)}</code>, '
        f"written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
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
        pair = (first.treatment, first.outcome) if first is not None else (None, None)
        groups = [(pair, edges)]
    for (treatment, outcome), frame in groups:
        out.append(f"<h3>network for {escape(treatment)} → {escape(outcome)}</h3>")
        out.append(dag_svg(frame, treatment, outcome))

    out.append('<h2 id="effects">Effect estimates (95% intervals)</h2>')
    est = data.estimates
    if est.empty:
        out.append('<p class="note">no estimates stored for this run</p>')
    for (treatment, outcome), frame in est.groupby(["treatment", "outcome"], sort=True):
        out.append(f"<h3>what {escape(treatment)} does to {escape(outcome)}</h3>")
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
            why = getattr(r, "explanation", None) or "not estimable"
            out.append(f'<p class="note">{escape(estimate_label(r))}: no number ({escape(why)})</p>')

    out.append('<h2 id="partitions">Per partition over time (bn_do, latest completed run of each partition)</h2>')
    ot = data.over_time
    if ot.empty:
        out.append(
            '<p class="note">no partitioned runs yet: run a backfill (`recdo backfill`) '
            "or drop files into a watched folder</p>"
        )
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
        wanted = ("expectation", "column_name", "success", "observed_value", "unexpected_count")
        cols = [c for c in wanted if c in v.columns]
        out.append(_table(v, cols))
    out.append("<h3>quarantined rows of this run, by rule</h3>")
    out.append(_table(data.quarantine, ["rule", "n"]))
    out.append("<h3>every run</h3>")
    runs = data.runs.merge(data.quarantine_by_run, on="run_id", how="left").fillna({"n_quarantined": 0})
    runs["n_quarantined"] = runs["n_quarantined"].astype(int)
    run_columns = ["run_id", "partition", "status", "started_at", "n_quarantined", "code_version"]
    out.append(_table(runs.sort_values("started_at"), run_columns))

    out.append('<h2 id="scorer">Scorer metrics</h2>')
    metric_columns = [c for c in ("backbone", "split", "metric", "value") if c in data.metrics.columns]
    out.append(_table(data.metrics, metric_columns))
    out.append("</body></html>")
    return "\n".join(out)


def write_report(
    db: str | Path, out: str | Path, run_id: str | None = None, con: duckdb.DuckDBPyConnection | None = None
) -> Path:
    """Read the database (read-only unless a connection is passed) and write the page to `out`."""
    import store

    out = Path(out)
    if con is None:
        with store.connect(db, read_only=True) as ro:
            data = load(ro, str(db), run_id)
    else:
        data = load(con, str(db), run_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render(data))  # a reader never opens a half-written page
    return out
