"""`evaluate_scores`: realized metrics equal an independent computation on exactly the customers in the file."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
)

from churnkit.data.load import ShopData
from churnkit.monitoring.realized import HorizonNotPassedError, evaluate_scores

AS_OF = dt.date(2025, 1, 1)
H = 90


def _shop(n: int = 400, seed: int = 0, last_day: dt.date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Transactions (history, future window, a few returns, purchases after the window) and a scores file."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:04d}" for i in range(n)]
    rows = []
    d0 = pd.Timestamp(AS_OF)
    for i, c in enumerate(ids):
        for _ in range(1 + rng.poisson(1.0)):  # history: one or more purchases before D
            rows.append(
                (c, d0 - pd.Timedelta(hours=float(rng.uniform(1, 24 * 300))), float(rng.gamma(2, 20)))
            )
        if rng.random() < 0.45:  # buys in the window
            for _ in range(1 + rng.poisson(0.8)):
                rows.append(
                    (c, d0 + pd.Timedelta(hours=float(rng.uniform(0, 24 * H - 1))), float(rng.gamma(2, 25)))
                )
        if i % 17 == 0:  # a return inside the window: not a purchase, but it counts in revenue
            rows.append((c, d0 + pd.Timedelta(days=3), -15.0))
        if i % 11 == 0:  # a purchase just after the window: outside both
            rows.append((c, d0 + pd.Timedelta(days=H, hours=2), 99.0))
    end = last_day or (AS_OF + dt.timedelta(days=H))
    rows.append(("Z9999", pd.Timestamp(end) + pd.Timedelta(hours=12), 10.0))  # someone not in the file
    tx = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    tx = tx[tx["timestamp"] < pd.Timestamp(end) + pd.Timedelta(days=1)]
    tx["order_id"] = [f"O{k:06d}" for k in range(len(tx))]
    scores = pd.DataFrame(
        {
            "customer_id": ids,
            "as_of": str(AS_OF),
            "churn_probability": rng.uniform(0.02, 0.98, n),
            "predicted_clv": rng.gamma(1.5, 30.0, n),
            "risk_tier": rng.choice(["low", "medium", "high"], n),
            "value_tier": rng.choice(["low", "medium", "high"], n),
            "segment": rng.choice(["Champions", "At Risk"], n),
        }
    )
    return tx, scores


def _independent(tx: pd.DataFrame, scores: pd.DataFrame) -> dict[str, float]:
    """The docs/design.md metrics from scratch: pandas for the outcomes, scikit-learn / scipy / loops for the scores."""
    lo, hi = pd.Timestamp(AS_OF), pd.Timestamp(AS_OF) + pd.Timedelta(days=H)
    window = tx[(tx["timestamp"] >= lo) & (tx["timestamp"] < hi)]
    buyers = set(window.loc[window["amount"] > 0, "customer_id"])
    revenue = window.groupby("customer_id")["amount"].sum()
    y = np.array([0 if c in buyers else 1 for c in scores["customer_id"]])
    rev = np.array([revenue.get(c, 0.0) for c in scores["customer_id"]])
    p = scores["churn_probability"].to_numpy()
    clv = scores["predicted_clv"].to_numpy()
    k = math.ceil(0.1 * len(y))
    top = np.argsort(-p)[:k]
    ece = 0.0
    for b in range(10):
        inside = (p >= b / 10) & ((p < (b + 1) / 10) if b < 9 else (p <= 1))
        if inside.any():
            ece += inside.sum() / len(y) * abs(y[inside].mean() - p[inside].mean())

    def gini(actual, pred):  # the Kaggle definition
        order = np.argsort(-pred, kind="stable")
        a = actual[order]
        return (np.cumsum(a).sum() / a.sum() - (len(a) + 1) / 2) / len(a)

    return {
        "churn_auc": roc_auc_score(y, p),
        "churn_pr_auc": average_precision_score(y, p),
        "churn_brier": brier_score_loss(y, p),
        "churn_logloss": log_loss(y, p),
        "churn_ece": ece,
        "churn_lift_top10": y[top].mean() / y.mean(),
        "clv_mae": mean_absolute_error(rev, clv),
        "clv_rmse": math.sqrt(mean_squared_error(rev, clv)),
        "clv_spearman": spearmanr(rev, clv).statistic,
        "clv_gini_norm": gini(rev, clv) / gini(rev, rev),
        "_churn_rate": y.mean(),
    }


@pytest.fixture(scope="module")
def case():
    tx, scores = _shop()
    return tx, scores, ShopData.from_frames(tx)


def test_metrics_equal_an_independent_computation(case, finite_metric):
    tx, scores, data = case
    ev = evaluate_scores(scores, data, horizon_days=H)
    want = _independent(tx, scores)
    assert ev.customers == len(scores)
    assert ev.realized_churn_rate == pytest.approx(want.pop("_churn_rate"), abs=1e-12)
    assert set(ev.metrics) == set(want)
    for name, value in want.items():
        assert ev.metrics[name] == pytest.approx(finite_metric(value, name), abs=1e-9), name


def test_by_tier_equals_the_same_computation_on_each_tier(case, finite_metric):
    tx, scores, data = case
    ev = evaluate_scores(scores, data, horizon_days=H)
    table = ev.by_group.set_index(["split", "level"])
    for tier in ("low", "medium", "high"):
        part = scores[scores["risk_tier"] == tier]
        want = _independent(tx, part)
        row = table.loc[("risk_tier", tier)]
        assert row["customers"] == len(part)
        assert row["churn_auc"] == pytest.approx(finite_metric(want["churn_auc"], "churn_auc"), abs=1e-9)
        assert row["clv_mae"] == pytest.approx(finite_metric(want["clv_mae"], "clv_mae"), abs=1e-9)
        assert row["realized_churn"] == pytest.approx(want["_churn_rate"], abs=1e-12)
    # every history customer with two or more purchase days is "repeat"
    assert set(table.loc["buyer_type"].index) == {"one-time", "repeat"}


def test_verdict_against_the_backtest(case, finite_metric):
    _, scores, data = case
    ev = evaluate_scores(scores, data, horizon_days=H)
    auc = finite_metric(ev.metrics["churn_auc"], "churn_auc", low=0.0, high=1.0)
    good = evaluate_scores(scores, data, horizon_days=H, backtest={"churn_auc": auc + 0.029})
    bad = evaluate_scores(scores, data, horizon_days=H, backtest={"churn_auc": auc + 0.031})
    assert good.held_up is True and "held up" in good.verdict()
    assert bad.held_up is False and "did NOT hold up" in bad.verdict()
    assert ev.held_up is None and "no backtest" in ev.verdict()


def test_refuses_until_the_horizon_has_passed():
    tx, scores = _shop(60, seed=1, last_day=AS_OF + dt.timedelta(days=H - 2))
    with pytest.raises(HorizonNotPassedError, match="needs data up to 2025-03-31") as info:
        evaluate_scores(scores, ShopData.from_frames(tx), horizon_days=H)
    assert info.value.needed == dt.date(2025, 3, 31)
    # one more day of data (the window's last day) is enough
    tx, scores = _shop(60, seed=1, last_day=AS_OF + dt.timedelta(days=H - 1))
    assert evaluate_scores(scores, ShopData.from_frames(tx), horizon_days=H).customers == 60


def test_customers_without_any_new_data_count_as_churned(case):
    _, scores, data = case
    extra = scores.head(1).assign(customer_id="NEVER-SEEN", churn_probability=0.9)
    ev = evaluate_scores(pd.concat([scores, extra], ignore_index=True), data, horizon_days=H)
    row = ev.outcomes.set_index("customer_id").loc["NEVER-SEEN"]
    assert row["churned"] == 1 and row["future_revenue"] == 0.0 and row["buyer_type"] == ""
