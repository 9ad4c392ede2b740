"""The learned network as inline SVG, drawn from the layout in report.dag_layout."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from report.dag_layout import BOX_H, Point, layout_dag
from report.draw import escape, finite

TREATMENT_FILL, OUTCOME_FILL, NODE_FILL = "#ffd8a8", "#a5d8ff", "#f1f3f5"
DASHED = ' stroke-dasharray="5 4"'


def rounded_path(points: Sequence[Point], radius: float = 12.0) -> str:
    """SVG path data along the polyline with each inner corner rounded (a quadratic through the corner point).

    The curve leaves the polyline by less than `radius`, far less than the room a layout keeps around a bend.
    """
    (x0, y0), *_ = points
    d = [f"M {x0:.1f} {y0:.1f}"]
    for a, b, c in zip(points, points[1:], points[2:]):
        r_in, r_out = min(radius, math.dist(a, b) / 2), min(radius, math.dist(b, c) / 2)
        if r_in == 0 or r_out == 0:
            continue
        ux, uy = (b[0] - a[0]) / math.dist(a, b), (b[1] - a[1]) / math.dist(a, b)
        vx, vy = (c[0] - b[0]) / math.dist(b, c), (c[1] - b[1]) / math.dist(b, c)
        d.append(f"L {b[0] - ux * r_in:.1f} {b[1] - uy * r_in:.1f}")
        d.append(f"Q {b[0]:.1f} {b[1]:.1f} {b[0] + vx * r_out:.1f} {b[1] + vy * r_out:.1f}")
    xn, yn = points[-1]
    d.append(f"L {xn:.1f} {yn:.1f}")
    return " ".join(d)


def dag_svg(edges: pd.DataFrame, treatment: str | None, outcome: str | None) -> str:
    """The learned network, layered top to bottom; edge width and label give the bootstrap frequency."""
    # Edges only bootstrap replicates found (in_network false) are drawn dashed: they are not in the network used.
    pairs = [
        (
            str(r.source_node),
            str(r.target_node),
            float(r.frequency) if finite(r.frequency) else 1.0,
            getattr(r, "in_network", True) is not False,
        )
        for r in edges.itertuples()
    ]
    nodes = sorted({n for u, v, _, _ in pairs for n in (u, v)} | {n for n in (treatment, outcome) if n})
    if not nodes:
        return '<p class="note">no edges stored for this run</p>'
    lay = layout_dag(nodes, pairs)
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" role="img" aria-label="learned DAG">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
        'markerWidth="10" markerHeight="10" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#495057"/></marker></defs>',
    ]
    for e in lay.edges:
        key = " edge-key" if (e.source, e.target) == (treatment, outcome) else ""
        parts.append(
            f'<g class="edge{key}"><path d="{rounded_path(e.points)}" fill="none" stroke="#495057" '
            f'stroke-opacity="{0.35 + 0.65 * e.frequency:.2f}" stroke-width="{0.8 + 3.2 * e.frequency:.2f}" '
            f'marker-end="url(#arrow)"{"" if e.in_network else DASHED}/>'
            f"<title>{escape(e.source)} → {escape(e.target)}: in {e.frequency:.0%} of bootstrap structures</title>"
            "</g>"
        )
    for e in lay.edges:
        # Labels after every edge, each with a white halo, so no line is drawn across a number.
        b = e.label
        if not (b.x0 <= e.anchor[0] <= b.x1 and b.y0 <= e.anchor[1] <= b.y1):  # set aside: a leader to its edge
            parts.append(
                f'<line class="leader" x1="{b.x0:.1f}" y1="{(b.y0 + b.y1) / 2:.1f}" x2="{e.anchor[0]:.1f}" '
                f'y2="{e.anchor[1]:.1f}" stroke="#adb5bd" stroke-dasharray="1 2"/>'
            )
        parts.append(
            f'<text x="{(b.x0 + b.x1) / 2:.1f}" y="{(b.y0 + b.y1) / 2 + 4:.1f}" text-anchor="middle" class="freq" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">{e.frequency:.2f}'
            f"<title>{escape(e.source)} → {escape(e.target)}</title></text>"
        )
    for n, b in lay.nodes.items():
        fill = TREATMENT_FILL if n == treatment else OUTCOME_FILL if n == outcome else NODE_FILL
        parts.append(
            f'<g class="node"><rect x="{b.x0:.1f}" y="{b.y0:.1f}" width="{b.x1 - b.x0:.0f}" height="{BOX_H:.0f}" '
            f'rx="8" fill="{fill}" stroke="#343a40"/><text x="{(b.x0 + b.x1) / 2:.1f}" y="{b.y0 + BOX_H / 2 + 4:.1f}" '
            f'text-anchor="middle">{escape(n)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
