"""The report's "Decision" section: `recdo decide`'s verdicts on stored replicates, drawn, never recomputed apart."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

import store
from causal.decide.run import decide_sets
from recdo.cli import main
from report import write_report
from report.draw import escape
from tests.report.decision_db import RUN, fill


def _section(page: str) -> str:
    """The HTML from the decision heading to the next h2."""
    start = page.index('<h2 id="decision">Decision</h2>')
    return page[start : page.index("<h2", start + 1)]


def _bars(section: str) -> dict[str, dict[str, tuple[float, bool]]]:
    """{segment: {value: (P(best), recommended)}} from the bars' data attributes."""
    out: dict[str, dict[str, tuple[float, bool]]] = defaultdict(dict)
    pattern = r'data-segment="([^"]+)" data-value="([^"]+)" data-p-best="([^"]+)" data-recommended="(true|false)"'
    for seg, value, p, rec in re.findall(pattern, section):
        out[seg][value] = (float(p), rec == "true")
    return dict(out)


def test_the_known_best_value_is_recommended_with_decides_sentences(tmp_path: Path, capsys) -> None:
    db = tmp_path / "r.duckdb"
    sets = fill(db)
    section = _section(write_report(db, tmp_path / "r.html", RUN).read_text())
    bars = _bars(section)
    assert set(bars) == {"all", "act=high", "act=low"}
    for seg, best in (("all", "b"), ("act=high", "b"), ("act=low", "c")):
        assert sum(p for p, _ in bars[seg].values()) == pytest.approx(1.0)
        assert [v for v, (_, rec) in bars[seg].items() if rec] == [best]
    assert 0.5 < bars["all"]["b"][0] < 1.0  # c is close behind overall: the bars show a split, not a certainty
    assert section.count("★ recommended") == 2 * 3  # per segment: its bar's label and its row of the risk table

    # The sentences are causal.decide's, and the terminal's: one verdict, printed twice, never contradicts itself.
    decisions = decide_sets(sets)
    assert main(["decide", "--db", str(db), "--policy-out", str(tmp_path / "alloc.json")]) == 0
    terminal = capsys.readouterr().out
    for d in decisions:
        assert f"<li>{escape(d.sentence())}</li>" in section
        assert d.sentence() in terminal
    assert "Deploy b for click: P(best)=0.85" in section

    # Risk and lift per value: the recommended value's expected loss is the smallest, lifts carry intervals.
    population = decisions[0]
    row = re.search(r"<tr><td>all</td><td>b</td>(.*?)</tr>", section).group(1)
    loss = min(v.expected_loss for v in population.values)
    assert f'<td class="num">{loss:.4g}</td>' in row
    b = next(v for v in population.values if v.value == "b")
    assert f"[{b.lift_low:+.4f}, {b.lift_high:+.4f}]" in row and "★ recommended" in row
    assert section.count('<g class="interval" data-method="bn_do">') == 3 * 2  # every non-baseline lift

    # The segment policy by the network and by DR side by side, both with numbers.
    assert "Segment policy: act=high → b, act=low → c" in section
    policy = re.search(r'<table class="policy-value">.*?</table>', section).group(0)
    assert re.search(r"network \(bn_do\)</td><td class=\"num\">0\.\d+</td><td>\[0\.\d+, 0\.\d+\]", policy)
    assert re.search(r"DR on the log \(dr\)</td><td class=\"num\">0\.\d+</td><td>\[0\.\d+, 0\.\d+\]", policy)

    # The allocation is the file `recdo decide --policy-out` wrote (floor 0.05).
    alloc = json.loads((tmp_path / "alloc.json").read_text())
    assert alloc["floor"] == 0.05
    table = re.search(r'<table class="allocation">.*?</table>', section).group(0)
    assert "<th>act</th><th>a</th><th>b</th><th>c</th>" in table
    for segment, probs in alloc["allocation"].items():
        cells = "".join(f'<td class="num">{probs[v]:.4g}</td>' for v in ("a", "b", "c"))
        assert f"<tr><td>{segment}</td>{cells}</tr>" in table


def test_a_segment_without_a_decision_says_why(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill(db, withheld=True)
    section = _section(write_report(db, tmp_path / "r.html", RUN).read_text())
    assert "act=low" not in _bars(section)
    assert "no decision (the reason is below)" in section
    assert "In act=low: no decision for strategy on click: c has no replicates" in section
    assert section.count("no decision: c has no replicates") == 3  # each of the segment's value rows
    assert "no segment policy: no decision in act=low (c has no replicates" in section
    assert "act=low: no decision (c has no replicates" in section  # the allocation's note: served the default


def test_a_run_without_replicates_is_one_note(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill(db, with_replicates=False)
    section = _section(write_report(db, tmp_path / "r.html", RUN).read_text())
    assert "<svg" not in section and "<table" not in section
    assert section.count("<p") == 1 and "no bootstrap replicates stored for this run" in section


def test_a_database_older_than_the_replicates_table_reads(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill(db)
    with store.connect(db) as con:
        con.execute("DROP TABLE replicates")
        con.execute("DROP TABLE policy_values")
    # Read-only, as `recdo report` opens it: no table is created, and the section says there is nothing to decide.
    section = _section(write_report(db, tmp_path / "r.html", RUN).read_text())
    assert "no bootstrap replicates stored for this run" in section
