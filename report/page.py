"""The report page: one self-contained HTML file (inline CSS and SVG, no scripts, no fetches) of a results database."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from common.files import atomic_write_text
from report.dag import dag_svg
from report.data import ReportData, load
from report.decision import decision_section
from report.draw import escape, estimate_label, interval_svg, over_time_svg, sequential_svg

if TYPE_CHECKING:
    import duckdb


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _cell(v: object) -> str:
    """One table cell: numbers right-aligned (counts with thousands separators, floats to 5 digits), text escaped."""
    if _missing(v):
        return "<td></td>"
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return f'<td class="num">{int(v):,}</td>'
    if isinstance(v, float):
        return f'<td class="num">{v:.5g}</td>'
    return f"<td>{escape(v)}</td>"


def _table(frame: pd.DataFrame, columns: Sequence[str], klass: str = "") -> str:
    """An HTML table of `columns` of `frame`, numbers right-aligned, every value escaped."""
    if frame.empty:
        return '<p class="note">none</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = ["<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in frame[list(columns)].itertuples(index=False)]
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
    "svg .tick{fill:#868e96;font-size:11px}svg .freq{fill:#495057;font-size:11px}svg .legend-title{fill:#868e96}\n"
    ".bad{color:#c92a2a;font-weight:600}.ok{color:#2b8a3e}.counts{font-size:15px}\n"
    "code{background:#f1f3f5;padding:1px 4px;border-radius:3px}.lineage td:first-child{font-weight:600}\n"
)


def _count(v: object) -> int | None:
    return None if _missing(v) else int(v)  # type: ignore[call-overload]


def _share(part: int, whole: int) -> str:
    """part/whole as a percentage that never rounds a non-zero share down to 0%."""
    if part == 0:
        return "0%"
    return "<0.01%" if part / whole < 0.0001 else f"{part / whole:.2%}"


def counts_line(run: dict) -> str:
    """Rows in, processed and quarantined by the run (its `runs` row), and the share the gate rejected."""
    n_in, done, bad = (_count(run.get(k)) for k in ("rows_in", "rows_processed", "rows_quarantined"))
    if n_in is None or done is None or bad is None:
        return '<p class="counts note" id="counts">rows in / processed / quarantined: not recorded for this run</p>'
    share = escape(f"{_share(bad, n_in)} rejected" if n_in else "no rows read")
    line = (
        f'<p class="counts" id="counts">rows in <strong>{n_in:,}</strong> · processed <strong>{done:,}</strong> · '
        f'quarantined <strong class="{"bad" if bad else "ok"}">{bad:,}</strong> ({share})'
    )
    if n_in != done + bad:  # the gate promises rows_in = processed + quarantined; say so when a run broke it
        line += f' <span class="bad">{n_in - done - bad:,} rows unaccounted for (in ≠ processed + quarantined)</span>'
    return line + "</p>"


def _baseline(v: object) -> str | None:
    return None if _missing(v) else str(v)


def versus(treatment: object, baseline: str | None) -> str:
    """How a title names what an ATE compares against, e.g. "vs strategy=random"."""
    return f"vs {treatment}={baseline}" if baseline is not None else "vs a baseline the database does not record"


def by_baseline(frame: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """Contrast rows split by baseline value (one panel each, so every title names its one baseline)."""
    keys = frame.baseline_value.map(_baseline)
    groups: list[tuple[str | None, pd.DataFrame]] = [(b, frame[keys == b]) for b in sorted(set(keys.dropna()))]
    if keys.isna().any():
        groups.append((None, frame[keys.isna()]))
    return groups


def _first(frame: pd.DataFrame, column: str) -> str:
    """The partition of the first look whose interval excludes 0, or "never"."""
    hits = frame[frame[column].astype(bool)]
    return str(hits.partition.iloc[0]) if len(hits) else "never"


def monitoring_section(looks: pd.DataFrame) -> list[str]:
    """'Always-valid monitoring': per (treatment, outcome, baseline), the CS and the fixed interval at each look."""
    out = ['<h2 id="monitoring">Always-valid monitoring</h2>']
    if looks.empty:
        out.append(
            '<p class="note">no confidence sequences stored for this run '
            "(it has no ab_diff contrast, or was stored before monitoring)</p>"
        )
        return out
    n_looks = int(looks.look.max())
    if n_looks < 2:
        out.append(
            '<p class="note">skipped: this run is a single look (no earlier partition of the same experiment), '
            "so there is no sequence to monitor; each later partition's run adds one</p>"
        )
        return out
    alpha = float(looks.alpha.iloc[0])
    out.append(
        f'<p class="note">At each look (a partition, pooled with every earlier one of the same experiment): '
        f"ab_cs is the {1 - alpha:.0%} confidence sequence, which holds at every look at once, so a monitor may stop "
        f"at the first look where it excludes 0; ab_fixed is the fixed-horizon {1 - alpha:.0%} interval of the same "
        "rows, valid at one planned look only: checking it at every look inflates false positives.</p>"
    )
    for (treatment, outcome), frame in looks.groupby(["treatment", "outcome"], sort=True):
        for baseline, rows in by_baseline(frame):
            title = f"{treatment} → {outcome}: A/B difference {versus(treatment, baseline)}, by look"
            heading = f"what {treatment} does to {outcome} {versus(treatment, baseline)}"
            out.append(f"<h3>{escape(heading)}</h3>")
            out.append(sequential_svg(rows, title))
            last = rows.sort_values("look").groupby("treatment_value", sort=True)
            verdicts = pd.DataFrame(
                [
                    {
                        "treatment_value": value,
                        "looks": len(g),
                        "n_rows": int(g.n_rows.iloc[-1]),
                        "estimate": float(g.estimate.iloc[-1]),
                        "cs": f"[{g.cs_low.iloc[-1]:.5g}, {g.cs_high.iloc[-1]:.5g}]",
                        "fixed": f"[{g.fixed_low.iloc[-1]:.5g}, {g.fixed_high.iloc[-1]:.5g}]",
                        "CS first excludes 0": _first(g, "rejects_always_valid"),
                        "fixed first excludes 0": _first(g, "rejects_naive"),
                    }
                    for value, g in last
                ]
            )
            out.append(_table(verdicts, list(verdicts.columns), "monitoring"))
    return out


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
        counts_line(run),
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
        if ates.empty:
            out.append(f'<p class="note">no ATE of {escape(treatment)} on {escape(outcome)} stored</p>')
        for baseline, rows in by_baseline(ates):
            out.append(interval_svg(rows, f"ATE on {outcome} {versus(treatment, baseline)}", zero_line=True))
        for baseline, rows in by_baseline(cates):
            title = f"conditional ATE on {outcome} by segment {versus(treatment, baseline)}"
            out.append(interval_svg(rows, title, zero_line=True))
        missing = frame[frame.estimate.isna()]
        for r in missing.itertuples():
            why = getattr(r, "explanation", None) or "not estimable"
            out.append(f'<p class="note">{escape(estimate_label(r))}: no number ({escape(why)})</p>')

    out.extend(decision_section(data.replicates, data.policy_values, rid))

    out.append('<h2 id="partitions">Per partition over time (bn_do, latest completed run of each partition)</h2>')
    ot = data.over_time
    if ot.empty:
        out.append(
            '<p class="note">no partitioned runs yet: run a backfill (`recdo backfill`) '
            "or drop files into a watched folder</p>"
        )
    else:
        for (treatment, outcome, estimand), frame in ot.groupby(["treatment", "outcome", "estimand"], sort=True):
            if estimand != "ate":
                title = f"{treatment} → {outcome}: interventional mean P({outcome}=1), by partition"
                out.append(over_time_svg(frame, title))
                continue
            for baseline, rows in by_baseline(frame):
                title = f"{treatment} → {outcome}: ATE {versus(treatment, baseline)}, by partition"
                out.append(over_time_svg(rows, title))

    out.extend(monitoring_section(data.sequential))

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
    runs = runs.rename(columns={"n_quarantined": "quarantine_rows_stored"})
    counts = [
        c for c in ("rows_in", "rows_processed", "rows_quarantined") if c in runs.columns
    ]  # older files lack them
    for c in [*counts, "quarantine_rows_stored"]:
        runs[c] = runs[c].astype("Int64")  # counts print as 20,000 (and NULL as blank), not 2e+04
    run_columns = ["run_id", "partition", "status", "started_at", *counts, "quarantine_rows_stored", "code_version"]
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
