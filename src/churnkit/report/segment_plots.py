"""The behavioural-segment plot: size, churn rate and revenue share of each cluster, as one PNG."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from churnkit.report.plotting import PALETTE, check_frame, house_style, numeric_column, pct, save_png

__all__ = ["segment_profile_plot"]


def _unique_labels(names: list[str], clusters: list[object]) -> list[str]:
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    labels = [f"{n} (#{c})" if seen[n] > 1 else n for n, c in zip(names, clusters, strict=True)]
    labels = [label[:1].upper() + label[1:] for label in labels]
    return ["\n".join(textwrap.wrap(label, width=30)) or "(unnamed)" for label in labels]


def segment_profile_plot(profile: pd.DataFrame, path: str | Path) -> Path:
    """Three aligned bar panels per behavioural cluster: share of customers, churn rate, share of revenue."""
    frame = check_frame(profile, "profile", ("name", "size", "share"))
    frame = frame.sort_values("size", ascending=True, kind="stable")  # largest at the top
    clusters = list(frame["cluster"]) if "cluster" in frame.columns else list(range(len(frame)))
    labels = _unique_labels([str(n) for n in frame["name"]], clusters)
    size = numeric_column(frame, "size")
    panels = [
        ("share", "Customers", "Share of customers", PALETTE["model"]),
        ("churn_rate", "Churn rate", "Customers who churned", PALETTE["accent"]),
        ("revenue_share", "Revenue", "Share of revenue", PALETTE["baseline_btyd"]),
    ]
    n = len(frame)
    with house_style():
        fig = Figure(figsize=(11.5, 1.8 + 0.55 * n), layout="constrained")
        axes = fig.subplots(1, 3, sharey=True)
        pos = np.arange(n)
        for ax, (column, title, xlabel, colour) in zip(axes, panels, strict=True):
            values = numeric_column(frame, column) if column in frame.columns else np.full(n, np.nan)
            shown = np.where(np.isfinite(values), values, 0.0)
            ax.barh(pos, shown, color=colour, height=0.65)
            finite = values[np.isfinite(values)]
            xmax = max(float(finite.max()) if finite.size else 0.0, 0.01)
            limit = min(xmax * 1.35, 1.0)  # shares and rates: the axis never passes 100%
            ax.set_xlim(0, limit)
            for i, v in enumerate(values):
                text = pct(v, 1) if math.isfinite(v) else "n/a"
                if column == "share":
                    text += f"  ({int(size[i]):,})" if math.isfinite(size[i]) else ""
                x = v if math.isfinite(v) else 0.0
                inside = x + limit * (0.06 + 0.017 * len(text)) > limit  # no room right of the bar
                ax.text(
                    x - limit * 0.02 if inside else x + limit * 0.02,
                    i,
                    text,
                    va="center",
                    ha="right" if inside else "left",
                    color="white" if inside else "black",
                    fontsize=9,
                )
            if column == "churn_rate" and finite.size and np.isfinite(size).all() and size.sum() > 0:
                ok = np.isfinite(values)
                overall = float((values[ok] * size[ok]).sum() / size[ok].sum())
                ax.axvline(overall, ls="--", lw=1.2, color=PALETTE["reference"])
                right = overall > 0.7 * limit
                ax.text(
                    overall,
                    n - 0.45,
                    f"all: {pct(overall, 1)} " if right else f" all: {pct(overall, 1)}",
                    ha="right" if right else "left",
                    fontsize=8.5,
                    color="#666666",
                )
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            ax.set_title(title, loc="left")
            ax.set_xlabel(xlabel)
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(pos, labels)
        axes[0].set_ylim(-0.6, n - 0.2)
        fig.suptitle("Behavioural segments: size, churn and revenue")
        return save_png(fig, path)
