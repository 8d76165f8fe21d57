"""The metric table and the self-contained HTML report."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from churnkit.errors import ChurnkitError, InputError
from churnkit.report import metrics_table, render_report
from churnkit.report.html import BASE_METRICS, FLAG_COLUMN

COLUMNS = ["model", "baseline_recency", "baseline_btyd", FLAG_COLUMN]


def hand_metrics() -> dict[str, float]:
    """Model vs baselines, worked out so each flag is known in advance."""
    model = {
        "churn_auc": 0.8123,  # beats 0.70 / 0.75
        "churn_pr_auc": 0.60,  # ties the best baseline: not better
        "churn_brier": 0.20,  # lower is better; worse than the BTYD 0.18
        "churn_logloss": 0.45,  # only the recency baseline known: 0.50, better
        "churn_ece": 0.031,  # no baseline at all: no verdict
        "churn_lift_top10": 2.5,  # beats 1.8 / 2.1
        "clv_mae": 1234.5678,  # beats 1500 / 1300
        "clv_rmse": 2000.0,  # worse than 1900
        "clv_spearman": 0.55,
        # clv_gini_norm: the model's value is missing
    }
    recency = {
        "churn_auc": 0.70,
        "churn_pr_auc": 0.55,
        "churn_brier": 0.22,
        "churn_logloss": 0.50,
        "churn_lift_top10": 1.8,
        "clv_mae": 1500.0,
        "clv_rmse": 2500.0,
        "clv_spearman": float("nan"),
        "clv_gini_norm": 0.1,
    }
    btyd = {
        "churn_auc": 0.75,
        "churn_pr_auc": 0.60,
        "churn_brier": 0.18,
        "churn_lift_top10": 2.1,
        "clv_mae": 1300.0,
        "clv_rmse": 1900.0,
        "clv_spearman": 0.40,
        "clv_gini_norm": 0.3,
    }
    out = dict(model)
    out.update({f"baseline_recency_{k}": v for k, v in recency.items()})
    out.update({f"baseline_btyd_{k}": v for k, v in btyd.items()})
    out["n_customers"] = 1000.0  # not a metric: ignored
    return out


EXPECTED_FLAGS = {
    "churn_auc": True,
    "churn_pr_auc": False,
    "churn_brier": False,
    "churn_logloss": True,
    "churn_ece": None,
    "churn_lift_top10": True,
    "clv_mae": True,
    "clv_rmse": False,
    "clv_spearman": True,
    "clv_gini_norm": None,
}


def write_png(path: Path, colour: str = "#0072B2") -> Path:
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1], [0, 1], color=colour)
    fig.savefig(path, format="png", dpi=50)
    return path


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "img"
    folder.mkdir()
    return {
        "calibration": write_png(folder / "calibration.png"),
        "gains": write_png(folder / "gains.png", "#E69F00"),
        "my_extra_plot": write_png(folder / "extra.png", "#009E73"),
    }


def profile_with_injection() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster": [0, 1],
            "name": ["<script>alert('x')</script>", "lapsed rare buyers"],
            "size": [1200, 34],
            "share": [0.9724, 0.0276],
            "churn_rate": [0.25, np.nan],
            "revenue_share": [0.8, 0.2],
        }
    )


def report(tmp_path: Path, images: dict[str, Path], **kwargs) -> str:
    args = {
        "title": "Churn report <Sample & Co>",
        "metrics": hand_metrics(),
        "images": images,
        "tables": {"segment_profiles": profile_with_injection()},
        "summary": {"run_id": "0123abcd", "horizon_days": 90, "customers": 12345, "rows_rejected": 2},
        "config": {"horizon_days": 90, "inputs": {"transactions": {"path": "tx.csv"}}},
        "notes": ["Backtest as of 2024-01-01.", "<b>not bold</b>"],
    }
    args.update(kwargs)
    out = render_report(tmp_path / "out" / "report.html", **args)
    assert out == tmp_path / "out" / "report.html"
    return out.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------- metrics_table


def test_metrics_table_shape_and_orientation():
    table = metrics_table(hand_metrics())
    assert list(table.index) == list(BASE_METRICS)
    assert table.index.name == "metric"
    assert list(table.columns) == COLUMNS
    assert table.loc["churn_auc", "model"] == pytest.approx(0.8123)
    assert table.loc["clv_mae", "baseline_recency"] == pytest.approx(1500.0)
    assert table.loc["churn_brier", "baseline_btyd"] == pytest.approx(0.18)
    assert np.isnan(table.loc["clv_gini_norm", "model"])
    assert np.isnan(table.loc["churn_ece", "baseline_btyd"])


def test_metrics_table_better_than_best_baseline_flags():
    flags = metrics_table(hand_metrics())[FLAG_COLUMN]
    assert str(flags.dtype) == "boolean"
    got = {name: (None if pd.isna(v) else bool(v)) for name, v in flags.items()}
    assert got == EXPECTED_FLAGS


def test_metrics_table_split_rows_follow_the_overall_rows():
    metrics = hand_metrics() | {"churn_auc_one_time": 0.7, "baseline_btyd_churn_auc_repeat": 0.66}
    table = metrics_table(metrics)
    rows = list(table.index)
    assert len(rows) == 30
    assert rows[:10] == list(BASE_METRICS)
    assert rows[10:20] == [f"{m}_one_time" for m in BASE_METRICS]
    assert rows[20:] == [f"{m}_repeat" for m in BASE_METRICS]
    assert table.loc["churn_auc_one_time", "model"] == pytest.approx(0.7)
    assert pd.isna(table.loc["churn_auc_one_time", FLAG_COLUMN])  # no baseline for one-time buyers
    assert table.loc["churn_auc_repeat", "baseline_btyd"] == pytest.approx(0.66)


def test_metrics_table_of_nothing_is_all_missing():
    table = metrics_table({})
    assert table.shape == (10, 4)
    assert table[["model", "baseline_recency", "baseline_btyd"]].isna().all().all()
    assert table[FLAG_COLUMN].isna().all()


def test_metrics_table_rejects_a_non_number():
    with pytest.raises(InputError, match="metric churn_auc is not a number"):
        metrics_table({"churn_auc": "high"})


# --------------------------------------------------------------------------------------------- render_report


def test_report_contains_metrics_numbers_and_sections(tmp_path, images):
    html = report(tmp_path, images)
    for name in BASE_METRICS:
        assert f"<code>{name}</code>" in html
    for text in ("0.812", "2.50×", "1,234.57", "0.700", "1,900.00"):
        assert text in html
    assert "1.8×" not in html  # lift formatted with two decimals
    # Key numbers in plain words, built from the metrics (no backtest predictions: no base rate to quote).
    assert "riskiest made no purchase in the next 90 days 2.50 times as often" in html
    assert "in the next 90 days" in html
    assert "0123abcd" in html
    for section in (
        "Key numbers",
        "Model vs baselines",
        "Plots",
        "Segment profiles",
        "Data summary",
        "Notes",
    ):
        assert f"<h2>{section}</h2>" in html
    assert re.search(r"<details>\s*<summary>[^<]+</summary>\s*<pre>horizon_days: 90", html)
    assert "12,345" in html  # summary numbers get thousands separators
    assert "97.2%" in html  # share columns as percentages


def test_report_embeds_every_image_and_loads_nothing_external(tmp_path, images):
    html = report(tmp_path, images)
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(uris) == len(images)
    assert [base64.b64decode(u) for u in uris] == [p.read_bytes() for p in images.values()]
    assert "http://" not in html and "https://" not in html
    lowered = html.lower()
    for external in ("<script", "<link", "@import", "url(", "<iframe", 'src="//'):
        assert external not in lowered


def test_report_escapes_text(tmp_path, images):
    html = report(tmp_path, images, config={"note": "</pre><script>x</script>"})
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Churn report &lt;Sample &amp; Co&gt;" in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html


def test_report_marks_better_than_baseline(tmp_path, images):
    html = report(tmp_path, images)
    assert html.count('class="mark yes"') == sum(v is True for v in EXPECTED_FLAGS.values())
    assert html.count('class="mark no"') == sum(v is False for v in EXPECTED_FLAGS.values())
    assert "beats the best baseline on 5 of the 8 measures" in html


def test_report_without_btyd_baseline_drops_its_column(tmp_path, images):
    metrics = {k: v for k, v in hand_metrics().items() if not k.startswith("baseline_btyd_")}
    html = report(tmp_path, images, metrics=metrics, tables=None, summary=None, config=None, notes=None)
    assert "BG/NBD baseline</th>" not in html
    assert "Recency baseline</th>" in html
    assert "<details>" not in html


def test_long_tables_are_cut(tmp_path, images):
    big = pd.DataFrame({"customer_id": [f"c{i}" for i in range(120)], "value": np.arange(120.0)})
    html = report(tmp_path, images, tables={"top_customers": big})
    assert "c49</td>" in html and "c50</td>" not in html
    assert "Showing the first 50 of 120 rows." in html


@pytest.mark.parametrize("problem", ["missing", "not-an-image"])
def test_bad_image_raises_and_writes_nothing(tmp_path, images, problem):
    bad = tmp_path / "img" / "bad.png"
    if problem == "not-an-image":
        bad.write_text("<svg onload='x'></svg>")
    out = tmp_path / "out"
    with pytest.raises(ChurnkitError, match=r"bad\.png"):
        report(tmp_path, images | {"bad": bad})
    assert not out.exists() or list(out.iterdir()) == []


def test_failed_render_keeps_the_previous_report(tmp_path, images):
    first = report(tmp_path, images)
    with pytest.raises(InputError):
        report(tmp_path, images | {"gone": tmp_path / "nope.png"})
    assert (tmp_path / "out" / "report.html").read_text(encoding="utf-8") == first
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.html"]
