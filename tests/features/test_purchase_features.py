"""Marketing RFM, windows, purchase timing, trends, channels and returns on a hand-worked table."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from churnkit.errors import ConfigError, InputError
from churnkit.features import build_features

D = dt.date(2024, 4, 1)
ROWS = [
    ("a", "o1", "2024-01-01 10:00", 10.0, "web"),
    ("a", "o1", "2024-01-01 10:05", 5.0, "web"),
    ("a", "o2", "2024-01-01 18:00", 20.0, "store"),
    ("a", "o3", "2024-02-15 12:00", 30.0, "web"),
    ("a", "r1", "2024-02-20 08:00", -8.0, "web"),
    ("a", "o4", "2024-03-20 09:00", 40.0, "App"),
    ("a", "r2", "2024-03-31 23:59", -2.0, "web"),
    ("a", "o5", "2024-04-01 00:00", 100.0, "web"),  # at as_of: future
    ("b", "o6", "2024-03-31 23:59:59", 50.0, None),
    ("c", "r3", "2024-03-01 10:00", -5.0, "web"),  # only a return: not in the base
    ("d", "o7", "2024-04-01 00:00", 9.0, "web"),  # first purchase at as_of: not in the base
    ("e", "o8", "2024-03-01 12:00", 10.0, "web"),
    ("e", "o9", "2024-03-11 12:00", 20.0, "web"),
    ("e", "o10", "2024-03-21 12:00", 30.0, "web"),
]

EXPECTED_A = {
    "days_since_last_purchase": 12,
    "orders": 4,
    "total_spend": 105.0,
    "avg_order_value": 26.25,
    "orders_30d": 1,  # window starts 2024-03-02
    "revenue_30d": 38.0,  # o4 40 − r2 2
    "orders_90d": 2,  # window starts 2024-01-02: o1 and o2 (Jan 1) fall out
    "revenue_90d": 60.0,
    "orders_180d": 4,
    "revenue_180d": 95.0,
    "orders_365d": 4,
    "revenue_365d": 95.0,
    "tenure_days": 91,
    "first_purchase_value": 35.0,
    "ipt_mean_days": 39.5,  # gaps 45 and 34 days
    "ipt_std_days": 11 / math.sqrt(2),
    "gap_ratio": 12 / 39.5,
    "orders_trend": 0.0,  # 2 orders in the last 90 days, 2 in the 90 before
    "revenue_trend": (70 - 35) / 105,
    "return_count": 2,
    "return_amount": 10.0,
    "return_share": 10 / 105,
    "channel_share_web": 0.5,
    "channel_share_store": 0.25,
    "channel_share_app": 0.25,
}


@pytest.fixture(scope="module")
def feats(tx_table):
    tx = tx_table(ROWS)
    return build_features(tx, as_of=D, channels=["web", "store", "App"]).to_pandas().set_index("customer_id")


def test_base_is_customers_with_a_purchase_before_as_of(feats):
    assert sorted(feats.index) == ["a", "b", "e"]
    assert (feats["as_of"].dt.date == D).all()


@pytest.mark.parametrize("name", sorted(EXPECTED_A))
def test_hand_worked_customer_a(feats, name):
    assert feats.loc["a", name] == pytest.approx(EXPECTED_A[name], abs=1e-12)


def test_single_purchase_customer(feats):
    b = feats.loc["b"]
    assert (b["frequency"], b["recency"], b["T"], b["monetary_value"]) == (0, 0, 0, 0.0)
    assert (b["days_since_last_purchase"], b["tenure_days"], b["orders"], b["orders_30d"]) == (1, 1, 1, 1)
    for name in ("ipt_mean_days", "ipt_std_days", "gap_ratio"):
        assert math.isnan(b[name]), name
    assert (b["orders_trend"], b["revenue_trend"]) == (1.0, 1.0)
    assert (b["return_count"], b["return_amount"], b["return_share"]) == (0, 0.0, 0.0)
    assert (b["channel_share_web"], b["channel_share_store"], b["channel_share_app"]) == (0.0, 0.0, 0.0)


def test_regular_buyer_has_zero_gap_spread(feats):
    e = feats.loc["e"]
    assert (e["frequency"], e["recency"], e["T"], e["monetary_value"]) == (2, 20, 30, 25.0)
    assert (e["ipt_mean_days"], e["ipt_std_days"], e["gap_ratio"]) == (10.0, 0.0, 1.1)


def test_dtypes_are_declared(feats):
    assert str(feats["orders"].dtype) == "int64"
    assert str(feats["ipt_mean_days"].dtype) == "float64"


def test_channels_default_to_those_seen_before_as_of(tx_table):
    tx = tx_table(ROWS)
    cols = build_features(tx, as_of=D).columns
    assert [c for c in cols if c.startswith("channel_share_")] == [
        "channel_share_app",
        "channel_share_store",
        "channel_share_web",
    ]
    # Only the web channel existed before 2024-01-01 18:00's day.
    cols = build_features(tx, as_of=dt.date(2024, 1, 2)).columns
    assert [c for c in cols if c.startswith("channel_share_")] == ["channel_share_store", "channel_share_web"]


def test_channels_that_collide_as_column_names_are_rejected(tx_table):
    with pytest.raises(InputError, match="distinct column names"):
        build_features(tx_table(ROWS), as_of=D, channels=["Web", "web"])


def test_missing_column_is_named(table, tx_table):
    tx = tx_table(ROWS).drop("is_return")
    with pytest.raises(InputError, match="no column 'is_return'"):
        build_features(tx, as_of=D)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"as_of": "2024-13-01"}, "invalid value for as_of: expected a date"),
        ({"as_of": dt.datetime(2024, 4, 1, 12)}, "midnight"),
        ({"as_of": D, "windows": (30, 0)}, "positive whole days"),
        ({"as_of": D, "session_gap_minutes": 0}, "session_gap_minutes"),
        ({"as_of": D, "channels": "web"}, "not one string"),
    ],
)
def test_bad_arguments(tx_table, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_features(tx_table(ROWS), **kwargs)


def test_as_of_accepts_iso_string_and_midnight_timestamp(tx_table):
    tx = tx_table(ROWS)
    a = build_features(tx, as_of="2024-04-01", channels=[]).to_pandas()
    b = build_features(tx, as_of=dt.datetime(2024, 4, 1), channels=[]).to_pandas()
    assert a.equals(b)


def test_custom_windows(tx_table):
    got = build_features(tx_table(ROWS), as_of=D, windows=(7, 60), channels=[]).to_pandas()
    assert {"orders_7d", "orders_60d", "revenue_7d", "revenue_60d"} <= set(got.columns)
    assert "orders_30d" not in got.columns
    a = got.set_index("customer_id").loc["a"]
    assert (a["orders_7d"], a["revenue_7d"], a["orders_60d"]) == (0, -2.0, 2)
