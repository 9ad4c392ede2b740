"""The report's "Always-valid monitoring" section: the CS beside the fixed interval at each look, or one note."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import store
from report import write_report
from report.palette import METHOD_COLOURS
from store.sequential import sequential_rows, write_sequential
from tests.store.sequential_log import DAYS, fill_experiment


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("monitor") / "r.duckdb"
    fill_experiment(path)
    with store.connect(path) as con:
        for day in DAYS:
            write_sequential(con, f"r-{day}", sequential_rows(con, f"r-{day}"))
    return path


def _section(page: str) -> str:
    """The HTML from the monitoring heading to the next h2."""
    start = page.index('<h2 id="monitoring">Always-valid monitoring</h2>')
    return page[start : page.index("<h2", start + 1)]


def test_three_looks_draw_the_sequence_beside_the_fixed_interval(db: Path, tmp_path: Path) -> None:
    page = write_report(db, tmp_path / "r.html", f"r-{DAYS[2]}").read_text()
    section = _section(page)
    assert section.count('<svg class="over-time"') == 1  # one (treatment, outcome, baseline) family
    assert "strategy → click: A/B difference vs strategy=random, by look" in section
    for method in ("ab_cs", "ab_fixed"):
        # Two treatment values at three looks: six points per interval kind, in its fixed colour, with its legend.
        assert section.count(f'<g class="point" data-method="{method}">') == 6
        assert f'stroke="{METHOD_COLOURS[method]}"' in section
        swatch = rf'data-method="{method}"><rect [^>]*fill="{METHOD_COLOURS[method]}"/><text[^>]*>{method}<'
        assert re.search(swatch, section)
    for day in DAYS:
        assert f'class="tick">{day}</text>' in section  # the looks are placed by partition
    assert section.count("<tr><td>") == 2  # the verdict table: one row per treatment value
    assert "skipped" not in section


def test_a_single_look_is_skipped_with_one_note(db: Path, tmp_path: Path) -> None:
    section = _section(write_report(db, tmp_path / "r.html", f"r-{DAYS[0]}").read_text())
    assert "<svg" not in section
    assert section.count('<p class="note">') == 1 and "skipped: this run is a single look" in section


def test_a_database_without_looks_says_so(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    fill_experiment(path, DAYS[:1])
    section = _section(write_report(path, tmp_path / "r.html", f"r-{DAYS[0]}").read_text())
    assert "<svg" not in section and "no confidence sequences stored for this run" in section
