"""`measure_campaign` and `simulate_future`: the lift is the plain target − control difference of the files."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from churnkit.data.load import ShopData
from churnkit.datasets.sample_shop import generate_shop, simulate_future
from churnkit.errors import ConfigError, InputError
from churnkit.monitoring.campaign import measure_campaign
from churnkit.monitoring.holdout import assign_groups
from churnkit.monitoring.realized import HorizonNotPassedError

H = 90


@pytest.fixture(scope="module")
def shop():
    return generate_shop(1200, seed=21, start="2024-01-01", end="2025-06-30")


@pytest.fixture(scope="module")
def scores(shop):
    buyers = shop.truth.loc[shop.truth["kind"] == "buyer", "customer_id"].astype(str)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer_id": buyers.to_numpy(),
            "as_of": "2025-07-01",
            "churn_probability": rng.random(len(buyers)),
            "risk_tier": rng.choice(["low", "high"], len(buyers), p=[0.9, 0.1]),
        }
    )
    frame["group"] = assign_groups(frame["customer_id"], 0.3).to_numpy()
    return frame


@pytest.fixture(scope="module")
def futures(shop, scores):
    return {e: simulate_future(shop, scores, days=H, campaign_effect=e, seed=5) for e in (0.0, 0.10)}


def _by_hand(transactions: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    lo = pd.Timestamp("2025-07-01")
    w = transactions[
        (transactions["timestamp"] >= lo) & (transactions["timestamp"] < lo + pd.Timedelta(days=H))
    ]
    out = scores[["customer_id", "group"]].copy()
    out["retained"] = out["customer_id"].isin(set(w.loc[w["amount"] > 0, "customer_id"])).astype(int)
    out["revenue"] = out["customer_id"].map(w.groupby("customer_id")["amount"].sum()).fillna(0.0)
    return out


def test_lift_is_the_target_minus_control_difference_of_the_files(futures, scores):
    fut = futures[0.10]
    result = measure_campaign(scores, ShopData.from_frames(fut.transactions), horizon_days=H)
    hand = _by_hand(fut.transactions, scores)
    t, c = hand[hand["group"] == "target"], hand[hand["group"] == "control"]
    r, v = result.retention, result.revenue_per_customer
    assert (r["n_target"], r["n_control"]) == (len(t), len(c))
    assert r["target"] == t["retained"].sum() / len(t) and r["control"] == c["retained"].sum() / len(c)
    assert r["lift"] == r["target"] - r["control"]
    assert v["lift"] == pytest.approx(t["revenue"].mean() - c["revenue"].mean(), rel=1e-12, abs=1e-12)
    assert r["ci_low"] < r["lift"] < r["ci_high"]
    assert result.incremental_revenue == pytest.approx(v["lift"] * len(t), rel=1e-12)
    assert "intention-to-treat" in result.analysis


def test_known_effect_moves_target_retention_by_exactly_the_converted_customers(shop, futures, scores):
    no, yes = futures[0.0], futures[0.10]
    base = measure_campaign(scores, ShopData.from_frames(no.transactions), horizon_days=H)
    camp = measure_campaign(scores, ShopData.from_frames(yes.transactions), horizon_days=H)
    n_t = base.retention["n_target"]
    converted = yes.params["campaign_purchases"]
    assert converted > 0
    assert camp.retention["control"] == base.retention["control"]  # the control group is untouched
    assert camp.retention["target"] - base.retention["target"] == pytest.approx(converted / n_t, abs=1e-12)
    # in expectation the converted share is the effect: within three binomial standard errors here
    assert abs(converted / n_t - 0.10) < 3 * np.sqrt(0.1 * 0.9 / n_t)
    # the campaign only adds purchases, and only for target customers
    old = no.transactions.merge(yes.transactions, how="outer", indicator=True)
    added = old[old["_merge"] == "right_only"]
    assert (old["_merge"] != "left_only").all()
    assert set(added["customer_id"]) <= set(scores.loc[scores["group"] == "target", "customer_id"])
    assert len(added) == converted


def test_contacted_restricts_target_and_says_so(futures, scores, tmp_path):
    fut = futures[0.10]
    data = ShopData.from_frames(fut.transactions)
    targets = scores.loc[scores["group"] == "target", "customer_id"]
    reached = targets.iloc[: len(targets) // 2]
    path = tmp_path / "contacted.csv"
    pd.DataFrame({"customer_id": reached}).to_csv(path, index=False)
    result = measure_campaign(scores, data, horizon_days=H, contacted=path, cost_per_contact=2.0)
    assert result.retention["n_target"] == len(reached)
    assert result.retention["n_control"] == int((scores["group"] == "control").sum())
    assert result.analysis.startswith("per-protocol")
    assert result.cost == 2.0 * len(reached)
    assert result.roi == pytest.approx((result.incremental_revenue - result.cost) / result.cost, rel=1e-12)


def test_small_groups_are_named_not_tested(futures, scores):
    result = measure_campaign(scores, ShopData.from_frames(futures[0.10].transactions), horizon_days=H)
    rows = result.by_group.set_index(["split", "level"])
    assert np.isfinite(rows.loc[("risk_tier", "low"), "retention_lift"])
    assert np.isnan(rows.loc[("risk_tier", "high"), "retention_lift"])  # ~10 % of 1,200 split 70/30
    assert any("risk_tier=high" in n for n in result.notes)


def test_needs_a_group_column_and_a_passed_horizon(shop, futures, scores):
    with pytest.raises(InputError, match="score with --holdout"):
        measure_campaign(scores.drop(columns="group"), ShopData.from_frames(futures[0.0].transactions))
    with pytest.raises(HorizonNotPassedError, match="has not passed"):
        measure_campaign(scores, ShopData.from_frames(shop.transactions), horizon_days=H)


def test_simulate_future_wants_scores_from_the_day_after_the_end(shop, scores):
    with pytest.raises(ConfigError, match="day after the shop's end"):
        simulate_future(shop, scores.assign(as_of="2025-05-01"))
    fut = simulate_future(shop, scores, days=30, campaign_effect=0.0, seed=1)
    new = fut.transactions.iloc[len(shop.transactions) :]
    assert new["timestamp"].min() >= pd.Timestamp("2025-07-01")
    assert new["timestamp"].max() < pd.Timestamp("2025-07-31")
    assert fut.params["end"] == str(dt.date(2025, 7, 30))
    alive = set(
        shop.truth.loc[shop.truth["dropout_date"].isna() & (shop.truth["kind"] == "buyer"), "customer_id"]
    )
    assert set(new["customer_id"]) <= alive  # only customers still alive at the end buy (no campaign)
    again = simulate_future(shop, scores, days=30, campaign_effect=0.0, seed=1)
    pd.testing.assert_frame_equal(fut.transactions, again.transactions)


def test_borderline_interval_and_test_disagreement_is_said(futures, scores, monkeypatch):
    import churnkit.monitoring.campaign as campaign

    def fake(*args, **kwargs):  # an interval excluding 0 with a p-value above 5 %: the unequal-size margin
        r = {
            "target": 0.17,
            "control": 0.13,
            "lift": 0.04,
            "ci_low": 0.0003,
            "ci_high": 0.077,
            "p_value": 0.059,
        }
        return {
            "retention": {**r, "n_target": 1, "n_control": 1},
            "revenue_per_customer": {**r, "n_target": 1},
        }

    monkeypatch.setattr(campaign, "campaign_tests", fake)
    result = measure_campaign(scores, ShopData.from_frames(futures[0.10].transactions), horizon_days=H)
    assert any("borderline" in n for n in result.notes)
