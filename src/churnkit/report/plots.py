"""Backtest plots as PNG files: calibration, cumulative gains, feature importance and CLV by decile.

Every plot takes the named tables of the backtest (``predictions``, ``importance``) and a target path,
writes the PNG atomically and returns the path. Baseline series whose columns are absent (or entirely
empty) are skipped, so a BTYD-only run plots just what it has. Shared style and colours:
`churnkit.report.plotting`; the segment plot: `churnkit.report.segment_plots`.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter, StrMethodFormatter

from churnkit.errors import InputError
from churnkit.models.metrics import expected_calibration_error, lift_at
from churnkit.report.labels import feature_label
from churnkit.report.plotting import (
    CHURN_COLUMNS,
    CLV_COLUMNS,
    PALETTE,
    SERIES_LABELS,
    check_frame,
    horizon_text,
    house_style,
    pct,
    save_png,
    scored_series,
    subtitle,
)
from churnkit.report.segment_plots import segment_profile_plot

__all__ = [
    "PALETTE",
    "PLOT_NAMES",
    "SERIES_LABELS",
    "calibration_plot",
    "clv_deciles_plot",
    "gains_plot",
    "importance_plot",
    "make_plots",
    "segment_profile_plot",
]

PLOT_NAMES: tuple[str, ...] = (
    "calibration",
    "gains",
    "importance",
    "clv_deciles",
    "segment_profile",
    "cohorts",
)
"""Keys of :func:`make_plots` (and file stems of the PNGs), in report order."""


def calibration_plot(predictions: pd.DataFrame, path: str | Path, *, horizon_days: int | None = None) -> Path:
    """Reliability diagram of the churn probabilities (model and baselines) with a score histogram below.

    Ten equal-width probability bins, the same bins as the ``churn_ece`` metric; each point is one
    non-empty bin (mean predicted probability, observed churn rate). The legend gives each series' ECE.
    """
    frame = check_frame(predictions, "predictions", ("churned", "churn_probability"))
    series = scored_series(frame, CHURN_COLUMNS, "churned")
    if "model" not in series:
        raise InputError("predictions has no rows with both churned and churn_probability", column="churned")
    edges = np.linspace(0.0, 1.0, 11)
    with house_style():
        fig = Figure(figsize=(7.5, 7.2), layout="constrained")
        grid = fig.add_gridspec(2, 1, height_ratios=(3.2, 1.2))
        ax = fig.add_subplot(grid[0])
        hist = fig.add_subplot(grid[1], sharex=ax)
        ax.plot([0, 1], [0, 1], ls="--", lw=1.2, color=PALETTE["reference"], label="Perfect calibration")
        for key, (y, p) in series.items():
            p = np.clip(p, 0.0, 1.0)
            bins = np.searchsorted(edges[1:-1], p, side="right")
            count = np.bincount(bins, minlength=10)
            keep = count > 0
            mean_p = np.bincount(bins, weights=p, minlength=10)[keep] / count[keep]
            rate = np.bincount(bins, weights=y, minlength=10)[keep] / count[keep]
            ece = expected_calibration_error(y, p)
            ax.plot(
                mean_p,
                rate,
                marker="o",
                ms=5.5,
                lw=2.2 if key == "model" else 1.6,
                color=PALETTE[key],
                label=f"{SERIES_LABELS[key]} (ECE {ece:.3f})",
                zorder=3 if key == "model" else 2,
            )
            hist.hist(p, bins=20, range=(0, 1), histtype="step", lw=1.6, color=PALETTE[key])
        ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="Observed churn rate")
        ax.set_title("Predicted vs observed churn, 10 probability bins", loc="left")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.tick_params(labelbottom=False)
        ax.legend(loc="upper left")
        hist.set(xlabel="Predicted churn probability", ylabel="Customers")
        hist.set_title("How the scores are spread", loc="left", fontsize=10.5)
        y_all = series["model"][0]
        fig.suptitle("Churn probability calibration")
        subtitle(
            fig,
            f"{len(y_all):,} customers; {pct(float(y_all.mean()))} made no purchase in "
            f"{horizon_text(horizon_days)}. On the dashed line, a predicted 30% means 30% churn.",
        )
        return save_png(fig, path)


def _gains_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share contacted vs share of churners captured, ordering by decreasing score.

    Points sit at the ends of blocks of tied scores and are joined by straight lines: the expected curve
    over random orderings within a tie, so the curve does not depend on the row order.
    """
    order = np.argsort(-score, kind="stable")
    s, t = score[order], y[order]
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]
    contacted = (ends + 1) / s.size
    captured = np.cumsum(t)[ends] / max(t.sum(), 1e-12)
    return np.r_[0.0, contacted], np.r_[0.0, captured]


def gains_plot(predictions: pd.DataFrame, path: str | Path, *, horizon_days: int | None = None) -> Path:
    """Cumulative gains (share of churners captured vs share of customers contacted) and lift at the top 10%.

    Left: one curve per series, ordering customers by decreasing churn probability, with the random and
    the perfect ordering for reference. Right: the lift in the top 10% (churn rate there / overall rate).
    """
    frame = check_frame(predictions, "predictions", ("churned", "churn_probability"))
    series = scored_series(frame, CHURN_COLUMNS, "churned")
    if "model" not in series:
        raise InputError("predictions has no rows with both churned and churn_probability", column="churned")
    y_all = series["model"][0]
    base_rate = float(y_all.mean())
    with house_style():
        fig = Figure(figsize=(10.5, 5.4), layout="constrained")
        grid = fig.add_gridspec(1, 2, width_ratios=(2.3, 1))
        ax = fig.add_subplot(grid[0])
        bar_ax = fig.add_subplot(grid[1])
        ax.plot([0, 1], [0, 1], ls="--", lw=1.2, color=PALETTE["reference"], label="Random order")
        if 0 < base_rate < 1:
            ax.plot(
                [0, base_rate, 1],
                [0, 1, 1],
                ls=":",
                lw=1.2,
                color=PALETTE["reference"],
                label="Perfect order",
            )
        ax.axvline(0.1, color=PALETTE["accent"], lw=1, alpha=0.6)
        ax.text(0.105, 0.03, "top 10%", color=PALETTE["accent"], fontsize=9)
        lifts: dict[str, float] = {}
        for key, (y, score) in series.items():
            x, g = _gains_curve(y, score)
            captured10 = float(np.interp(0.1, x, g)) if y.sum() else math.nan
            lifts[key] = lift_at(y, np.clip(score, 0.0, 1.0), share=0.1) if y.sum() else math.nan
            ax.plot(
                x,
                g,
                lw=2.4 if key == "model" else 1.7,
                color=PALETTE[key],
                label=f"{SERIES_LABELS[key]} (top 10%: {pct(captured10)} of churners, "
                f"{pct(lifts[key] * base_rate)} churn)",
                zorder=3 if key == "model" else 2,
            )
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="Customers contacted (highest churn probability first)")
        ax.set_ylabel("Churners captured")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title("Cumulative gains", loc="left")
        ax.legend(loc="lower right")

        keys = list(lifts)[::-1]  # model on top
        values = [lifts[k] for k in keys]
        bars = bar_ax.barh(
            [SERIES_LABELS[k] for k in keys],
            [v if math.isfinite(v) else 0.0 for v in values],
            color=[PALETTE[k] for k in keys],
            height=0.6,
        )
        bar_ax.axvline(1.0, ls="--", lw=1.2, color=PALETTE["reference"])
        finite = [v for v in values if math.isfinite(v)]
        # The best any ranking can do: every customer in the top 10% a churner (1 / churn rate, at most 10×).
        ceiling = min(1.0 / base_rate, 10.0) if 0 < base_rate < 1 else math.nan
        top = max([1.0, *finite, ceiling if math.isfinite(ceiling) else 1.0]) * 1.35
        bar_ax.set_xlim(0, top)
        bar_ax.text(1.0, len(keys) - 0.45, " random = 1×", color="#666666", fontsize=9, va="bottom")
        if math.isfinite(ceiling):
            bar_ax.axvline(ceiling, ls=":", lw=1.4, color=PALETTE["accent"])
            bar_ax.text(
                ceiling,
                -0.85,
                f"best possible {ceiling:.2f}× ",
                color=PALETTE["accent"],
                fontsize=9,
                va="bottom",
                ha="right",
            )
        for bar, v in zip(bars, values, strict=True):
            text = f"{v:.2f}×" if math.isfinite(v) else "n/a"
            bar_ax.text(
                bar.get_width() + top * 0.02,
                bar.get_y() + bar.get_height() / 2,
                text,
                va="center",
                fontsize=10,
                fontweight="bold",
            )
        bar_ax.set_xlabel("× the overall churn rate")
        bar_ax.set_title("Lift at the top 10%", loc="left")
        bar_ax.grid(axis="y", visible=False)
        bar_ax.set_ylim(-0.9 if math.isfinite(ceiling) else -0.6, len(keys) - 0.1)

        fig.suptitle("Who to contact: churners found by targeting the riskiest customers first")
        subtitle(
            fig,
            f"{len(y_all):,} customers; {pct(base_rate)} churned (no purchase in {horizon_text(horizon_days)}).",
        )
        return save_png(fig, path)


def importance_plot(importance: pd.DataFrame, path: str | Path, *, top: int = 20) -> Path:
    """Horizontal bars of the ``top`` features by LightGBM gain, as a share of the total gain.

    Bars carry the readable feature names of :func:`~churnkit.report.labels.feature_label`.
    """
    if top < 1:
        raise InputError(f"top must be at least 1, got {top}")
    frame = check_frame(importance, "importance", ("feature", "importance"))
    gain = pd.to_numeric(frame["importance"], errors="coerce").fillna(0.0).clip(lower=0.0)
    table = pd.DataFrame({"feature": frame["feature"].astype(str), "gain": gain.to_numpy()})
    total = float(table["gain"].sum())
    table["share"] = table["gain"] / total if total > 0 else 0.0
    table = table.sort_values(["gain", "feature"], ascending=[False, True], kind="stable").head(top)
    table = table.iloc[::-1]  # largest at the top of the chart
    n = len(table)
    with house_style():
        fig = Figure(figsize=(9.0, 1.6 + 0.32 * n), layout="constrained")
        ax = fig.add_subplot()
        labels = [textwrap.shorten(feature_label(f), width=48, placeholder="…") for f in table["feature"]]
        bars = ax.barh(labels, table["share"], color=PALETTE["model"], height=0.7)
        xmax = float(table["share"].max()) if n else 0.0
        ax.set_xlim(0, max(xmax * 1.18, 0.01))
        for bar, share in zip(bars, table["share"], strict=True):
            ax.text(
                bar.get_width() + max(xmax, 0.01) * 0.01,
                bar.get_y() + bar.get_height() / 2,
                f"{100 * share:.1f}%",
                va="center",
                fontsize=9,
            )
        ax.set_ylim(-0.6, n - 0.4)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("Share of total LightGBM gain")
        shown = f"top {n} of {len(frame)}" if len(frame) > n else f"all {n}"
        # A figure title, not an axes title: long feature names take the left of the figure.
        fig.suptitle(f"Feature importance: what drives the model ({shown} features)", fontsize=11.5)
        return save_png(fig, path)


def _deciles(score: np.ndarray) -> np.ndarray:
    """Decile 1 (lowest) to 10 (highest) of ``score``; ties are split by row order, as in a sorted list."""
    n = score.size
    ranks = np.empty(n, dtype=np.int64)
    ranks[np.argsort(score, kind="stable")] = np.arange(n)
    return (ranks * 10) // n + 1


def clv_deciles_plot(predictions: pd.DataFrame, path: str | Path, *, horizon_days: int | None = None) -> Path:
    """Mean actual vs mean predicted H-day revenue per decile of predicted CLV: model and BG/NBD baseline.

    Customers are put in ten equal-sized groups by each series' own prediction; bars are the realised
    mean revenue, the line the predicted mean. Good CLV predictions rise from left to right and sit on
    the bars.
    """
    frame = check_frame(predictions, "predictions", ("future_revenue", "predicted_clv"))
    series = scored_series(frame, {k: CLV_COLUMNS[k] for k in ("model", "baseline_btyd")}, "future_revenue")
    if "model" not in series:
        raise InputError(
            "predictions has no rows with both future_revenue and predicted_clv", column="predicted_clv"
        )
    with house_style():
        fig = Figure(figsize=(max(8.0, 5.2 * len(series) + 0.6), 5.2), layout="constrained")
        axes = fig.subplots(1, len(series), sharey=True, squeeze=False)[0]
        for ax, (key, (actual, pred)) in zip(axes, series.items(), strict=True):
            dec = _deciles(pred)
            idx = np.arange(1, 11)
            count = np.bincount(dec, minlength=11)[1:]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_actual = np.bincount(dec, weights=actual, minlength=11)[1:] / count
                mean_pred = np.bincount(dec, weights=pred, minlength=11)[1:] / count
            ax.bar(
                idx,
                mean_actual,
                width=0.7,
                color=PALETTE["actual"],
                alpha=0.35,
                label="Actual revenue (mean)",
            )
            ax.plot(
                idx,
                mean_pred,
                marker="o",
                ms=5.5,
                lw=2.2,
                color=PALETTE[key],
                label="Predicted revenue (mean)",
            )
            ax.set_xticks(idx)
            ax.set_xlabel("Decile of predicted CLV (1 = lowest, 10 = highest)")
            ax.grid(axis="x", visible=False)
            total = actual.sum()
            top_share = actual[dec == 10].sum() / total if total > 0 else math.nan
            ax.set_title(f"{SERIES_LABELS[key]}: top decile holds {pct(top_share)} of revenue", loc="left")
            ax.legend(loc="upper left")
        axes[0].set_ylabel(f"Revenue per customer in {horizon_text(horizon_days)}")
        axes[0].yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        fig.suptitle("Customer value: predicted vs actual revenue by decile")
        n = len(series["model"][0])
        subtitle(fig, f"{n:,} customers, 10 equal-sized groups per model; revenue in the shop's currency.")
        return save_png(fig, path)


def make_plots(
    out_dir: str | Path,
    *,
    predictions: pd.DataFrame,
    importance: pd.DataFrame | None = None,
    profile: pd.DataFrame | None = None,
    horizon_days: int | None = None,
    cohorts: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Draw every plot the inputs allow into ``out_dir`` as ``<name>.png``; return {name: path} in report order.

    Names: calibration, gains, importance (when ``importance`` is given and not empty), clv_deciles,
    segment_profile (when ``profile`` is given and not empty), cohorts (when ``cohorts``, a matrix from
    :func:`churnkit.kpis.cohort_retention`, is given and not empty).
    """
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    paths["calibration"] = calibration_plot(
        predictions, out_dir / "calibration.png", horizon_days=horizon_days
    )
    paths["gains"] = gains_plot(predictions, out_dir / "gains.png", horizon_days=horizon_days)
    if importance is not None and not importance.empty:
        paths["importance"] = importance_plot(importance, out_dir / "importance.png")
    paths["clv_deciles"] = clv_deciles_plot(
        predictions, out_dir / "clv_deciles.png", horizon_days=horizon_days
    )
    if profile is not None and not profile.empty:
        paths["segment_profile"] = segment_profile_plot(profile, out_dir / "segment_profile.png")
    if cohorts is not None and not cohorts.empty:
        from churnkit.kpis import plot_cohort_heatmap

        paths["cohorts"] = plot_cohort_heatmap(cohorts, out_dir / "cohorts.png")
    return paths
