"""The HTML report of a results database: its data (data), its SVG drawings (draw) and the page (page)."""

from __future__ import annotations

from report.dag import dag_svg, layout_dag
from report.data import ReportData, load
from report.draw import interval_svg, over_time_svg
from report.page import render, write_report
from report.palette import method_colour

__all__ = [
    "ReportData",
    "dag_svg",
    "interval_svg",
    "layout_dag",
    "load",
    "method_colour",
    "over_time_svg",
    "render",
    "write_report",
]
