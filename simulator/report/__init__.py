"""Online evaluation of a simulated run: error rates with intervals, latency, lag, shadow model.

    rows = [row_from(planned, decision, sent_at=..., received_at=...) for ...]
    report = compute_report(rows, lag_series)
    paths = write_report(report, rows, lag_series, "results/sim/exam-day")
    print_summary(report)
"""

from __future__ import annotations

from simulator.report.compute import compute_report, lag_summary, shadow_comparison, slice_stats
from simulator.report.render import render_html, write_report
from simulator.report.rows import ResultRow, as_rows, row_from
from simulator.report.stats import WILSON_BACKEND, rate, wilson_closed_form, wilson_interval
from simulator.report.terminal import print_summary

__all__ = [
    "WILSON_BACKEND", "ResultRow", "as_rows", "compute_report", "lag_summary", "print_summary",
    "rate", "render_html", "row_from", "shadow_comparison", "slice_stats", "wilson_closed_form",
    "wilson_interval", "write_report",
]
