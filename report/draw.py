"""The report's inline SVG plots: forest plots of the estimates and estimates over partitions, coloured by method."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from report.palette import method_colour


def escape(x: object) -> str:
    """x as text safe inside an HTML or SVG element and inside a quoted attribute."""
    return html.escape(str(x), quote=True)


def finite(x: object) -> bool:
    """x is a real, finite number (None, NaN, inf and pd.NA are not)."""
    return isinstance(x, (int, float)) and math.isfinite(float(x))


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


def legend(methods: Sequence[str], x: float, y: float) -> tuple[str, float, float]:
    """A column of method swatches with its heading, top-left at (x, y): the SVG, its width and its height."""
    items = [f'<text x="{x:.0f}" y="{y + 10:.0f}" class="legend-title">method</text>']
    for k, m in enumerate(methods):
        top = y + 18 + 18 * k
        items.append(
            f'<g class="legend-item" data-method="{escape(m)}"><rect x="{x:.0f}" y="{top:.0f}" width="12" height="12" '
            f'fill="{method_colour(m)}"/><text x="{x + 18:.0f}" y="{top + 10:.0f}">{escape(m)}</text></g>'
        )
    width = 18 + 7 * max([len("method")] + [len(str(m)) for m in methods]) + 8
    return f'<g class="legend">{"".join(items)}</g>', width, 18 + 18 * len(methods)


def interval_svg(rows: pd.DataFrame, title: str, zero_line: bool) -> str:
    """A forest plot: one line per estimate, the point and its 95% interval on a shared axis, coloured by method."""
    rows = rows[[finite(v) for v in rows.estimate]]
    if rows.empty:
        return f'<p class="note">{escape(title)}: no finite estimates</p>'
    lows = [v if finite(v) else e for v, e in zip(rows.ci_low, rows.estimate)]
    highs = [v if finite(v) else e for v, e in zip(rows.ci_high, rows.estimate)]
    lo, hi = min(lows), max(highs)
    if zero_line:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 0.01
    lo, hi = lo - pad, hi + pad
    # ~7 px per character at 12 px
    label_w = max(160, 7 * max(len(estimate_label(r)) for r in rows.itertuples()) + 16)
    plot_w, row_h = 460, 22
    methods = sorted({str(m) for m in rows.method})
    key, key_w, key_h = legend(methods, label_w + plot_w + 24, 26) if len(methods) > 1 else ("", 0.0, 0.0)
    width = label_w + plot_w + 30 + key_w
    height = max(40 + row_h * len(rows) + 30, 26 + key_h + 10)

    def sx(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    parts = [
        f'<svg class="intervals" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" class="title">{escape(title)}</text>',
    ]
    axis_y = 30 + row_h * len(rows)
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
        colour = method_colour(r.method)
        parts.append(
            f'<g class="interval" data-method="{escape(r.method)}"><text x="{label_w - 8}" y="{y + 4}" '
            f'text-anchor="end">{escape(estimate_label(r))}</text>'
            f'<line x1="{sx(low):.1f}" y1="{y}" x2="{sx(high):.1f}" y2="{y}" stroke="{colour}" stroke-width="2.5"/>'
            f'<circle cx="{sx(r.estimate):.1f}" cy="{y}" r="4.5" fill="{colour}"/>'
            f"<title>{escape(estimate_label(r))}: {r.estimate:.5f} [{low:.5f}, {high:.5f}]</title></g>"
        )
    parts.append(key)
    parts.append("</svg>")
    return "".join(parts)


DASHES = ("", "6 3", "2 3", "9 3 2 3")  # one per treatment value over time, with the marker shape


def marker(k: int, x: float, y: float, colour: str) -> str:
    """The k-th point shape (circle, square, triangle, diamond, down-triangle) at (x, y)."""
    shape = k % 5
    if shape == 0:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>'
    if shape == 1:
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    corners = {
        2: ((0, -5.5), (5, 4), (-5, 4)),
        3: ((0, -5.5), (5.5, 0), (0, 5.5), (-5.5, 0)),
        4: ((0, 5.5), (5, -4), (-5, -4)),
    }[shape]
    points = " ".join(f"{x + dx:.1f},{y + dy:.1f}" for dx, dy in corners)
    return f'<polygon points="{points}" fill="{colour}"/>'


def over_time_svg(rows: pd.DataFrame, title: str) -> str:
    """Per partition (x, in date order): each treatment value's estimate and interval.

    Colour is the method (the same as in every other panel); the marker shape and line dashes tell the treatment
    values apart, so no colour means two things on one page.
    """
    if "method" not in rows.columns:
        raise ValueError(f"over_time_svg needs a 'method' column to colour by; got columns {list(rows.columns)}")
    rows = rows[[finite(v) for v in rows.estimate]]
    if rows.empty:
        return f'<p class="note">{escape(title)}: no finite estimates</p>'
    parts_x = sorted(rows.partition.unique())
    values = sorted(rows.treatment_value.astype(str).unique())
    methods = sorted(rows.method.astype(str).unique())
    present = set(zip(rows.treatment_value.astype(str), rows.method.astype(str)))
    series = [(v, m) for v in values for m in methods if (v, m) in present]
    lo = min(min(rows.ci_low.where(rows.ci_low.map(finite), rows.estimate)), 0.0)
    hi = max(max(rows.ci_high.where(rows.ci_high.map(finite), rows.estimate)), 0.0)
    pad = (hi - lo) * 0.08 or 0.01
    lo, hi = lo - pad, hi + pad
    left, plot_w, plot_h, top = 70, max(300, 90 * len(parts_x)), 240, 30
    value_w = 40 + 7 * max(len("treatment value"), *(len(v) for v in values))
    key, key_w, key_h = legend(methods, left + plot_w + 16, top + 26 + 18 * len(values) + 12)
    width = left + plot_w + 16 + max(value_w, key_w) + 10
    height = max(top + plot_h + 50, top + 26 + 18 * len(values) + 12 + key_h + 10)

    def sx(i: int, j: float) -> float:
        slot = plot_w / len(parts_x)
        return left + slot * (i + 0.5) + (j - (len(series) - 1) / 2) * min(10, slot / (len(series) + 1))

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
            f'<text x="{sx(i, (len(series) - 1) / 2):.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
            f'class="tick">{escape(p)}</text>'
        )
    for j, (value, method) in enumerate(series):
        colour, k = method_colour(method), values.index(value)
        dash = f' stroke-dasharray="{DASHES[k % len(DASHES)]}"' if DASHES[k % len(DASHES)] else ""
        points = []
        for r in rows[(rows.treatment_value.astype(str) == value) & (rows.method.astype(str) == method)].itertuples():
            i = parts_x.index(r.partition)
            x = sx(i, j)
            low = r.ci_low if finite(r.ci_low) else r.estimate
            high = r.ci_high if finite(r.ci_high) else r.estimate
            points.append((i, x, sy(r.estimate)))
            out.append(
                f'<g class="point" data-method="{escape(method)}"><line x1="{x:.1f}" y1="{sy(low):.1f}" x2="{x:.1f}" '
                f'y2="{sy(high):.1f}" stroke="{colour}" stroke-width="2"/>{marker(k, x, sy(r.estimate), colour)}'
                f"<title>{escape(r.partition)} {escape(value)}: {r.estimate:.5f} [{low:.5f}, {high:.5f}] · "
                f"{escape(method)}</title></g>"
            )
        points.sort()
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for _, x, y in points)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-opacity="0.6" stroke-width="1.5"'
                f"{dash}/>"
            )
    kx, ky = left + plot_w + 16, top + 26
    out.append(f'<g class="legend-values"><text x="{kx}" y="{top + 10}" class="legend-title">treatment value</text>')
    for k, value in enumerate(values):
        y = ky + 18 * k
        dash = f' stroke-dasharray="{DASHES[k % len(DASHES)]}"' if DASHES[k % len(DASHES)] else ""
        out.append(
            f'<line x1="{kx - 2}" y1="{y}" x2="{kx + 26}" y2="{y}" stroke="#495057"{dash}/>'
            f'{marker(k, kx + 12, y, "#495057")}<text x="{kx + 34}" y="{y + 4}">{escape(value)}</text>'
        )
    out.append("</g>")
    out.append(key)
    out.append("</svg>")
    return "".join(out)


SEQUENTIAL_METHODS = {"ab_cs": ("cs_low", "cs_high"), "ab_fixed": ("fixed_low", "fixed_high")}


def sequential_svg(looks: pd.DataFrame, title: str) -> str:
    """One contrast family's looks (`sequential_looks` rows) over partitions: the CS (ab_cs) beside the fixed interval.

    Drawn by `over_time_svg`, so the axis, the markers per treatment value and the method legend are the ones of the
    per-partition panels; each look becomes two points at its partition, one per interval.
    """
    rows = pd.concat(
        [
            looks.assign(method=method, ci_low=looks[low], ci_high=looks[high])
            for method, (low, high) in SEQUENTIAL_METHODS.items()
        ],
        ignore_index=True,
    )
    return over_time_svg(rows[["partition", "treatment_value", "method", "estimate", "ci_low", "ci_high"]], title)
