"""The backtest evaluation on hand-made snapshots: same rows for every candidate, no in-sample baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnkit.models.backtest import can_train_boosted, champion_view, evaluate, split_customers
from churnkit.models.churnkit_model import BoostedModels


def snapshot(n: int, *, seed: int, as_of: str = "2024-06-01") -> pd.DataFrame:
    """A labelled snapshot with BTYD columns: churn rises with days since the last purchase."""
    rng = np.random.default_rng(seed)
    days = rng.integers(1, 365, n).astype(float)
    churned = (rng.random(n) < days / 400).astype(int)
    revenue = np.where(churned == 1, 0.0, rng.gamma(2.0, 40.0, n))
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "as_of": pd.Timestamp(as_of),
            "days_since_last_purchase": days,
            "revenue_365d": rng.gamma(2.0, 100.0, n),
            "frequency": rng.integers(0, 4, n),
            "p_no_purchase": np.clip(days / 365, 0.01, 0.99),
            "expected_purchases": rng.gamma(1.0, 1.0, n),
            "expected_spend": rng.gamma(2.0, 20.0, n),
            "churned": churned,
            "future_revenue": revenue,
            "future_purchases": 1 - churned,
        }
    )


TEST = snapshot(200, seed=1)
TRAIN = snapshot(400, seed=2, as_of="2024-03-01")


def test_without_training_rows_the_recency_baseline_is_not_reported():
    """Fitting the recency curve on the test rows would be an in-sample score: it is left out instead."""
    for train in (pd.DataFrame(), TRAIN.assign(churned=0)):  # no rows, or one churn class only
        metrics, pred = evaluate(TEST, train, None, horizon_days=90)
        assert not any(k.startswith("baseline_recency_") for k in metrics)
        assert "baseline_recency_churn" not in pred
        assert "baseline_btyd_churn_auc" in metrics  # BTYD needs no training rows


def test_the_recency_baseline_is_fitted_on_the_training_rows_only():
    """Flipping every test label changes the metrics, never the baseline's predictions."""
    metrics, pred = evaluate(TEST, TRAIN, None, horizon_days=90)
    flipped, pred_flipped = evaluate(TEST.assign(churned=1 - TEST["churned"]), TRAIN, None, horizon_days=90)
    np.testing.assert_array_equal(pred["baseline_recency_churn"], pred_flipped["baseline_recency_churn"])
    assert flipped["baseline_recency_churn_auc"] == pytest.approx(1 - metrics["baseline_recency_churn_auc"])
    # the CLV baseline is last year's spend rate: revenue_365d x 90 / 365
    np.testing.assert_allclose(pred["baseline_recency_clv"], TEST["revenue_365d"] * 90 / 365)


def test_every_candidate_is_scored_on_the_same_rows_overall_and_by_buyer_type():
    class Constant:  # a stand-in boosted model: predicts the BTYD columns back
        def predict_proba(self, X):  # type: ignore[no-untyped-def]
            return X["p_no_purchase"].to_numpy()

        def predict(self, X):  # type: ignore[no-untyped-def]
            return (X["expected_purchases"] * X["expected_spend"]).to_numpy()

    boosted = BoostedModels(["p_no_purchase", "expected_purchases", "expected_spend"], Constant(), Constant())
    metrics, pred = evaluate(TEST, TRAIN, boosted, horizon_days=90)
    assert len(pred) == len(TEST)
    for suffix in ("", "_one_time", "_repeat"):
        for metric in ("churn_auc", "churn_brier", "clv_mae", "clv_gini_norm"):
            assert metrics[f"boosted_{metric}{suffix}"] == metrics[f"baseline_btyd_{metric}{suffix}"]
    repeat = TEST["frequency"] > 0
    assert metrics["baseline_btyd_churn_auc_repeat"] == pytest.approx(
        roc_auc_score(TEST.loc[repeat, "churned"], TEST.loc[repeat, "p_no_purchase"])
    )


def test_small_splits_and_missing_predictions_are_not_reported():
    test = TEST.copy()
    test["frequency"] = [0] * 5 + [1] * (len(test) - 5)  # five one-time buyers: too few to report
    test.loc[3, "p_no_purchase"] = np.nan  # BTYD failed for one row: its churn metrics are left out
    metrics, _ = evaluate(test, TRAIN, None, horizon_days=90)
    assert not any(k.endswith("_one_time") for k in metrics)
    assert "baseline_btyd_churn_auc" not in metrics and "baseline_btyd_clv_mae" in metrics
    assert "baseline_recency_churn_auc_repeat" in metrics


def test_champion_view_names_the_champions_metrics_plainly():
    metrics = {"boosted_churn_auc": 0.8, "baseline_btyd_churn_auc": 0.7, "baseline_btyd_clv_mae": 3.0}
    pred = pd.DataFrame({"boosted_churn": [0.1], "baseline_btyd_churn": [0.2], "baseline_btyd_clv": [5.0]})
    out, view = champion_view(metrics, pred, {"churn": "boosted", "clv": "btyd"})
    assert out == {**metrics, "churn_auc": 0.8, "clv_mae": 3.0}
    assert view["churn_probability"].tolist() == [0.1] and view["predicted_clv"].tolist() == [5.0]
    assert "churn_auc" not in metrics and "churn_probability" not in pred  # inputs left as they were


def test_customer_hold_out_split_keeps_test_customers_out_of_training():
    test, train = split_customers(TEST, TRAIN.assign(customer_id=[f"c{i % 200}" for i in range(400)]), seed=0)
    assert 0 < len(test) < len(TEST)
    assert not set(test["customer_id"]) & set(train["customer_id"])
    assert set(test["customer_id"]) | set(train["customer_id"]) == set(TEST["customer_id"])
    assert test.index.equals(pd.RangeIndex(len(test)))


@pytest.mark.parametrize(
    ("train", "expected"),
    [
        (TRAIN, True),
        (pd.DataFrame(), False),
        (TRAIN.head(7), False),  # too few rows to hold any out
        (TRAIN.assign(churned=1), False),  # one churn class
        (TRAIN.assign(future_revenue=0.0), False),  # nobody bought: no CLV target
    ],
    ids=["ok", "empty", "seven-rows", "one-class", "no-revenue"],
)
def test_when_the_boosted_models_can_be_trained(train, expected):
    assert can_train_boosted(train) is expected
