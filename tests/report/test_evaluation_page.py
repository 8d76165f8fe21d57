"""The "After the campaign" page: the numbers it prints are the Evaluation's and the CampaignResult's."""

from __future__ import annotations

import base64
import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnkit.config import load_config
from churnkit.data.load import ShopData
from churnkit.monitoring.campaign import measure_campaign
from churnkit.monitoring.realized import evaluate_scores
from churnkit.report.evaluation_page import render_evaluation_page, write_evaluation_page
from churnkit.tracking.evaluation import evaluate_file

AS_OF = dt.date(2025, 1, 1)
H = 60
N = 480


def _shop() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Transactions, a scores file with target/control groups, and the truth (churned, revenue) by hand."""
    rng = np.random.default_rng(7)
    ids = [f"C{i:04d}" for i in range(N)]
    p = rng.uniform(0.05, 0.95, N)
    group = np.where(np.arange(N) % 3 == 0, "control", "target")
    # target customers are saved more often: the campaign works
    churned = rng.random(N) < np.clip(p - np.where(group == "target", 0.15, 0.0), 0, 1)
    d0 = pd.Timestamp(AS_OF)
    rows, revenue = [], np.zeros(N)
    for i, c in enumerate(ids):
        rows.append((c, d0 - pd.Timedelta(days=int(rng.integers(5, 200))), 30.0))
        if i % 2:
            rows.append((c, d0 - pd.Timedelta(days=int(rng.integers(201, 300))), 20.0))
        if not churned[i]:
            amount = float(np.round(rng.gamma(2, 25), 2))
            rows.append((c, d0 + pd.Timedelta(days=int(rng.integers(0, H))), amount))
            revenue[i] = amount
    rows.append(("Z999", d0 + pd.Timedelta(days=H + 1), 5.0))  # the data reaches past the window
    tx = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    tx["order_id"] = [f"O{k:05d}" for k in range(len(tx))]
    scores = pd.DataFrame(
        {
            "customer_id": ids,
            "as_of": str(AS_OF),
            "churn_probability": p,
            "predicted_clv": rng.gamma(1.5, 30.0, N),
            "risk_tier": np.where(p > 0.6, "high", np.where(p > 0.3, "medium", "low")),
            "segment": rng.choice(["Champions", "At Risk"], N),
            "group": group,
        }
    )
    truth = pd.DataFrame(
        {"customer_id": ids, "churned": churned.astype(int), "revenue": revenue, "group": group}
    )
    return tx, scores, truth


@pytest.fixture(scope="module")
def case():
    tx, scores, truth = _shop()
    data = ShopData.from_frames(tx)
    backtest = {"churn_auc": 0.80, "churn_ece": 0.02, "clv_gini_norm": 0.10}
    evaluation = evaluate_scores(scores, data, horizon_days=H, backtest=backtest)
    campaign = measure_campaign(scores, data, horizon_days=H)
    page = render_evaluation_page(evaluation, campaign)
    plain = render_evaluation_page(
        evaluate_scores(scores.drop(columns="group"), data, horizon_days=H, backtest=backtest)
    )
    return {
        "tx": tx,
        "scores": scores,
        "truth": truth,
        "data": data,
        "evaluation": evaluation,
        "campaign": campaign,
        "page": page,
        "plain": plain,
    }


def _cell_text(page: str, metric: str, cls: str) -> str:
    row = re.search(rf'<tr id="metric-{metric}">(.*?)</tr>', page, re.S)
    assert row, metric
    return re.search(rf'<td class="num {cls}">([^<]+)</td>', row.group(1)).group(1)


def _cell(page: str, metric: str, cls: str) -> float:
    return float(_cell_text(page, metric, cls))


def test_metric_cells_are_the_evaluations_numbers(case, finite_metric):
    ev, page = case["evaluation"], case["page"]
    assert len(ev.metrics) >= 5
    for name in ("churn_auc", "churn_brier", "churn_ece", "churn_lift_top10", "clv_mae", "clv_gini_norm"):
        finite_metric(ev.metrics[name], name)  # the hand-made shop has both classes and varied revenue
    for name, value in ev.metrics.items():
        if np.isfinite(value):
            assert _cell(page, name, "realized") == pytest.approx(value, abs=5e-5), name
        else:  # a metric that is undefined on these outcomes is shown as missing, never as a number
            assert _cell_text(page, name, "realized") == "—", name
    for name, value in ev.backtest.items():
        assert _cell(page, name, "backtest") == pytest.approx(finite_metric(value, name), abs=5e-5), name
    # and the realized AUC is the one of the hand-made truth (an independent computation)
    truth = case["truth"]
    assert _cell(page, "churn_auc", "realized") == pytest.approx(
        roc_auc_score(truth["churned"], case["scores"]["churn_probability"]), abs=5e-5
    )


def test_the_verdict_is_said_in_words(case):
    ev, page = case["evaluation"], case["page"]
    assert ev.held_up is not None
    verdict = re.search(r'<p id="verdict" class="verdict (\w+)">(.*?)</p>', page, re.S)
    assert verdict
    if ev.held_up:
        assert verdict.group(1) == "held" and "The model held up" in verdict.group(2)
    else:
        assert verdict.group(1) == "worse" and "did NOT hold up" in verdict.group(2)
    assert "control customers" in verdict.group(2)  # checked on the control group, which is big enough


def test_campaign_lift_and_interval_are_the_campaign_results(case):
    r, v, page = case["campaign"].retention, case["campaign"].revenue_per_customer, case["page"]
    section = page[page.index('<section id="campaign">') :]
    num = r"([+-][\d,]+\.\d+)"
    ret = re.search(
        rf"Retention \(bought again in the window\)</td>.*?{num} pp</td><td class=num>{num} to {num} pp</td>"
        r"<td class=num>([\d.e+-]+)</td>",
        section,
        re.S,
    )
    assert ret, section[:2000]
    assert float(ret.group(1)) == pytest.approx(100 * r["lift"], abs=0.006)
    assert float(ret.group(2)) == pytest.approx(100 * r["ci_low"], abs=0.006)
    assert float(ret.group(3)) == pytest.approx(100 * r["ci_high"], abs=0.006)
    assert float(ret.group(4)) == pytest.approx(r["p_value"], rel=1e-2)
    rev = re.search(
        rf"Revenue per customer</td>.*?<td class=num>{num}</td><td class=num>{num} to {num}</td>",
        section,
        re.S,
    )
    assert rev
    for got, want in zip(rev.groups(), (v["lift"], v["ci_low"], v["ci_high"]), strict=True):
        assert float(got.replace(",", "")) == pytest.approx(want, abs=0.006)
    # the lift the page prints is the plain target − control difference of the hand-made truth
    t = case["truth"]
    kept = 1 - t["churned"]
    by_hand = kept[t["group"] == "target"].mean() - kept[t["group"] == "control"].mean()
    assert float(ret.group(1)) == pytest.approx(100 * by_hand, abs=0.006)
    assert "intention-to-treat" in section
    lo, hi = case["campaign"].incremental_revenue_ci
    assert (
        f"Incremental revenue {case['campaign'].incremental_revenue:+,.2f} (95% CI {lo:+,.2f} to {hi:+,.2f})"
        in section
    )


def _pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_images_are_inline_pngs_and_nothing_is_loaded_from_outside(case):
    pngs = _pngs(case["page"])
    assert len(pngs) == 3  # calibration, gains, campaign lift
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 5000 for p in pngs)
    assert 'id="plot-calibration"' in case["page"] and 'id="plot-gains"' in case["page"]
    assert "http://" not in case["page"] and "https://" not in case["page"]
    assert "<script" not in case["page"]


def test_without_a_group_column_there_is_no_campaign_section(case):
    plain = case["plain"]
    assert 'id="campaign"' not in plain and "Target vs control" not in plain
    assert len(_pngs(plain)) == 2
    assert 'id="groups"' in plain and "By risk tier" in plain


def test_by_group_tables_show_each_tier(case):
    page, by = case["page"], case["evaluation"].by_group
    groups = page[page.index('<section id="groups">') :]
    for split in ("risk_tier", "segment", "group"):
        assert split in set(by["split"])
    for level in ("high", "medium", "low", "Champions", "At Risk", "control", "target"):
        assert f"<td>{level}</td>" in groups, level
    high = by[(by["split"] == "risk_tier") & (by["level"] == "high")].iloc[0]
    assert f"<td class=num>{int(high['customers']):,}</td>" in groups


def test_evaluate_file_writes_the_page_with_the_campaign(case, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = load_config(None, horizon_days=H)
    out = tmp_path / "after.html"
    evaluation, run_id = evaluate_file(
        cfg,
        case["data"],
        case["scores"],
        scores_path="scores.csv",
        horizon_days=H,
        out=out,
        cost_per_contact=1.0,
    )
    assert run_id is None
    text = out.read_text(encoding="utf-8")
    assert '<section id="campaign">' in text and len(_pngs(text)) == 3
    assert f"Cost {case['campaign'].contacts * 1.0:,.2f} for {case['campaign'].contacts:,} contacts" in text
    # write_evaluation_page without a campaign result writes no campaign section
    again = write_evaluation_page(evaluation, tmp_path / "again.html")
    assert 'id="campaign"' not in again.read_text(encoding="utf-8")


def test_per_protocol_is_stated_when_only_the_contacted_count(case):
    target = case["scores"].loc[case["scores"]["group"] == "target", "customer_id"]
    contacted = target.iloc[: len(target) // 2]
    campaign = measure_campaign(case["scores"], case["data"], horizon_days=H, contacted=contacted)
    page = render_evaluation_page(case["evaluation"], campaign)
    section = page[page.index('<section id="campaign">') :]
    assert "per-protocol" in section and "intention-to-treat" not in section
    assert f"<td class=num>{len(contacted):,}</td>" in section  # the target group is the contacted half
