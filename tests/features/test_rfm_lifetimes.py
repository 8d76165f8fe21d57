"""The lifetimes-convention RFM equals lifetimes' summary_data_from_transaction_data exactly."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import summary_data_from_transaction_data

from churnkit.features import build_features, rfm_summary

RFM = ["frequency", "recency", "T", "monetary_value"]


def lifetimes_rfm(frame: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """lifetimes' RFM of the purchase rows, observation period ending the day before as_of."""
    purchases = frame.loc[~frame["is_return"], ["customer_id", "timestamp", "amount"]]
    end = pd.Timestamp(as_of) - pd.Timedelta(days=1)
    return summary_data_from_transaction_data(
        purchases,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end=end,
        freq="D",
    )


def assert_same_rfm(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    ours = ours.set_index("customer_id")
    assert sorted(ours.index) == sorted(theirs.index)
    ours = ours.loc[theirs.index]
    for col in RFM:
        np.testing.assert_allclose(ours[col].to_numpy(float), theirs[col].to_numpy(float), rtol=0, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("as_of", [dt.date(1997, 10, 1), dt.date(1998, 1, 1)])
def test_cdnow_full_data_matches_lifetimes(cdnow, table, as_of):
    tx = table("transactions", cdnow)
    theirs = lifetimes_rfm(cdnow, as_of)
    assert_same_rfm(build_features(tx, as_of=as_of).to_pandas(), theirs)
    assert_same_rfm(rfm_summary(tx, as_of=as_of).to_pandas(), theirs)


@pytest.mark.parametrize("as_of", [dt.date(2022, 9, 15), dt.date(2023, 1, 1), dt.date(2023, 6, 30)])
def test_synthetic_shop_matches_lifetimes(shop, shop_tables, as_of):
    tx = shop_tables["transactions"]
    theirs = lifetimes_rfm(shop["transactions"], as_of)
    assert_same_rfm(build_features(tx, as_of=as_of).to_pandas(), theirs)
    summary = rfm_summary(tx, as_of=as_of).to_pandas()
    assert list(summary.columns) == ["customer_id", "as_of", *RFM]
    assert_same_rfm(summary, theirs)


def test_hand_worked_rfm(tx_table):
    # Two orders on Jan 1 (one with two lines), a return, an order at as_of (ignored).
    tx = tx_table(
        [
            ("a", "o1", "2024-01-01 10:00", 10.0),
            ("a", "o1", "2024-01-01 10:05", 5.0),
            ("a", "o2", "2024-01-01 18:00", 20.0),
            ("a", "o3", "2024-02-15 12:00", 30.0),
            ("a", "r1", "2024-02-20 08:00", -8.0),
            ("a", "o4", "2024-03-20 09:00", 40.0),
            ("a", "o5", "2024-04-01 00:00", 100.0),
            ("b", "o6", "2024-03-31 23:59:59", 50.0),
            ("f", "f1", "2024-03-09 23:58", 10.0),  # one order across midnight: two purchase days
            ("f", "f1", "2024-03-10 00:02", 5.0),
        ]
    )
    got = build_features(tx, as_of=dt.date(2024, 4, 1)).to_pandas().set_index("customer_id")[RFM]
    expected = pd.DataFrame(
        {"frequency": [2, 0, 1], "recency": [79, 0, 1], "T": [90, 0, 22], "monetary_value": [35.0, 0.0, 5.0]},
        index=pd.Index(["a", "b", "f"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(got.sort_index(), expected, check_dtype=False)
