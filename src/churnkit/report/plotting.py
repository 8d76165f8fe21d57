"""What every churnkit plot shares: series names and colours, the house style, frame checks and the PNG writer.

Plots draw on ``matplotlib.figure.Figure`` (no pyplot state) inside :func:`house_style`, and write through
:func:`save_png` (atomic, no software metadata). Colours are fixed per series (model, recency baseline,
BG/NBD baseline) across every plot and the HTML report.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnkit.data.io import atomic_path
from churnkit.errors import InputError

__all__ = [
    "CHURN_COLUMNS",
    "CLV_COLUMNS",
    "PALETTE",
    "SERIES_LABELS",
    "check_frame",
    "horizon_text",
    "house_style",
    "numeric_column",
    "pct",
    "save_png",
    "scored_series",
    "subtitle",
]

SERIES_LABELS: dict[str, str] = {
    "model": "Model",
    "baseline_recency": "Recency baseline",
    "baseline_btyd": "BG/NBD baseline",
}
"""Display name of each scored series, shared with the HTML report."""

PALETTE: dict[str, str] = {
    # Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
    "model": "#0072B2",
    "baseline_recency": "#E69F00",
    "baseline_btyd": "#009E73",
    "actual": "#4D4D4D",
    "reference": "#9A9A9A",
    "accent": "#D55E00",
}
"""Colour of each series; ``actual`` is for realised values, ``reference`` for random/perfect lines."""

CHURN_COLUMNS = {
    "model": "churn_probability",
    "baseline_recency": "baseline_recency_churn",
    "baseline_btyd": "baseline_btyd_churn",
}
CLV_COLUMNS = {
    "model": "predicted_clv",
    "baseline_recency": "baseline_recency_clv",
    "baseline_btyd": "baseline_btyd_clv",
}

_DPI = 120
_STYLE = {
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.titlepad": 8,
    "axes.labelsize": 10.5,
    "axes.labelcolor": "#333333",
    "axes.edgecolor": "#8C8C8C",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.8,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.frameon": False,
    "legend.fontsize": 9.5,
    "figure.facecolor": "white",
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
}


# --------------------------------------------------------------------------------------------- helpers


@contextmanager
def house_style() -> Iterator[None]:
    """House style for the duration of one figure; matplotlib's settings are restored afterwards."""
    with matplotlib.rc_context(_STYLE):
        yield


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG atomically (no software metadata, so identical inputs give identical files)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI, facecolor="white", metadata={"Software": None})
    return path


def check_frame(frame: object, what: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"Required column {missing[0]} missing from {what}", column=missing[0])
    if frame.empty:
        raise InputError(f"{what} is empty: nothing to plot")
    return frame


def numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def scored_series(
    frame: pd.DataFrame, columns: Mapping[str, str], target: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(target, score) arrays per series present, rows with a missing value dropped; empty series skipped."""
    y = numeric_column(frame, target)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key, column in columns.items():
        if column not in frame.columns:
            continue
        score = numeric_column(frame, column)
        ok = np.isfinite(y) & np.isfinite(score)
        if ok.any():
            out[key] = (y[ok], score[ok])
    return out


def horizon_text(horizon_days: int | None) -> str:
    return f"the next {horizon_days} days" if horizon_days else "the horizon"


def pct(value: float, digits: int = 0) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:.{digits}f}%"


def subtitle(fig: Figure, text: str) -> None:
    """A grey note under the plots; the layout keeps a strip free for it at the bottom."""
    lines = textwrap.wrap(text, width=int(fig.get_figwidth() * 14))
    strip = (0.12 + 0.17 * len(lines)) / fig.get_figheight()
    fig.get_layout_engine().set(rect=(0.0, strip, 1.0, 1.0 - strip))
    fig.text(
        0.5,
        0.06 / fig.get_figheight(),
        "\n".join(lines),
        ha="center",
        va="bottom",
        fontsize=9,
        color="#666666",
    )
