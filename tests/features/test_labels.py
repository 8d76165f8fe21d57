"""Labels on a hand-worked table, boundaries included."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from churnkit.errors import ConfigError
from churnkit.features import build_labels

D = dt.date(2024, 4, 1)
TX = [
    ("a", "o1", "2024-03-01 10:00", 10.0),
    ("a", "o2", "2024-04-01 00:00", 20.0),  # exactly at D: in the window
    ("a", "r1", "2024-04-10 10:00", -5.0),  # a return in the window lowers the revenue
    ("b", "o3", "2024-01-01 10:00", 10.0),
    ("b", "o4", "2024-05-01 00:00", 30.0),  # exactly at D + H: outside
    ("c", "o5", "2024-03-31 23:59:59", 10.0),
    ("c", "o6", "2024-04-15 09:00", 7.0),
    ("c", "o7", "2024-04-15 18:00", 8.0),  # same day: one purchase day
    ("c", "o8", "2024-04-30 23:59:59", 5.0),
    ("d", "o9", "2024-04-01 00:00", 50.0),  # first purchase at D: not in the base
    ("e", "r2", "2024-03-01 00:00", -3.0),  # only a return before D: not in the base
    ("f", "o10", "2024-02-01 00:00", 10.0),
    ("f", "r3", "2024-04-20 00:00", -10.0),  # a return alone: still churned
]


def test_hand_worked_labels(tx_table):
    got = build_labels(tx_table(TX), as_of=D, horizon_days=30).to_pandas()
    got = got.sort_values("customer_id", ignore_index=True)
    expected = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "f"],
            "as_of": pd.to_datetime([D] * 4),
            "churned": [0, 1, 0, 1],
            "future_revenue": [15.0, 0.0, 20.0, -10.0],
            "future_purchases": [1, 0, 2, 0],
        }
    )
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert str(got["churned"].dtype) == "int64" and str(got["future_purchases"].dtype) == "int64"


@pytest.mark.parametrize("horizon", [0, -5, 1.5, True])
def test_bad_horizon(tx_table, horizon):
    with pytest.raises(ConfigError, match="horizon_days"):
        build_labels(tx_table(TX), as_of=D, horizon_days=horizon)
