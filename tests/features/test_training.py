"""Rolling origins and stacked training tables."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from churnkit.errors import ConfigError, DataTooShortError
from churnkit.features import build_features, build_labels, build_training_table, data_end, rolling_origins


def test_latest_origin_keeps_the_whole_horizon_inside_the_data():
    got = rolling_origins(dt.date(2024, 6, 30), horizon_days=90, n_snapshots=3, spacing_days=30)
    assert got == [dt.date(2024, 2, 2), dt.date(2024, 3, 3), dt.date(2024, 4, 2)]
    assert got[-1] + dt.timedelta(days=90 - 1) == dt.date(2024, 6, 30)


def test_min_history_limits_the_origins():
    kwargs = {"horizon_days": 90, "n_snapshots": 3, "spacing_days": 30, "first_date": dt.date(2024, 1, 1)}
    assert rolling_origins(dt.date(2024, 6, 30), min_history_days=32, **kwargs)[0] == dt.date(2024, 2, 2)
    with pytest.raises(DataTooShortError, match="Only 2 of 3"):
        rolling_origins(dt.date(2024, 6, 30), min_history_days=33, **kwargs)


def test_rolling_origin_arguments_are_checked():
    with pytest.raises(ConfigError, match="n_snapshots"):
        rolling_origins(dt.date(2024, 6, 30), horizon_days=90, n_snapshots=0, spacing_days=30)
    with pytest.raises(ConfigError, match="needs first_date"):
        rolling_origins(
            dt.date(2024, 6, 30), horizon_days=90, n_snapshots=1, spacing_days=30, min_history_days=5
        )


@pytest.fixture(scope="module")
def training(shop_tables):
    t = shop_tables
    end = data_end(t["transactions"])
    as_ofs = rolling_origins(end, horizon_days=60, n_snapshots=3, spacing_days=45)
    table = build_training_table(
        t["transactions"], t["events"], t["customers"], as_ofs=as_ofs, horizon_days=60, windows=(30, 90)
    )
    return as_ofs, table


def test_training_table_stacks_features_and_labels(training, shop_tables):
    as_ofs, table = training
    assert sorted(table["as_of"].dt.date.unique()) == as_ofs
    assert not table.duplicated(["customer_id", "as_of"]).any()
    assert {
        "churned",
        "future_revenue",
        "future_purchases",
        "orders_90d",
        "sessions_30d",
        "attr_country",
    } <= set(table.columns)
    t = shop_tables
    d = as_ofs[0]
    feats = build_features(t["transactions"], t["events"], t["customers"], as_of=d, windows=(30, 90))
    feats = feats.to_pandas()
    labels = build_labels(t["transactions"], as_of=d, horizon_days=60).to_pandas()
    one = table[table["as_of"].dt.date == d].reset_index(drop=True)
    expected = feats.merge(labels.drop(columns="as_of"), on="customer_id").sort_values("customer_id")
    # Channels are fixed from the latest as_of: the earliest snapshot may have extra all-zero columns.
    for col in expected.columns:
        pd.testing.assert_series_equal(one[col], expected[col].reset_index(drop=True), check_names=False)


def test_labels_must_be_fully_observed(shop_tables):
    tx = shop_tables["transactions"]
    end = data_end(tx)
    ok = end + dt.timedelta(days=1) - dt.timedelta(days=30)
    build_training_table(tx, as_ofs=[ok], horizon_days=30, windows=(30,))
    with pytest.raises(DataTooShortError, match="runs past the data"):
        build_training_table(tx, as_ofs=[ok + dt.timedelta(days=1)], horizon_days=30)


def test_empty_snapshot_is_an_error(shop_tables):
    with pytest.raises(DataTooShortError, match="No customer"):
        build_training_table(shop_tables["transactions"], as_ofs=[dt.date(2021, 1, 1)], horizon_days=30)
