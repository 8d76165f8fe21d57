"""Outputs: backtest plots (PNG) and the self-contained HTML report of a run."""

from churnkit.report.html import metrics_table, render_report
from churnkit.report.plots import (
    calibration_plot,
    clv_deciles_plot,
    gains_plot,
    importance_plot,
    make_plots,
    segment_profile_plot,
)

__all__ = [
    "calibration_plot",
    "clv_deciles_plot",
    "gains_plot",
    "importance_plot",
    "make_plots",
    "metrics_table",
    "render_report",
    "segment_profile_plot",
]
