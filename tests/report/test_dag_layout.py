"""The network drawing: edge labels never overlap each other or a node, and long edges go round the boxes."""

from __future__ import annotations

import itertools
import random
import re

import pandas as pd
import pytest

from report import dag_svg, layout_dag
from report.dag_layout import Box

# A fan-in like the networks recdo learns: every feature points at both the treatment and the outcome.
FAN_IN = [(f"user_feature_{i}", t, 0.5 + 0.05 * i, True) for i in range(6) for t in ("strategy", "click")]
FAN_IN += [
    ("strategy", "click", 0.9, True),
    ("position", "click", 0.31, False),
    ("click", "user_feature_0", 0.2, False),
]


def _frame(pairs) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["source_node", "target_node", "frequency", "in_network"])


def _label_boxes(svg: str) -> list[Box]:
    """Each frequency label's box as a browser draws it: 11 px text (at most 7 px a character, 10 above the
    baseline, 3 below), centred on its x. Read from the SVG, not from the layout."""
    boxes = []
    for x, y, text in re.findall(
        r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="middle" class="freq"[^>]*>([^<]+)', svg
    ):
        half = 7.0 * len(text) / 2
        boxes.append(Box(float(x) - half, float(y) - 10, float(x) + half, float(y) + 3))
    return boxes


def _node_boxes(svg: str) -> list[Box]:
    found = re.findall(r'<g class="node"><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', svg)
    return [Box(float(x), float(y), float(x) + float(w), float(y) + float(h)) for x, y, w, h in found]


def _assert_labels_clear(svg: str, n_edges: int) -> None:
    labels, nodes = _label_boxes(svg), _node_boxes(svg)
    assert len(labels) == n_edges
    for a, b in itertools.combinations(labels, 2):
        assert not a.overlaps(b), f"labels overlap: {a} and {b}"
    for a, b in itertools.product(labels, nodes):
        assert not a.overlaps(b), f"label {a} lies on node {b}"
    width, height = (float(v) for v in re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups())
    assert all(0 <= b.x0 and b.x1 <= width and 0 <= b.y0 and b.y1 <= height for b in labels + nodes)


def test_labels_of_a_dense_fan_in_overlap_nothing():
    svg = dag_svg(_frame(FAN_IN), "strategy", "click")
    _assert_labels_clear(svg, len(FAN_IN))
    assert svg.count('<g class="node">') == 9


def test_a_label_that_finds_no_room_on_its_edge_goes_aside_with_a_leader():
    # Twenty parents of one child in two layers: more labels than the edges' middles can hold at any layer gap.
    pairs = [(f"p{i}", "child", 0.5, True) for i in range(20)] + [(f"p{i}", f"p{i + 10}", 0.7, True) for i in range(10)]
    svg = dag_svg(_frame(pairs), None, "child")
    _assert_labels_clear(svg, len(pairs))
    lay = layout_dag(sorted({n for u, v, _, _ in pairs for n in (u, v)}), pairs)
    inside = [e.label.x0 <= e.anchor[0] <= e.label.x1 and e.label.y0 <= e.anchor[1] <= e.label.y1 for e in lay.edges]
    assert svg.count('class="leader"') == inside.count(False)


def _crosses(box: Box, a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether the segment a-b passes through the inside of box (sampled finely; boxes are 30 px tall)."""
    return any(
        box.x0 + 1 < a[0] + t / 200 * (b[0] - a[0]) < box.x1 - 1
        and box.y0 + 1 < a[1] + t / 200 * (b[1] - a[1]) < box.y1 - 1
        for t in range(201)
    )


@pytest.mark.parametrize("seed", range(30))
def test_random_networks_keep_labels_apart_and_edges_off_other_boxes(seed):
    rng = random.Random(seed)
    names = [f"n{i}_{'x' * rng.randrange(12)}" for i in range(rng.randrange(3, 10))]
    pairs = [
        (u, v, round(rng.random(), 2), rng.random() < 0.85)
        for i, u in enumerate(names)
        for v in names[i + 1 :]
        if rng.random() < 0.4
    ] or [(names[0], names[1], 1.0, True)]
    svg = dag_svg(_frame(pairs), names[0], names[-1])
    _assert_labels_clear(svg, len(pairs))
    lay = layout_dag(sorted({n for u, v, _, _ in pairs for n in (u, v)}), pairs)
    for e in lay.edges:
        if e.points[0][1] == e.points[-1][1]:
            continue  # a same-layer arc (a dashed edge against the layering) runs above its row
        others = [b for n, b in lay.nodes.items() if n not in (e.source, e.target)]
        for a, b in zip(e.points, e.points[1:]):
            assert not any(_crosses(box, a, b) for box in others), f"{e.source} → {e.target} runs through a node"
