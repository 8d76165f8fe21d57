"""Backtest and segment plots as PNG files, drawn on ``matplotlib.figure.Figure`` (no pyplot state).

Every plot takes the named tables of the backtest (``predictions``, ``importance``, ``profile``) and a
target path, writes the PNG atomically and returns the path. Baseline series whose columns are absent
(or entirely empty) are skipped, so a BTYD-only run plots just what it has. Colours are fixed per series
(model, recency baseline, BG/NBD baseline) across every plot and the HTML report.
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
from matplotlib.ticker import PercentFormatter, StrMethodFormatter

from churnkit.data.io import atomic_path
from churnkit.errors import InputError
from churnkit.models.metrics import expected_calibration_error, lift_at
from churnkit.report.labels import feature_label

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

_CHURN_COLUMNS = {
    "model": "churn_probability",
    "baseline_recency": "baseline_recency_churn",
    "baseline_btyd": "baseline_btyd_churn",
}
_CLV_COLUMNS = {
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
def _style() -> Iterator[None]:
    """House style for the duration of one figure; matplotlib's settings are restored afterwards."""
    with matplotlib.rc_context(_STYLE):
        yield


def _save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG atomically (no software metadata, so identical inputs give identical files)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI, facecolor="white", metadata={"Software": None})
    return path


def _check_frame(frame: object, what: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"Required column {missing[0]} missing from {what}", column=missing[0])
    if frame.empty:
        raise InputError(f"{what} is empty: nothing to plot")
    return frame


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _series(
    frame: pd.DataFrame, columns: Mapping[str, str], target: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(target, score) arrays per series present, rows with a missing value dropped; empty series skipped."""
    y = _numeric(frame, target)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key, column in columns.items():
        if column not in frame.columns:
            continue
        score = _numeric(frame, column)
        ok = np.isfinite(y) & np.isfinite(score)
        if ok.any():
            out[key] = (y[ok], score[ok])
    return out


def _horizon_text(horizon_days: int | None) -> str:
    return f"the next {horizon_days} days" if horizon_days else "the horizon"


def _pct(value: float, digits: int = 0) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:.{digits}f}%"


def _subtitle(fig: Figure, text: str) -> None:
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


# --------------------------------------------------------------------------------------------- plots


def calibration_plot(predictions: pd.DataFrame, path: str | Path, *, horizon_days: int | None = None) -> Path:
    """Reliability diagram of the churn probabilities (model and baselines) with a score histogram below.

    Ten equal-width probability bins, the same bins as the ``churn_ece`` metric; each point is one
    non-empty bin (mean predicted probability, observed churn rate). The legend gives each series' ECE.
    """
    frame = _check_frame(predictions, "predictions", ("churned", "churn_probability"))
    series = _series(frame, _CHURN_COLUMNS, "churned")
    if "model" not in series:
        raise InputError("predictions has no rows with both churned and churn_probability", column="churned")
    edges = np.linspace(0.0, 1.0, 11)
    with _style():
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
        _subtitle(
            fig,
            f"{len(y_all):,} customers; {_pct(float(y_all.mean()))} made no purchase in "
            f"{_horizon_text(horizon_days)}. On the dashed line, a predicted 30% means 30% churn.",
        )
        return _save(fig, path)


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
    frame = _check_frame(predictions, "predictions", ("churned", "churn_probability"))
    series = _series(frame, _CHURN_COLUMNS, "churned")
    if "model" not in series:
        raise InputError("predictions has no rows with both churned and churn_probability", column="churned")
    y_all = series["model"][0]
    base_rate = float(y_all.mean())
    with _style():
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
                label=f"{SERIES_LABELS[key]} (top 10%: {_pct(captured10)} of churners, "
                f"{_pct(lifts[key] * base_rate)} churn)",
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
        _subtitle(
            fig,
            f"{len(y_all):,} customers; {_pct(base_rate)} churned (no purchase in {_horizon_text(horizon_days)}).",
        )
        return _save(fig, path)


def importance_plot(importance: pd.DataFrame, path: str | Path, *, top: int = 20) -> Path:
    """Horizontal bars of the ``top`` features by LightGBM gain, as a share of the total gain.

    Bars carry the readable feature names of :func:`~churnkit.report.labels.feature_label`.
    """
    if top < 1:
        raise InputError(f"top must be at least 1, got {top}")
    frame = _check_frame(importance, "importance", ("feature", "importance"))
    gain = pd.to_numeric(frame["importance"], errors="coerce").fillna(0.0).clip(lower=0.0)
    table = pd.DataFrame({"feature": frame["feature"].astype(str), "gain": gain.to_numpy()})
    total = float(table["gain"].sum())
    table["share"] = table["gain"] / total if total > 0 else 0.0
    table = table.sort_values(["gain", "feature"], ascending=[False, True], kind="stable").head(top)
    table = table.iloc[::-1]  # largest at the top of the chart
    n = len(table)
    with _style():
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
        return _save(fig, path)


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
    frame = _check_frame(predictions, "predictions", ("future_revenue", "predicted_clv"))
    series = _series(frame, {k: _CLV_COLUMNS[k] for k in ("model", "baseline_btyd")}, "future_revenue")
    if "model" not in series:
        raise InputError(
            "predictions has no rows with both future_revenue and predicted_clv", column="predicted_clv"
        )
    with _style():
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
            ax.set_title(f"{SERIES_LABELS[key]}: top decile holds {_pct(top_share)} of revenue", loc="left")
            ax.legend(loc="upper left")
        axes[0].set_ylabel(f"Revenue per customer in {_horizon_text(horizon_days)}")
        axes[0].yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        fig.suptitle("Customer value: predicted vs actual revenue by decile")
        n = len(series["model"][0])
        _subtitle(fig, f"{n:,} customers, 10 equal-sized groups per model; revenue in the shop's currency.")
        return _save(fig, path)


def _unique_labels(names: list[str], clusters: list[object]) -> list[str]:
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    labels = [f"{n} (#{c})" if seen[n] > 1 else n for n, c in zip(names, clusters, strict=True)]
    labels = [label[:1].upper() + label[1:] for label in labels]
    return ["\n".join(textwrap.wrap(label, width=30)) or "(unnamed)" for label in labels]


def segment_profile_plot(profile: pd.DataFrame, path: str | Path) -> Path:
    """Three aligned bar panels per behavioural cluster: share of customers, churn rate, share of revenue."""
    frame = _check_frame(profile, "profile", ("name", "size", "share"))
    frame = frame.sort_values("size", ascending=True, kind="stable")  # largest at the top
    clusters = list(frame["cluster"]) if "cluster" in frame.columns else list(range(len(frame)))
    labels = _unique_labels([str(n) for n in frame["name"]], clusters)
    size = _numeric(frame, "size")
    panels = [
        ("share", "Customers", "Share of customers", PALETTE["model"]),
        ("churn_rate", "Churn rate", "Customers who churned", PALETTE["accent"]),
        ("revenue_share", "Revenue", "Share of revenue", PALETTE["baseline_btyd"]),
    ]
    n = len(frame)
    with _style():
        fig = Figure(figsize=(11.5, 1.8 + 0.55 * n), layout="constrained")
        axes = fig.subplots(1, 3, sharey=True)
        pos = np.arange(n)
        for ax, (column, title, xlabel, colour) in zip(axes, panels, strict=True):
            values = _numeric(frame, column) if column in frame.columns else np.full(n, np.nan)
            shown = np.where(np.isfinite(values), values, 0.0)
            ax.barh(pos, shown, color=colour, height=0.65)
            finite = values[np.isfinite(values)]
            xmax = max(float(finite.max()) if finite.size else 0.0, 0.01)
            limit = min(xmax * 1.35, 1.0)  # shares and rates: the axis never passes 100%
            ax.set_xlim(0, limit)
            for i, v in enumerate(values):
                text = _pct(v, 1) if math.isfinite(v) else "n/a"
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
                    f"all: {_pct(overall, 1)} " if right else f" all: {_pct(overall, 1)}",
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
        return _save(fig, path)


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
