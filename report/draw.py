"""The report's inline SVG: the learned DAG, forest plots of the estimates, and estimates over partitions."""

from __future__ import annotations

import html
import math
from collections import defaultdict
from typing import Any

import pandas as pd

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
TREATMENT_FILL, OUTCOME_FILL, NODE_FILL = "#ffd8a8", "#a5d8ff", "#f1f3f5"
DASHED = ' stroke-dasharray="5 4"'


def escape(x: object) -> str:
    """x as text safe inside an HTML or SVG element and inside a quoted attribute."""
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
        (
            r.source_node,
            r.target_node,
            float(r.frequency) if _finite(r.frequency) else 1.0,
            getattr(r, "in_network", True) is not False,
        )
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
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="learned DAG">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
        'markerWidth="10" markerHeight="10" orient="auto-start-reverse">'
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
            f'<g class="edge{key}"><path d="M {x1:.1f} {y1:.1f} Q {cx:.1f} {cy:.1f} {x2:.1f} {y2:.1f}" '
            'fill="none" stroke="#495057" '
            f'stroke-opacity="{0.35 + 0.65 * freq:.2f}" stroke-width="{0.8 + 3.2 * freq:.2f}" marker-end="url(#arrow)"'
            f"{'' if used else DASHED}/>"
            f'<text x="{(x1 + x2) / 2 + bend / 2 + 4:.1f}" y="{cy:.1f}" class="freq">{freq:.2f}</text>'
            f"<title>{escape(u)} → {escape(v)}: in {freq:.0%} of bootstrap structures</title></g>"
        )
    for n, (x, y) in pos.items():
        fill = TREATMENT_FILL if n == treatment else OUTCOME_FILL if n == outcome else NODE_FILL
        parts.append(
            f'<g class="node"><rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="8" fill="{fill}" '
            'stroke="#343a40"/>'
            f'<text x="{x + box_w / 2:.1f}" y="{y + box_h / 2 + 4:.1f}" text-anchor="middle">{escape(n)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def estimate_label(r: Any) -> str:
    """How the page names one estimate row (an interventions itertuples row): what was compared, and by which method."""
    segment = getattr(r, "segment", None)
    where = f" | {segment}" if isinstance(segment, str) and segment else ""
    if r.estimand in ("ate", "cate"):
        return f"{r.estimand.upper()} {r.treatment_value} − {r.baseline_value}{where} · {r.method}"
    return f"{r.treatment_value}{where} · {r.method}"


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """At most about n round axis values (steps of 1, 2, 2.5 or 5 times a power of ten) between lo and hi."""
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
        return f'<p class="note">{escape(title)}: no finite estimates</p>'
    lows = [v if _finite(v) else e for v, e in zip(rows.ci_low, rows.estimate)]
    highs = [v if _finite(v) else e for v, e in zip(rows.ci_high, rows.estimate)]
    lo, hi = min(lows), max(highs)
    if zero_line:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 0.01
    lo, hi = lo - pad, hi + pad
    # ~7 px per character at 12 px
    label_w = max(160, 7 * max(len(estimate_label(r)) for r in rows.itertuples()) + 16)
    plot_w, row_h = 460, 22
    width, height = label_w + plot_w + 30, 40 + row_h * len(rows) + 30

    def sx(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    parts = [
        f'<svg class="intervals" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" class="title">{escape(title)}</text>',
    ]
    axis_y = 30 + row_h * len(rows)
    methods = sorted(set(rows.method))  # one colour per method within a panel
    for t in ticks(lo, hi):
        parts.append(
            f'<line x1="{sx(t):.1f}" y1="26" x2="{sx(t):.1f}" y2="{axis_y}" stroke="#e9ecef"/>'
            f'<text x="{sx(t):.1f}" y="{axis_y + 16}" text-anchor="middle" class="tick">{t:.4g}</text>'
        )
    if zero_line:
        parts.append(
            f'<line x1="{sx(0):.1f}" y1="26" x2="{sx(0):.1f}" y2="{axis_y}" stroke="#868e96" stroke-dasharray="4 3"/>'
        )
    for i, (r, low, high) in enumerate(zip(rows.itertuples(), lows, highs)):
        y = 40 + i * row_h
        colour = PALETTE[methods.index(r.method) % len(PALETTE)]
        parts.append(
            f'<g class="interval"><text x="{label_w - 8}" y="{y + 4}" text-anchor="end">'
            f"{escape(estimate_label(r))}</text>"
            f'<line x1="{sx(low):.1f}" y1="{y}" x2="{sx(high):.1f}" y2="{y}" stroke="{colour}" stroke-width="2.5"/>'
            f'<circle cx="{sx(r.estimate):.1f}" cy="{y}" r="4.5" fill="{colour}"/>'
            f"<title>{escape(estimate_label(r))}: {r.estimate:.5f} [{low:.5f}, {high:.5f}]</title></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def over_time_svg(rows: pd.DataFrame, title: str) -> str:
    """Per partition (x, in date order): each treatment value's estimate and interval, one colour per value."""
    rows = rows[[_finite(v) for v in rows.estimate]]
    if rows.empty:
        return f'<p class="note">{escape(title)}: no finite estimates</p>'
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
        f'<svg class="over-time" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" class="title">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ced4da"/>',
    ]
    for t in ticks(lo, hi):
        out.append(
            f'<line x1="{left}" y1="{sy(t):.1f}" x2="{left + plot_w}" y2="{sy(t):.1f}" stroke="#f1f3f5"/>'
            f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">{t:.3g}</text>'
        )
    out.append(
        f'<line x1="{left}" y1="{sy(0):.1f}" x2="{left + plot_w}" y2="{sy(0):.1f}" stroke="#868e96" '
        'stroke-dasharray="4 3"/>'
    )
    for i, p in enumerate(parts_x):
        out.append(
            f'<text x="{sx(i, (len(values) - 1) / 2):.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
            f'class="tick">{escape(p)}</text>'
        )
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
                f'<g class="point"><line x1="{x:.1f}" y1="{sy(low):.1f}" x2="{x:.1f}" y2="{sy(high):.1f}" '
                f'stroke="{colour}" stroke-width="2"/>'
                f'<circle cx="{x:.1f}" cy="{sy(r.estimate):.1f}" r="4" fill="{colour}"/>'
                f"<title>{escape(r.partition)} {escape(value)}: {r.estimate:.5f} [{low:.5f}, {high:.5f}]</title></g>"
            )
        points.sort()
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for _, x, y in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-opacity="0.5"/>')
        out.append(
            f'<rect x="{left + plot_w + 16}" y="{top + 8 + 18 * j}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{left + plot_w + 34}" y="{top + 18 + 18 * j}">{escape(value)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
