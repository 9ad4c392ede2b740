"""Where the network drawing puts things: layered (Sugiyama) node boxes, edge polylines and non-overlapping labels."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BOX_H, GAP_X, PAD, DUMMY_W = 30.0, 28.0, 16.0, 16.0
GAPS_Y = (70.0, 100.0, 140.0, 190.0)  # tried in turn until every edge label finds a free place
# Edge labels are 11 px; a digit there is at most 7 px wide (DejaVu Sans): the boxes err on the large side.
LABEL_CHAR_W, LABEL_H, LABEL_PAD = 7.0, 15.0, 3.0
ALONG = (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82)  # where along its edge a label may sit, best first

Point = tuple[float, float]
Edge = tuple[str, str, float, bool]  # source, target, bootstrap frequency, in the network used


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in SVG coordinates (y grows downwards)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, margin: float = 0.0) -> bool:
        return (
            self.x0 < other.x1 + margin
            and other.x0 < self.x1 + margin
            and self.y0 < other.y1 + margin
            and other.y0 < self.y1 + margin
        )

    def shifted(self, dx: float, dy: float) -> Box:
        return Box(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)


@dataclass(frozen=True)
class EdgeDrawing:
    """One edge: the polyline it is drawn along (source box to target box) and the box its label is written in."""

    source: str
    target: str
    frequency: float
    in_network: bool
    points: tuple[Point, ...]
    label: Box
    anchor: Point  # the point of the edge its label names: inside the label, unless it went to the side column


@dataclass(frozen=True)
class DagLayout:
    """Where everything goes: node boxes, edge polylines and label boxes, all inside width × height."""

    width: float
    height: float
    nodes: Mapping[str, Box]
    edges: tuple[EdgeDrawing, ...]


def _layers(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
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


def _chains(pairs: Sequence[Edge], layer: dict[str, int]) -> list[list[str]]:
    """Each edge as the nodes it passes: its source, one placeholder per layer it crosses, its target.

    Placeholders take a narrow slot in their row, so a long edge runs between the boxes instead of through them.
    Their names start with NUL, which no node name from the database holds. `layer` gains their layers.
    """
    chains = []
    for i, (u, v, _, _) in enumerate(pairs):
        step = 1 if layer[v] > layer[u] else -1
        inner = [f"\0{i}:{k}" for k in range(layer[u] + step, layer[v], step)] if abs(layer[v] - layer[u]) > 1 else []
        for k, d in zip(range(layer[u] + step, layer[v], step), inner):
            layer[d] = k
        chains.append([u, *inner, v])
    return chains


def _centres(row: Sequence[str], box_w: float) -> dict[str, float]:
    """x of each slot's centre when the row is packed left to right and centred on 0."""
    widths = [DUMMY_W if n.startswith("\0") else box_w for n in row]
    total = sum(widths) + GAP_X * (len(row) - 1)
    out, x = {}, -total / 2
    for n, w in zip(row, widths):
        out[n] = x + w / 2
        x += w + GAP_X
    return out


def _order(layer: Mapping[str, int], chains: Sequence[Sequence[str]], box_w: float) -> dict[int, list[str]]:
    """Slots of each layer left to right, by the barycentre of their neighbours in the layer above or below.

    Sugiyama's crossing reduction, six sweeps: fewer crossings means fewer lines through the labels.
    """
    rows: dict[int, list[str]] = defaultdict(list)
    for n in sorted(layer, key=lambda n: (n.startswith("\0"), n)):
        rows[layer[n]].append(n)
    neighbours: dict[str, list[str]] = defaultdict(list)
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            neighbours[a].append(b)
            neighbours[b].append(a)
    keys = sorted(rows)
    for sweep in range(6):
        down = sweep % 2 == 0
        for k in keys[1:] if down else keys[-2::-1]:
            ref = _centres(rows.get(k - 1 if down else k + 1, []), box_w)
            own = _centres(rows[k], box_w)

            def barycentre(n: str, ref: dict[str, float] = ref, own: dict[str, float] = own) -> float:
                near = [ref[m] for m in neighbours[n] if m in ref]
                return sum(near) / len(near) if near else own[n]

            rows[k] = sorted(rows[k], key=barycentre)  # stable: ties keep their order
    return dict(rows)


def _along(points: Sequence[Point], share: float) -> Point:
    """The point `share` of the way along a polyline, by length."""
    lengths = [math.dist(a, b) for a, b in zip(points, points[1:])]
    left = share * sum(lengths)
    for (a, b), length in zip(zip(points, points[1:]), lengths):
        if left <= length and length > 0:
            t = left / length
            return a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        left -= length
    return points[-1]


def label_box(text: str, x: float, y: float) -> Box:
    """The box a label of `text` centred at (x, y) takes, padded."""
    half_w, half_h = (LABEL_CHAR_W * len(text)) / 2 + LABEL_PAD, LABEL_H / 2
    return Box(x - half_w, y - half_h, x + half_w, y + half_h)


def _polylines(
    chains: Sequence[Sequence[str]], centre: Mapping[str, float], top: Mapping[str, float], box_w: float
) -> list[list[Point]]:
    """Each chain as points: leave the source's bottom (or top, upwards), pass each placeholder's slot straight
    through its row, enter the target's top (or bottom); ends spread along the box side so arrows do not stack."""
    ends: dict[tuple[str, bool], list[tuple[float, int, int]]] = defaultdict(list)  # (node, bottom side) -> edges
    for i, chain in enumerate(chains):
        u, v = chain[0], chain[-1]
        if top[u] == top[v]:
            continue
        down = top[v] > top[u]
        ends[(u, down)].append((centre[chain[1]], i, 0))
        ends[(v, not down)].append((centre[chain[-2]], i, -1))
    port: dict[tuple[int, int], float] = {}
    for (node, _), items in ends.items():
        items.sort()
        step = min(14.0, box_w / (len(items) + 1))
        for k, (_, i, end) in enumerate(items):
            port[(i, end)] = centre[node] + (k - (len(items) - 1) / 2) * step
    out = []
    for i, chain in enumerate(chains):
        u, v = chain[0], chain[-1]
        if top[u] == top[v]:  # same layer (only when the stored graph is not acyclic): an arc above the row
            x1 = centre[u] + (box_w / 2 if centre[v] > centre[u] else -box_w / 2)
            x2 = centre[v] - (box_w / 2 if centre[v] > centre[u] else -box_w / 2)
            y, cx, cy = top[u] + BOX_H / 2, (x1 + x2) / 2, top[u] - 0.35 * abs(x2 - x1)
            arc = [(1 - t) ** 2 * x1 + 2 * t * (1 - t) * cx + t * t * x2 for t in (k / 12 for k in range(13))]
            heights = [(1 - t) ** 2 * y + 2 * t * (1 - t) * cy + t * t * y for t in (k / 12 for k in range(13))]
            out.append(list(zip(arc, heights)))
            continue
        down = top[v] > top[u]
        points = [(port[(i, 0)], top[u] + BOX_H if down else top[u])]
        for d in chain[1:-1]:
            enter, leave = (top[d], top[d] + BOX_H) if down else (top[d] + BOX_H, top[d])
            points += [(centre[d], enter), (centre[d], leave)]
        points.append((port[(i, -1)], top[v] if down else top[v] + BOX_H))
        out.append(points)
    return out


def layout_dag(nodes: Sequence[str], pairs: Sequence[Edge]) -> DagLayout:
    """Lay the network out in layers; every frequency label gets a place clear of other labels and of every node.

    Wider layer gaps are tried until all labels fit on their own edge; a label that still finds no place goes to
    a column at the right, level with its edge, so the no-overlap promise holds for any graph.
    """
    layer = _layers(nodes, [(u, v) for u, v, _, used in pairs if used])
    chains = _chains(pairs, layer)
    box_w = max(90.0, 8.0 * max(len(n) for n in nodes) + 20)
    rows = _order(layer, chains, box_w)
    centre = {n: x for row in rows.values() for n, x in _centres(row, box_w).items()}
    for attempt, gap_y in enumerate(GAPS_Y):
        top = {n: layer[n] * (BOX_H + gap_y) for n in layer}
        boxes = {n: Box(centre[n] - box_w / 2, top[n], centre[n] + box_w / 2, top[n] + BOX_H) for n in nodes}
        placed: list[Box] = []
        drawn: list[EdgeDrawing] = []
        spill: list[int] = []
        for (u, v, freq, used), points in zip(pairs, _polylines(chains, centre, top, box_w)):
            text = f"{freq:.2f}"
            free = (
                (share, b)
                for share in ALONG
                for b in (label_box(text, *_along(points, share)),)
                if not any(b.overlaps(o, 2.0) for o in [*boxes.values(), *placed])
            )
            share, label = next(free, (0.5, None))
            anchor = _along(points, share)
            if label is None:
                spill.append(len(drawn))
                label = label_box(text, *anchor)  # a placeholder until the right-hand column
            else:
                placed.append(label)
            drawn.append(EdgeDrawing(u, v, freq, used, tuple(points), label, anchor))
        if not spill or attempt == len(GAPS_Y) - 1:
            return _finish(boxes, drawn, spill)
    raise AssertionError("unreachable: the last attempt always returns")


def _finish(boxes: dict[str, Box], drawn: list[EdgeDrawing], spill: Sequence[int]) -> DagLayout:
    """Put any spilled labels in a column right of everything, then shift all so the drawing starts at PAD."""
    points = [p for e in drawn for p in e.points]
    kept = [e.label for i, e in enumerate(drawn) if i not in spill]
    column_x = max([b.x1 for b in [*boxes.values(), *kept]] + [x for x, _ in points]) + 12
    bottom = -math.inf
    for i in sorted(spill, key=lambda i: drawn[i].label.y0):  # top to bottom, each below the one before
        e = drawn[i]
        y0 = max(e.label.y0, bottom + 2)
        column = Box(column_x, y0, column_x + e.label.x1 - e.label.x0, y0 + e.label.y1 - e.label.y0)
        drawn[i] = EdgeDrawing(e.source, e.target, e.frequency, e.in_network, e.points, column, e.anchor)
        bottom = column.y1
    every = [*boxes.values(), *(e.label for e in drawn)]
    min_x = min([b.x0 for b in every] + [x for x, _ in points])
    min_y = min([b.y0 for b in every] + [y for _, y in points])
    max_x = max([b.x1 for b in every] + [x for x, _ in points])
    max_y = max([b.y1 for b in every] + [y for _, y in points])
    dx, dy = PAD - min_x, PAD - min_y
    edges = tuple(
        EdgeDrawing(
            e.source,
            e.target,
            e.frequency,
            e.in_network,
            tuple((x + dx, y + dy) for x, y in e.points),
            e.label.shifted(dx, dy),
            (e.anchor[0] + dx, e.anchor[1] + dy),
        )
        for e in drawn
    )
    nodes = {n: b.shifted(dx, dy) for n, b in boxes.items()}
    return DagLayout(max_x - min_x + 2 * PAD, max_y - min_y + 2 * PAD, nodes, edges)
