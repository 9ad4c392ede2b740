"""`recdo report`: one self-contained page, checked in headless Chromium (screenshot and console)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

import store
from recdo.cli import main
from report import write_report

DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
EDGES = [
    ("user_activity", "strategy", 1.0, True),
    ("strategy", "click", 0.9, True),
    ("user_activity", "click", 0.8, True),
    ("score", "click", 0.3, False),
]


def _estimates(k: int) -> pd.DataFrame:
    rows = []
    for value, mean in (("random", 0.20), ("popular", 0.50), ("content", 0.35)):
        m = mean + 0.01 * k
        rows.append(("strategy", value, None, "click", "interventional_mean", "bn_do", m, m - 0.04, m + 0.04))
        rows.append(("strategy", value, None, "click", "interventional_mean", "naive", m + 0.02, m - 0.02, m + 0.06))
        if value != "random":
            ate = m - 0.20 - 0.01 * k
            rows.append(("strategy", value, "random", "click", "ate", "bn_do", ate, ate - 0.05, ate + 0.05))
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
    assert html.count('class="intervals"') == 2 and html.count('class="over-time"') == 2
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
        assert len(plots) == 4 and all(p.size["height"] > 80 for p in plots)
        dag_ink = _ink(dag.screenshot_as_png)
        plot_ink = _ink(plots[0].screenshot_as_png)

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


def test_each_point_over_time_names_its_own_partition():
    from report import over_time_svg

    rows = pd.DataFrame(
        {
            "partition": DAYS,
            "treatment_value": ["popular"] * 3,
            "estimate": [0.1, 0.2, 0.3],
            "ci_low": [0.05, 0.15, 0.25],
            "ci_high": [0.15, 0.25, 0.35],
        }
    )
    titles = re.findall(r"<title>(\S+) popular: ([\d.]+)", over_time_svg(rows, "ATE popular − random"))
    assert titles == [(day, f"{e:.5f}") for day, e in zip(DAYS, (0.1, 0.2, 0.3))]
