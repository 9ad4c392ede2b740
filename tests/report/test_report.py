"""`recdo report`: one self-contained page, checked in headless Chromium (screenshot and console)."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import store
from recdo.cli import main
from report import interval_svg, write_report
from report.dag_layout import Box
from report.page import counts_line
from report.palette import METHOD_COLOURS

DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
ROWS_IN = [10_000, 11_234, 12_468]
EDGES = [
    ("user_activity", "strategy", 1.0, True),
    ("strategy", "click", 0.9, True),
    ("user_activity", "click", 0.8, True),
    ("score", "click", 0.3, False),
]


def _estimates(k: int) -> pd.DataFrame:
    """Three methods on the means, two on the ATEs, bn_do alone on the CATEs: each panel sorts them differently."""
    rows = []
    for value, mean in (("random", 0.20), ("popular", 0.50), ("content", 0.35)):
        m = mean + 0.01 * k
        rows.append(("strategy", value, None, "click", "interventional_mean", "bn_do", m, m - 0.04, m + 0.04, None))
        rows.append(
            ("strategy", value, None, "click", "interventional_mean", "naive", m + 0.02, m - 0.02, m + 0.06, None)
        )
        if value == "popular":
            rows.append(
                ("strategy", value, None, "click", "interventional_mean", "ipw", m - 0.01, m - 0.08, m + 0.06, None)
            )
        if value != "random":
            ate = m - 0.20 - 0.01 * k
            rows.append(("strategy", value, "random", "click", "ate", "bn_do", ate, ate - 0.05, ate + 0.05, None))
            rows.append(
                ("strategy", value, "random", "click", "ate", "naive", ate + 0.03, ate - 0.01, ate + 0.07, None)
            )
            for segment, shift in (("user_activity=high", 0.02), ("user_activity=low", -0.02)):
                cate = ate + shift
                rows.append(
                    ("strategy", value, "random", "click", "cate", "bn_do", cate, cate - 0.06, cate + 0.06, segment)
                )
    cols = [
        "treatment",
        "treatment_value",
        "baseline_value",
        "outcome",
        "estimand",
        "method",
        "estimate",
        "ci_low",
        "ci_high",
        "segment",
    ]
    frame = pd.DataFrame(rows, columns=cols)
    return frame.assign(
        source="table:week.parquet",
        partition=DAYS[k],
        n_rows=400,
        adjustment_set='["user_activity"]',
        created_at=store.now(),
    )


def build_db(db: Path) -> None:
    """Three partition runs with hand-written rows: every section of the page has something to draw."""
    with store.connect(db) as con:
        for k, day in enumerate(DAYS):
            run_id = f"run-{k}"
            store.upsert_run(
                con,
                run_id,
                flow_run_id=f"00000000-0000-0000-0000-00000000000{k}",
                started_at=store.now(),
                finished_at=store.now(),
                status="completed",
                params={"partition": day, "treatments": ["strategy"]},
                data_hash=f"hash{k}",
                code_version="abc123",
                source="table:week.parquet",
                message="",
                rows_in=ROWS_IN[k],
                rows_processed=ROWS_IN[k] - 3 * k,
                rows_quarantined=3 * k,  # the quarantine table below holds 3k rows of run k
            )
            store.replace_rows(con, "interventions", _estimates(k), run_id)
            store.replace_rows(
                con,
                "bn_edges",
                pd.DataFrame(
                    [(u, v, f, used, "strategy", "click") for u, v, f, used in EDGES],
                    columns=["source_node", "target_node", "frequency", "in_network", "treatment", "outcome"],
                ),
                run_id,
            )
            store.replace_rows(
                con,
                "validation_results",
                pd.DataFrame(
                    [
                        ("click in {0,1}", "click", k != 1, "{}", 3 if k == 1 else 0),
                        ("ts exists", "ts", True, "null", 0),
                    ],
                    columns=["expectation", "column_name", "success", "observed_value", "unexpected_count"],
                ),
                run_id,
            )
            store.replace_rows(
                con,
                "quarantine",
                pd.DataFrame(
                    [(i, "click in {0,1}", json.dumps({"click": 2}), store.now()) for i in range(3 * k)],
                    columns=["row_number", "rule", "row_json", "created_at"],
                ),
                run_id,
            )
            store.replace_rows(
                con,
                "scorer_metrics",
                pd.DataFrame(
                    [("tiny-bert", "val", "auc", 0.61), ("tiny-bert", "train", "auc", 0.7)],
                    columns=["backbone", "split", "metric", "value"],
                ),
                run_id,
            )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    build_db(tmp / "r.duckdb")
    out = tmp / "report.html"
    assert main(["report", "--db", str(tmp / "r.duckdb"), "--out", str(out)]) == 0
    return out


def test_report_is_one_self_contained_page(report):
    html = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from anywhere
    assert "<script" not in html and "@import" not in html
    assert html.count('<g class="node">') == 4 and html.count('<g class="edge') == 4
    assert html.count('stroke-dasharray="5 4"') == 1  # the bootstrap-only edge is dashed
    assert html.count('class="intervals"') == 3 and html.count('class="over-time"') == 2
    for day in DAYS:
        assert f">{day}</text>" in html
    assert "run-2" in html and "1 of 2 expectations passed" not in html  # the latest run passed both
    assert "2 of 2 expectations passed on this run" in html


def test_report_names_what_is_missing(tmp_path, capsys):
    assert main(["report", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "x.html")]) == 2
    assert "no recdo database at" in capsys.readouterr().err
    with store.connect(tmp_path / "empty.duckdb"):
        pass
    assert main(["report", "--db", str(tmp_path / "empty.duckdb"), "--out", str(tmp_path / "x.html")]) == 2
    assert "holds no runs; run `recdo run --db" in capsys.readouterr().err
    build_db(tmp_path / "r.duckdb")
    with pytest.raises(ValueError, match=r"run 'run-9' is not in .*known runs: \['run-0', 'run-1', 'run-2'\]"):
        write_report(tmp_path / "r.duckdb", tmp_path / "x.html", run_id="run-9")


def _chromium():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("RECDO_REQUIRE_BROWSER"):
            pytest.fail(
                "chromium and chromedriver are required here (RECDO_REQUIRE_BROWSER is set): apt-get install -y "
                "chromium chromium-driver"
            )
        pytest.skip(
            "no chromium/chromedriver on PATH (apt-get install -y chromium chromium-driver; `make test` does it)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,2200",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


BOXES_JS = """
const box = (e) => { const b = e.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; };
return {labels: [...document.querySelectorAll('svg.dag text.freq')].map(box),
        nodes: [...document.querySelectorAll('svg.dag g.node rect')].map(box)};
"""


def _ink(png: bytes) -> float:
    """Share of pixels that are not (near) white."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    histogram = image.histogram()
    return 1.0 - sum(histogram[236:]) / (image.width * image.height)


@pytest.mark.slow
@pytest.mark.integration
def test_report_renders_in_headless_chromium_without_console_errors(report):
    from selenium.webdriver.common.by import By

    browser = _chromium()
    try:
        browser.get(report.as_uri())
        page_png = browser.get_screenshot_as_png()
        console = browser.get_log("browser")
        dag = browser.find_element(By.CSS_SELECTOR, "svg.dag")
        plots = browser.find_elements(By.CSS_SELECTOR, "svg.intervals, svg.over-time")
        assert dag.size["width"] > 200 and dag.size["height"] > 100
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.dag g.node")) == 4
        assert len(plots) == 5 and all(p.size["height"] > 80 for p in plots)
        dag_ink = _ink(dag.screenshot_as_png)
        plot_ink = _ink(plots[0].screenshot_as_png)
        # The boxes the browser really drew the labels in, in the font it picked.
        boxes = browser.execute_script(BOXES_JS)
        legends = browser.find_elements(By.CSS_SELECTOR, "svg g.legend")
        legend_sizes = [(g.size["width"], g.size["height"]) for g in legends]
        counts = browser.find_element(By.ID, "counts").text

        hostile_db = report.with_name("hostile.duckdb")
        build_hostile_db(hostile_db)
        browser.get(write_report(hostile_db, report.with_name("hostile.html")).as_uri())
        hostile_text = browser.find_element(By.TAG_NAME, "body").text
        hostile_bold = browser.find_elements(By.CSS_SELECTOR, "b, i, em, img, script")

        # The console check can fail: the same browser does report a page's error.
        bad = report.with_name("bad.html")
        bad.write_text("<html><body><p>x</p><script>console.error('broken page')</script></body></html>")
        browser.get(bad.as_uri())
        bad_console = browser.get_log("browser")
    finally:
        browser.quit()
    shot = report.with_name("report.png")
    shot.write_bytes(page_png)
    print(f"screenshot: {shot}")
    assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
    assert any(e["level"] == "SEVERE" and "broken page" in e["message"] for e in bad_console)
    assert 0.03 < _ink(page_png) < 0.6  # text, boxes and plots: neither blank nor a solid block
    assert dag_ink > 0.03 and plot_ink > 0.03
    labels, nodes = [Box(*b) for b in boxes["labels"]], [Box(*b) for b in boxes["nodes"]]
    assert len(labels) == 4 and len(nodes) == 4
    assert not any(a.overlaps(b) for a, b in itertools.combinations(labels, 2))
    assert not any(a.overlaps(b) for a, b in itertools.product(labels, nodes))
    assert len(legend_sizes) == 4 and all(w > 40 and h > 30 for w, h in legend_sizes)
    assert counts == "rows in 12,468 · processed 12,462 · quarantined 6 (0.05% rejected)"
    assert all(v in hostile_text for v in HOSTILE) and hostile_bold == []


def test_each_point_over_time_names_its_own_partition():
    from report import over_time_svg

    rows = pd.DataFrame(
        {
            "partition": DAYS,
            "treatment_value": ["popular"] * 3,
            "method": ["bn_do"] * 3,
            "estimate": [0.1, 0.2, 0.3],
            "ci_low": [0.05, 0.15, 0.25],
            "ci_high": [0.15, 0.25, 0.35],
        }
    )
    titles = re.findall(r"<title>(\S+) popular: ([\d.]+)", over_time_svg(rows, "ATE popular − random"))
    assert titles == [(day, f"{e:.5f}") for day, e in zip(DAYS, (0.1, 0.2, 0.3))]


class _Page(HTMLParser):
    """Every element of a page with its attributes, ancestors and own text: a small DOM from the standard library."""

    VOID = {"meta", "link", "br", "hr", "img", "input"}

    def __init__(self, html: str) -> None:
        super().__init__()
        self.stack: list[dict] = []
        self.elements: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "parents": list(self.stack), "text": ""}
        self.elements.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({"tag": tag, "attrs": dict(attrs), "parents": list(self.stack), "text": ""})

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self.stack:
            self.stack[-1]["text"] += data

    def find(self, tag: str, klass: str | None = None, inside: dict | None = None) -> list[dict]:
        return [
            e
            for e in self.elements
            if e["tag"] == tag
            and (klass is None or klass in e["attrs"].get("class", "").split())
            and (inside is None or any(p is inside for p in e["parents"]))
        ]

    def fills(self, inside: dict) -> list[str]:
        return [
            e["attrs"]["fill"] for e in self.elements if "fill" in e["attrs"] and any(p is inside for p in e["parents"])
        ]


def _method_colours(page: _Page) -> tuple[dict[str, set[str]], dict[str, int]]:
    """Method -> every colour the page draws it in (points, intervals, legend swatches); method -> panels showing it."""
    colours: dict[str, set[str]] = defaultdict(set)
    panels: dict[str, int] = defaultdict(int)
    for svg in page.find("svg"):
        seen = set()
        for klass in ("interval", "point", "legend-item"):
            for g in page.find("g", klass, inside=svg):
                method = g["attrs"]["data-method"]
                colours[method].update(page.fills(g))
                seen.add(method)
                if klass == "interval":  # the colour's method is the one the row's label names
                    assert page.find("text", inside=g)[0]["text"].endswith(f"· {method}")
        for method in seen:
            panels[method] += 1
    return colours, panels


def test_each_method_has_one_colour_in_every_panel(report):
    colours, panels = _method_colours(_Page(report.read_text()))
    # The means panel sorts (bn_do, ipw, naive), the ATE panel (bn_do, naive), the CATE panel bn_do alone, the
    # over-time panels colour by method too: a colour by position would paint naive and bn_do twice over.
    assert set(colours) == {"bn_do", "ipw", "naive"}
    assert {m: len(c) for m, c in colours.items()} == {"bn_do": 1, "ipw": 1, "naive": 1}, colours
    assert panels == {"bn_do": 5, "naive": 2, "ipw": 1}
    assert len({next(iter(c)) for c in colours.values()}) == 3  # and no two methods share one


def test_an_unknown_method_gets_a_colour_from_its_name_not_from_its_order():
    def colours_of(methods: list[str]) -> dict[str, set[str]]:
        rows = pd.DataFrame(
            {
                "treatment_value": ["a"] * len(methods),
                "estimand": ["interventional_mean"] * len(methods),
                "method": methods,
                "estimate": [0.1 * (k + 1) for k in range(len(methods))],
                "ci_low": [0.0] * len(methods),
                "ci_high": [0.9] * len(methods),
            }
        )
        return _method_colours(_Page(interval_svg(rows, "P(click=1)", zero_line=False)))[0]

    alone, first, last = (
        colours_of(["zz_new"]),
        colours_of(["zz_new", "aa_new"]),
        colours_of(["aa_new", "bn_do", "zz_new"]),
    )
    assert alone["zz_new"] == first["zz_new"] == last["zz_new"]
    assert first["aa_new"] == last["aa_new"] and last["bn_do"] == {METHOD_COLOURS["bn_do"]}
    # the same in another process, whose str hashes are salted differently
    code = "from report import method_colour; print(method_colour('zz_new'))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "12345"}
    )
    assert other.returncode == 0, other.stderr
    assert {other.stdout.strip()} == alone["zz_new"]


def test_every_panel_with_more_than_one_method_has_a_legend_naming_them(report):
    page = _Page(report.read_text())
    with_legend = 0
    for svg in page.find("svg", "intervals") + page.find("svg", "over-time"):
        drawn = {g["attrs"]["data-method"] for k in ("interval", "point") for g in page.find("g", k, inside=svg)}
        # (that a swatch has its method's colour is checked with every other mark in the colour test)
        legend = {page.find("text", inside=g)[0]["text"] for g in page.find("g", "legend-item", inside=svg)}
        if len(drawn) > 1 or "over-time" in svg["attrs"]["class"]:  # over time, colour and shape both need a key
            assert legend == drawn, svg["attrs"]["aria-label"]
            with_legend += 1
        else:
            assert legend == set()
    assert with_legend == 4  # means (3 methods), ATE (2), both over-time panels; the bn_do-only CATE has none
    values = [t["text"] for g in page.find("g", "legend-values") for t in page.find("text", inside=g)]
    assert values == ["treatment value", "content", "popular", "treatment value", "content", "popular", "random"]


def test_the_counts_line_shows_the_runs_row_counts(report):
    with store.connect(report.with_name("r.duckdb"), read_only=True) as con:
        n_in, done, bad = con.execute(
            "SELECT rows_in, rows_processed, rows_quarantined FROM runs WHERE run_id = 'run-2'"
        ).fetchone()
        every = con.execute("SELECT rows_in, rows_processed FROM runs").fetchall()
    html = report.read_text()
    (line,) = re.findall(r'<p class="counts" id="counts">(.*?)</p>', html)
    shown = unescape(re.sub(r"<[^>]+>", "", line))  # as a reader sees it
    assert (n_in, done, bad) == (12_468, 12_462, 6)
    assert shown == f"rows in {n_in:,} · processed {done:,} · quarantined {bad:,} ({bad / n_in:.2%} rejected)"
    assert shown.endswith("(0.05% rejected)")
    page = _Page(html)
    cells = {e["text"] for e in page.find("td", "num")}
    assert all(f"{a:,}" in cells and f"{b:,}" in cells for a, b in every)  # each run's counts in the runs table


def test_the_counts_line_says_what_it_cannot_know():
    assert "not recorded" in counts_line({"rows_in": None, "rows_processed": 5, "rows_quarantined": 0})
    assert "not recorded" in counts_line({"rows_in": float("nan"), "rows_processed": 5.0, "rows_quarantined": 0.0})
    assert "(&lt;0.01% rejected)" in counts_line({"rows_in": 10**7, "rows_processed": 10**7 - 1, "rows_quarantined": 1})
    broken = counts_line({"rows_in": 10, "rows_processed": 7, "rows_quarantined": 2})
    assert "1 rows unaccounted for (in ≠ processed + quarantined)" in broken and "(20.00% rejected)" in broken


def test_every_title_with_an_ate_names_its_baseline(report):
    titles = [t["text"] for t in _Page(report.read_text()).find("text", "title")]
    contrasts = [t for t in titles if "ATE" in t]
    assert contrasts == [
        "ATE on click vs strategy=random",
        "conditional ATE on click by segment vs strategy=random",
        "strategy → click: ATE vs strategy=random, by partition",
    ]
    assert len(titles) == 5  # the other two are the means, which compare nothing


HOSTILE = ["<b>x</b>", "content[/b]", 'a&b "q"']


def build_hostile_db(db: Path) -> str:
    """One run whose ids, values, methods, segments, rules and node names are all markup; returns its run id."""
    run_id = "run-<i>1</i>"
    rows = [
        ("strategy", v, None, "click", "interventional_mean", "<u>m</u>", 0.2 + 0.1 * k, 0.1, 0.6, None)
        for k, v in enumerate(HOSTILE)
    ]
    rows.append(("strategy", HOSTILE[0], None, "click", "interventional_mean", "bn_do", 0.3, 0.2, 0.4, None))
    rows += [
        ("strategy", HOSTILE[0], b, "click", "ate", "bn_do", 0.1, 0.0, 0.2, None) for b in ("random", "<i>base</i>")
    ]
    rows.append(("strategy", HOSTILE[1], None, "click", "ate", "bn_do", 0.05, 0.0, 0.1, None))  # baseline lost
    rows.append(("strategy", HOSTILE[1], "random", "click", "cate", "bn_do", 0.05, 0.0, 0.1, "<img src=x>"))
    cols = ["treatment", "treatment_value", "baseline_value", "outcome", "estimand", "method", "estimate"]
    frame = pd.DataFrame(rows, columns=[*cols, "ci_low", "ci_high", "segment"])
    with store.connect(db) as con:
        store.upsert_run(
            con,
            run_id,
            status="completed",
            started_at=store.now(),
            finished_at=store.now(),
            params={"partition": "<em>day</em>"},
        )
        store.replace_rows(con, "interventions", frame.assign(created_at=store.now()), run_id)
        edges = [
            ("<s>n</s>", "strategy", 0.5, True, "strategy", "click"),
            ("strategy", "click", 1.0, True, "strategy", "click"),
        ]
        columns = ["source_node", "target_node", "frequency", "in_network", "treatment", "outcome"]
        store.replace_rows(con, "bn_edges", pd.DataFrame(edges, columns=columns), run_id)
        quarantined = pd.DataFrame(
            [(0, "<script>rule</script>", "{}", store.now())], columns=["row_number", "rule", "row_json", "created_at"]
        )
        store.replace_rows(con, "quarantine", quarantined, run_id)
    return run_id


def test_data_values_print_literally(tmp_path):
    run_id = build_hostile_db(tmp_path / "h.duckdb")
    html = write_report(tmp_path / "h.duckdb", tmp_path / "h.html").read_text()
    page = _Page(html)
    assert not {"b", "i", "u", "s", "em", "img", "script"} & {e["tag"] for e in page.elements}  # no value became markup
    text = "\n".join(e["text"] for e in page.elements)
    for literal in [*HOSTILE, run_id, "<u>m</u>", "<s>n</s>", "<img src=x>", "<script>rule</script>", "<em>day</em>"]:
        assert literal in text, literal  # shown, as text
        assert literal == "content[/b]" or literal not in html, literal  # and never raw in the source
    assert "<em>day</em>" in [t["text"] for t in page.find("text", "tick")]  # the run's partition, when rows lack one
    legend = [t["text"] for g in page.find("g", "legend-item") for t in page.find("text", inside=g)]
    assert "<u>m</u>" in legend and "<b>x</b>" in [t["text"] for t in page.find("text")]
    titles = [t["text"] for t in page.find("text", "title")]
    assert [t for t in titles if "ATE" in t] == [
        "ATE on click vs strategy=<i>base</i>",
        "ATE on click vs strategy=random",
        "ATE on click vs a baseline the database does not record",
        "conditional ATE on click by segment vs strategy=random",
        "strategy → click: ATE vs strategy=<i>base</i>, by partition",
        "strategy → click: ATE vs strategy=random, by partition",
        "strategy → click: ATE vs a baseline the database does not record, by partition",
    ]
    assert "rows in / processed / quarantined: not recorded for this run" in text
