"""What a reader sees: cohort cells in percent, readable feature names, a data summary table, axes ≤ 100%."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnkit.features import FEATURES
from churnkit.kpis import cohort_heatmap_figure, plot_cohort_heatmap
from churnkit.report import importance_plot, plots, render_report, segment_plots, segment_profile_plot
from churnkit.report.labels import column_label, feature_label

NAN = np.nan


# --------------------------------------------------------------------------------------------- cohort heatmap


def hand_cohorts() -> pd.DataFrame:
    return pd.DataFrame(
        [[1.0, 0.25, 0.125], [1.0, 0.5, NAN], [1.0, NAN, NAN]],
        index=pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
        columns=pd.RangeIndex(3, name="periods_since"),
    )


def test_heatmap_cells_carry_percent_labels():
    fig = cohort_heatmap_figure(hand_cohorts())
    ax = fig.axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells == {
        (0, 0): "100%",
        (0, 1): "25%",
        (0, 2): "12%",  # 12.5% written without decimals
        (1, 0): "100%",
        (1, 1): "50%",
        (2, 0): "100%",
    }
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2024-01", "2024-02", "2024-03"]


def test_heatmap_colour_scale_covers_the_data():
    matrix = hand_cohorts()
    fig = cohort_heatmap_figure(matrix)
    image = fig.axes[0].images[0]
    assert image.norm.vmin == 0.0
    assert image.norm.vmax >= np.nanmax(matrix.to_numpy())  # 100%: column 0 is not over-saturated
    colorbar = fig.axes[1]
    ticks = [t.get_text() for t in colorbar.get_xticklabels()]
    assert ticks[0] == "0%" and ticks[-1] == "100%"
    # The lightest colour is the largest value, not every cell above a quarter.
    assert image.norm(1.0) == pytest.approx(1.0) and image.norm(0.25) < 0.9


def test_heatmap_of_counts_labels_counts(tmp_path: Path):
    counts = pd.DataFrame([[40, 10], [25, pd.NA]], dtype="Int64")
    fig = cohort_heatmap_figure(counts)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["10", "25", "40"]
    assert fig.axes[0].images[0].norm.vmax >= 40
    path = plot_cohort_heatmap(counts, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_large_heatmap_skips_cell_labels():
    big = pd.DataFrame(np.full((70, 70), 0.1))
    assert len(cohort_heatmap_figure(big).axes[0].texts) == 0


# --------------------------------------------------------------------------------------------- feature names


def test_every_catalogue_feature_has_a_readable_name():
    for feature in FEATURES:
        label = feature_label(feature.name)
        assert label and "_" not in label, feature.name
    assert feature_label("ipt_mean_days") == "Average days between purchases"
    assert feature_label("orders_45d") == "Orders, last 45 days"  # a window the defaults do not have
    assert feature_label("channel_share_mobile_app") == "Share of orders via mobile app"
    assert feature_label("attr_country") == "Customer country"
    assert feature_label("p_no_purchase") == "Chance of no purchase in the horizon (BG/NBD)"
    assert feature_label("something_new") == "Something new"  # unknown: spaces, not a crash
    assert column_label("churn_rate") == "Churn rate"


def _captured(monkeypatch) -> list:
    figures: list = []

    def save(fig, path):
        figures.append(fig)
        return Path(path)

    monkeypatch.setattr(plots, "save_png", save)
    monkeypatch.setattr(segment_plots, "save_png", save)
    return figures


def test_importance_plot_uses_readable_names(monkeypatch, tmp_path: Path):
    figures = _captured(monkeypatch)
    importance = pd.DataFrame(
        {"feature": ["days_since_last_visit", "ipt_mean_days", "orders_90d"], "importance": [5.0, 3.0, 1.0]}
    )
    importance_plot(importance, tmp_path / "i.png")
    labels = [t.get_text() for t in figures[0].axes[0].get_yticklabels()]
    assert labels == [
        "Orders, last 90 days",
        "Average days between purchases",
        "Days since last website visit",
    ]


def test_segment_churn_axis_stops_at_100_percent(monkeypatch, tmp_path: Path):
    figures = _captured(monkeypatch)
    profile = pd.DataFrame(
        {
            "cluster": [0, 1],
            "name": ["lapsed", "loyal"],
            "size": [900, 100],
            "share": [0.9, 0.1],
            "churn_rate": [0.97, 0.3],
            "revenue_share": [0.2, 0.8],
        }
    )
    segment_profile_plot(profile, tmp_path / "s.png")
    for ax in figures[0].axes:
        assert ax.get_xlim()[1] <= 1.0
        assert all(float(t.get_text().rstrip("%")) <= 100 for t in ax.get_xticklabels() if t.get_text())


# --------------------------------------------------------------------------------------------- report text


def hand_profile() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster": [0, 1],
            "name": ["lapsed one-timers", "loyal"],
            "size": [30, 10],
            "share": [0.75, 0.25],
            "ipt_mean_days": [np.nan, 21.5],
            "browse_to_buy": [0.1, 0.45],
            "churn_rate": [0.9, 0.2],
            "revenue_share": [0.3, 0.7],
        }
    )


SUMMARY = {
    "run_id": "r1",
    "as_of": "2026-01-01",
    "horizon_days": 90,
    "test_as_of": "2025-10-03",
    "train_as_ofs": ["2025-02-05", "2025-03-07"],
    "final_as_ofs": ["2025-09-03", "2025-10-03"],
    "champion": "boosted",
    "customers_scored": 1500,
    "training_rows": 9937,
    "btyd": {
        "model": "bgnbd",
        "penalizer": 0.0,
        "converged": True,
        "n_customers": 1500,
        "n_repeat_customers": 600,
        "attempts": [{"part": "BG/NBD", "ok": True}],
        "seconds": {"spend": 0.03},
    },
    "load": [
        "transactions: 7,103 rows loaded from tx.csv; 16 exact duplicates dropped; 0 rows set aside; 162 returns",
        "events: 67,059 rows loaded from ev.csv; 3 rows set aside (3 unparseable timestamp) → rejected/events.csv",
    ],
}


def _render(tmp_path: Path, **kwargs) -> str:
    args = {
        "title": "t",
        "metrics": {"churn_auc": 0.9, "churn_lift_top10": 1.1},
        "images": {},
        "summary": SUMMARY,
    }
    args.update(kwargs)
    return render_report(tmp_path / "r.html", **args).read_text(encoding="utf-8")


def test_data_summary_is_a_definition_list_not_a_dict_dump(tmp_path: Path):
    html = _render(tmp_path)
    section = re.search(r'<section id="data-summary">(.*?)</section>', html, re.S).group(1)
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", section))
    assert facts["Customers in the base at D"] == (
        "1,500 — one-time buyers 900 (60.0%), repeat buyers 600 (40.0%)"
    )
    assert facts["Rows set aside"].startswith("3 in total")
    assert facts["Backtest snapshot"].startswith("2025-10-03")
    assert facts["Training snapshots (final model)"] == "2 dates, 2025-09-03 to 2025-10-03"
    assert facts["BTYD fit"] == "BG/NBD + Gamma-Gamma; converged; penalizer 0.0"
    # the load lines as a table: rows loaded, duplicates, set aside, returns per input
    rows = re.findall(r"<tr><td>(\w+)</td>((?:<td class=num>[^<]*</td>)+)", section)
    cells = {name: re.findall(r">([^<]*)<", rest)[::2] for name, rest in rows}
    assert cells["transactions"][:4] == ["7,103", "16", "0", "162"]
    assert cells["events"][:4] == ["67,059", "0", "3", "0"]
    for dump in ("{'", "{&#39;", "'part'", "&#39;part&#39;", "Btyd."):
        assert dump not in section


def test_profile_table_uses_readable_names_and_says_its_snapshot(tmp_path: Path):
    scores = pd.DataFrame(
        {
            "customer_id": list("abcde"),
            "churn_probability": 0.5,
            "predicted_clv": 1.0,
            "cluster": [0, 0, 0, 1, 1],
        }
    )
    html = _render(tmp_path, profile=hand_profile(), scores=scores)
    section = re.search(r'<section id="segment-profiles">(.*?)</section>', html, re.S).group(1)
    assert "Average days between purchases" in section and "ipt_mean_days" not in section
    assert "Visits ending in a purchase" in section
    assert "45.0%" in section  # browse_to_buy is a share in the catalogue: shown in percent
    assert "latest labelled snapshot, 2025-10-03" in section
    assert (
        "<td>Customers at 2026-01-01</td><td class=num>3 (60.0%)</td><td class=num>2 (40.0%)</td>" in section
    )
    assert "<td>Customers at 2025-10-03</td><td class=num>30</td>" in section


def test_headline_numbers_quote_rates_against_the_base(tmp_path: Path):
    # 20 customers, 18 churned (base 90%); the 2 riskiest both churned; the 2 safest: one churned.
    p = np.linspace(0.99, 0.05, 20)
    churned = np.ones(20)
    churned[[17, 19]] = 0
    predictions = pd.DataFrame({"churned": churned, "churn_probability": p})
    lift = 1.0 / 0.9  # top 2 of 20 all churned: 100% / 90%
    html = _render(tmp_path, predictions=predictions, metrics={"churn_lift_top10": lift, "churn_auc": 0.7})
    assert "churn rate in the riskiest 10% vs 90.0% overall (lift 1.11×)" in html
    assert "no ranking can do better than 1.11×" in html
    assert '50.0%</div><div class="caption">churn rate in the safest 10% vs 90.0% overall' in html
    assert "scored the 20 customers in the base on that day; 90.0% of them made no purchase" in html


def test_customer_group_metrics_are_folded_away(tmp_path: Path):
    metrics = {"churn_auc": 0.9, "churn_auc_one_time": 0.8, "baseline_btyd_churn_auc_repeat": 0.7}
    html = _render(tmp_path, metrics=metrics)
    section = re.search(r'<section id="metrics">(.*?)</section>', html, re.S).group(1)
    folded = re.findall(r'<details class="group">\s*<summary>([^<]*)</summary>(.*?)</details>', section, re.S)
    assert [title for title, _ in folded] == [
        "One-time buyers: the same measures for this group only",
        "Repeat buyers: the same measures for this group only",
    ]
    assert "<code>churn_auc_one_time</code>" in folded[0][1]
    assert "<code>churn_auc_one_time</code>" not in section.split('<details class="group">')[0]


def test_figures_follow_the_report_order_not_the_file_order(tmp_path: Path):
    from matplotlib.figure import Figure

    images = {}
    for name in ("calibration", "clv_deciles", "cohorts", "extra", "gains"):  # as a folder listing sorts them
        fig = Figure(figsize=(1, 1))
        fig.add_subplot().plot([0, 1])
        fig.savefig(tmp_path / f"{name}.png", format="png", dpi=30)
        images[name] = tmp_path / f"{name}.png"
    html = _render(tmp_path, images=images)
    assert re.findall(r'<figure id="plot-(\w+)"', html) == [
        "calibration",
        "gains",
        "clv_deciles",
        "cohorts",
        "extra",
    ]
    assert '<figure id="plot-cohorts" class=wide>' in html


def test_gains_plot_marks_the_best_possible_lift(monkeypatch, tmp_path: Path):
    figures = _captured(monkeypatch)
    churned = np.r_[np.ones(16), np.zeros(4)]  # 80% churn: no ranking beats 1 / 0.8 = 1.25×
    predictions = pd.DataFrame({"churned": churned, "churn_probability": np.linspace(0.9, 0.1, 20)})
    plots.gains_plot(predictions, tmp_path / "g.png")
    bar_ax = figures[0].axes[1]
    assert 1.25 in [line.get_xdata()[0] for line in bar_ax.get_lines()]
    assert "best possible 1.25× " in [t.get_text() for t in bar_ax.texts]
    legend = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert "Model (top 10%: 12% of churners, 100% churn)" in legend  # 2 of 16 churners; both churned


def test_data_summary_names_each_targets_model_the_evidence_and_btyd_problems():
    from churnkit.report.data_summary import data_summary

    facts, _ = data_summary(
        {
            "as_of": "2026-01-01",
            "champions": {"churn": "btyd", "clv": "boosted"},
            "evidence": "customer_holdout",
            "seasonal_as_ofs": ["2025-01-01"],
            "btyd_snapshots": {
                "2025-02-01": {"message": "a → 0: no dropout visible yet"},
                "2025-03-01": {"message": None},
            },
        },
        90,
    )
    terms = dict(facts)
    assert terms["Churn model used"].startswith("BTYD family alone")
    assert terms["CLV model used"].startswith("gradient-boosted")
    assert "held out of training" in terms["Backtest evidence"]
    assert (
        terms["BTYD fits per snapshot"]
        == "2 fits, 1 with a boundary, fallback or failure; 2025-02-01: a → 0: no dropout visible yet"
    )
    assert "Btyd snapshots" not in terms and "Champions" not in terms
