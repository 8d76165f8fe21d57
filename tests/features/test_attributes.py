"""Customer attributes: signup tenure and pass-through columns."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from churnkit.features import build_features

D = dt.date(2024, 4, 1)
TX = [
    ("a", "o1", "2024-03-01 10:00", 10.0),
    ("b", "o2", "2024-03-02 10:00", 10.0),
    ("c", "o3", "2024-03-03", 5.0),
]


@pytest.fixture(scope="module")
def feats(tx_table, table):
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "zz"],
            "signup_date": [dt.date(2024, 1, 1), None, dt.date(2024, 4, 1), dt.date(2020, 1, 1)],
            "country": ["FR", None, "DE", "US"],
            "Acquisition Channel": ["ads", "seo", None, "ads"],
            "age": [31, 40, 22, 50],
        }
    ).astype({"customer_id": "str", "country": "str", "Acquisition Channel": "str"})
    return build_features(tx_table(TX), customers=table("customers", customers), as_of=D).to_pandas()


def test_attribute_columns_and_types(feats):
    attrs = [c for c in feats.columns if c.startswith("attr_") or c == "signup_tenure_days"]
    assert attrs == ["signup_tenure_days", "attr_country", "attr_acquisition_channel", "attr_age"]
    assert str(feats["attr_age"].dtype) == "float64"
    assert feats["attr_country"].dtype == "str"


def test_attribute_values(feats):
    f = feats.set_index("customer_id")
    assert sorted(f.index) == ["a", "b", "c"]  # zz never bought: not in the base
    assert f.loc["a", "signup_tenure_days"] == 91.0
    assert math.isnan(f.loc["b", "signup_tenure_days"])  # missing
    assert math.isnan(f.loc["c", "signup_tenure_days"])  # signed up at as_of: not known yet
    assert (f.loc["a", "attr_country"], f.loc["a", "attr_acquisition_channel"], f.loc["a", "attr_age"]) == (
        "FR",
        "ads",
        31.0,
    )
    assert pd.isna(f.loc["b", "attr_country"]) and pd.isna(f.loc["c", "attr_acquisition_channel"])


def test_customers_missing_from_the_table_get_nulls(tx_table, table):
    customers = pd.DataFrame({"customer_id": ["a"], "country": ["FR"]}).astype("str")
    got = build_features(tx_table(TX), customers=table("customers", customers), as_of=D).to_pandas()
    assert "signup_tenure_days" not in got.columns
    assert got.set_index("customer_id")["attr_country"].isna().tolist() == [False, True, True]
