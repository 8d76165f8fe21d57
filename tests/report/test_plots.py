"""Plots: each writes a real PNG atomically, skips absent baselines, and leaves matplotlib's state alone."""

from __future__ import annotations

import struct
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from churnkit.errors import ChurnkitError, InputError
from churnkit.report import plots
from churnkit.report.plots import (
    calibration_plot,
    clv_deciles_plot,
    gains_plot,
    importance_plot,
    make_plots,
    segment_profile_plot,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BTYD_COLUMNS = ["baseline_btyd_churn", "baseline_btyd_clv"]
BASELINE_COLUMNS = ["baseline_recency_churn", "baseline_recency_clv", *BTYD_COLUMNS]


def make_predictions(n: int = 300, seed: int = 7) -> pd.DataFrame:
    """A backtest predictions table in the contract's shape, with scores that carry some signal."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(0.2 + 1.4 * z)))
    churned = (rng.random(n) < p).astype(int)
    revenue = np.where(churned == 1, 0.0, rng.gamma(2.0, 50.0, n))
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "as_of": pd.Timestamp("2024-01-01"),
            "churned": churned,
            "future_revenue": revenue,
            "churn_probability": np.clip(p + rng.normal(0, 0.1, n), 0, 1),
            "baseline_recency_churn": np.round(np.clip(p + rng.normal(0, 0.3, n), 0, 1), 1),  # many ties
            "baseline_btyd_churn": np.clip(0.7 * p + 0.15 + rng.normal(0, 0.1, n), 0, 1),
            "predicted_clv": (1 - p) * 100 * np.exp(rng.normal(0, 0.3, n)),
            "baseline_recency_clv": np.full(n, revenue.mean()),
            "baseline_btyd_clv": (1 - p) * 80 * np.exp(rng.normal(0, 0.6, n)),
            "is_repeat": rng.random(n) < 0.4,
        }
    )


def make_importance(n: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {"feature": [f"feature_{i}" for i in range(n)], "importance": rng.gamma(1.0, 100.0, n)}
    )


def make_profile() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster": [0, 1, 2, 3],
            "name": [
                "recent frequent buyers",
                "lapsed rare buyers",
                "lapsed rare buyers",
                "new cart abandoners",
            ],
            "size": [120, 300, 80, 100],
            "share": [0.2, 0.5, 4 / 30, 1 / 6],
            "churn_rate": [0.1, 0.8, np.nan, 0.5],
            "revenue_share": [0.55, 0.15, 0.1, 0.2],
            "orders": [6.1, 1.2, 1.0, 1.4],
        }
    )


def assert_png(path: Path, *, min_width: int = 500, min_height: int = 300) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert width >= min_width and height >= min_height


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


PREDICTION_PLOTS = [calibration_plot, gains_plot, clv_deciles_plot]


@pytest.mark.parametrize("plot", PREDICTION_PLOTS, ids=lambda f: f.__name__)
def test_prediction_plots_write_a_png(plot, tmp_path):
    out = plot(make_predictions(), tmp_path / "sub" / "plot.png", horizon_days=90)
    assert out == tmp_path / "sub" / "plot.png"
    assert_png(out)
    assert leftovers(out.parent) == []


@pytest.mark.parametrize("plot", PREDICTION_PLOTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dropped", [BTYD_COLUMNS, BASELINE_COLUMNS], ids=["btyd-only-mode", "no-baselines"])
def test_prediction_plots_skip_missing_baselines(plot, dropped, tmp_path):
    predictions = make_predictions().drop(columns=dropped)
    assert_png(plot(predictions, tmp_path / "plot.png"))


def test_a_baseline_that_is_all_missing_is_skipped(tmp_path):
    predictions = make_predictions().assign(baseline_btyd_churn=np.nan, baseline_btyd_clv=None)
    for plot in PREDICTION_PLOTS:
        assert_png(plot(predictions, tmp_path / f"{plot.__name__}.png"))


def test_fewer_customers_than_deciles_and_no_churners(tmp_path):
    predictions = make_predictions(n=6).assign(churned=0)
    for plot in PREDICTION_PLOTS:
        assert_png(plot(predictions, tmp_path / f"{plot.__name__}.png"))


@pytest.mark.parametrize("column", ["churned", "churn_probability"])
def test_missing_required_column_names_it(column, tmp_path):
    with pytest.raises(InputError, match=f"Required column {column} missing from predictions"):
        gains_plot(make_predictions().drop(columns=column), tmp_path / "gains.png")
    assert list(tmp_path.iterdir()) == []


def test_empty_predictions_is_a_user_error(tmp_path):
    with pytest.raises(ChurnkitError, match="predictions is empty"):
        calibration_plot(make_predictions().iloc[:0], tmp_path / "calibration.png")


def test_importance_plot_top_n(tmp_path):
    assert_png(importance_plot(make_importance(40), tmp_path / "importance.png", top=20))
    assert_png(importance_plot(make_importance(3), tmp_path / "small.png"), min_height=200)
    with pytest.raises(InputError, match="top must be at least 1"):
        importance_plot(make_importance(), tmp_path / "bad.png", top=0)


def test_segment_profile_plot_with_missing_churn_rate_and_repeated_names(tmp_path):
    assert_png(segment_profile_plot(make_profile(), tmp_path / "segments.png"))
    no_rates = make_profile().drop(columns=["churn_rate"]).assign(revenue_share=np.nan)
    assert_png(segment_profile_plot(no_rates, tmp_path / "segments2.png"))


def make_cohorts(n: int = 8) -> pd.DataFrame:
    """A cohort share matrix: row i observed for n - i periods, 100% in period 0."""
    rng = np.random.default_rng(3)
    values = rng.uniform(0.0, 0.3, (n, n))
    values[:, 0] = 1.0
    values[np.add.outer(np.arange(n), np.arange(n)) >= n] = np.nan
    return pd.DataFrame(values, index=pd.date_range("2024-01-01", periods=n, freq="MS"))


def test_make_plots_names_and_order(tmp_path):
    paths = make_plots(
        tmp_path / "plots",
        predictions=make_predictions(),
        importance=make_importance(),
        profile=make_profile(),
        cohorts=make_cohorts(),
    )
    assert list(paths) == ["calibration", "gains", "importance", "clv_deciles", "segment_profile", "cohorts"]
    assert list(paths) == list(plots.PLOT_NAMES)
    for name, path in paths.items():
        assert path == tmp_path / "plots" / f"{name}.png"
        assert_png(path, min_height=200)
    assert leftovers(tmp_path / "plots") == []


def test_make_plots_skips_what_does_not_apply(tmp_path):
    paths = make_plots(
        tmp_path, predictions=make_predictions(), importance=None, profile=make_profile().iloc[:0]
    )
    assert list(paths) == ["calibration", "gains", "clv_deciles"]


def test_gains_curve_does_not_depend_on_row_order_within_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(float)
    score = rng.integers(0, 5, 200) / 4  # five distinct values: heavy ties
    x1, g1 = plots._gains_curve(y, score)
    order = rng.permutation(200)
    x2, g2 = plots._gains_curve(y[order], score[order])
    np.testing.assert_allclose(x1, x2)
    np.testing.assert_allclose(g1, g2)
    # A constant score is a random ordering: the straight diagonal.
    x, g = plots._gains_curve(y, np.full(200, 0.3))
    np.testing.assert_allclose(x, [0, 1])
    np.testing.assert_allclose(g, [0, 1])


def test_plots_leave_matplotlib_settings_alone(tmp_path):
    before = dict(matplotlib.rcParams)
    calibration_plot(make_predictions(), tmp_path / "calibration.png")
    assert dict(matplotlib.rcParams) == before


def test_same_input_gives_identical_files(tmp_path):
    a = gains_plot(make_predictions(), tmp_path / "a.png")
    b = gains_plot(make_predictions(), tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()


def test_failed_save_leaves_neither_file_nor_temp(tmp_path, monkeypatch):
    def broken_savefig(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        calibration_plot(make_predictions(), tmp_path / "calibration.png")
    assert list(tmp_path.iterdir()) == []
