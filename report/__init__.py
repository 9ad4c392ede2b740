"""The HTML report of a results database: its data (data), its SVG drawings (draw) and the page (page)."""

from __future__ import annotations

from report.data import ReportData, load
from report.draw import dag_svg, interval_svg, over_time_svg
from report.page import render, write_report

__all__ = ["ReportData", "dag_svg", "interval_svg", "load", "over_time_svg", "render", "write_report"]
