"""One labelled snapshot (features at D joined with the labels of [D, D+H)), on a tiny hand-worked shop.

The as-of dates themselves come from the one scheduler (churnkit.features.snapshots, tests/features/test_snapshots.py).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from churnkit.data.load import ShopData
from churnkit.features import snapshot_table
from churnkit.features.snapshots import schedule
from churnkit.features.training import reproducible

D = dt.date(2024, 3, 1)
SETTINGS = {"windows": (30,), "channels": []}


def shop(rows: list[tuple[str, str, float]]) -> ShopData:
    tx = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    tx["timestamp"] = pd.to_datetime(tx["timestamp"])
    return ShopData.from_frames(tx)


ROWS = [
    ("b", "2024-01-10 09:00", 20.0),  # bought before D only: churned
    ("a", "2024-01-05 10:00", 50.0),
    ("a", "2024-02-29 23:59", 10.0),  # the last minute before D is history
    ("a", "2024-03-01 00:00", 30.0),  # D 00:00 is in the window
    ("a", "2024-03-20 12:00", -5.0),  # a return in the window: net revenue
    ("a", "2024-03-31 00:00", 99.0),  # D + 30 days 00:00 is outside a 30-day window
    ("c", "2024-03-05 08:00", 40.0),  # first purchase after D: not in the base at D
]


def test_labels_of_the_base_by_hand():
    snap = snapshot_table(shop(ROWS), D, horizon_days=30, **SETTINGS)
    assert snap["customer_id"].tolist() == ["a", "b"]  # sorted, c is not in the base
    assert snap["churned"].tolist() == [0, 1]
    assert snap["future_revenue"].tolist() == [25.0, 0.0]
    assert snap["future_purchases"].tolist() == [1, 0]  # the return is no purchase day
    assert snap["orders"].tolist() == [2, 1]  # history only: the two orders before D


def test_features_ignore_everything_from_d_on_and_scoring_tables_have_no_labels():
    full = snapshot_table(shop(ROWS), D, **SETTINGS)
    history = snapshot_table(shop([r for r in ROWS if pd.Timestamp(r[1]) < pd.Timestamp(D)]), D, **SETTINGS)
    pd.testing.assert_frame_equal(full, history)
    assert not {"churned", "future_revenue", "future_purchases"} & set(full.columns)


def test_nobody_before_d_gives_an_empty_table():
    assert snapshot_table(shop(ROWS), dt.date(2024, 1, 1), horizon_days=30, **SETTINGS).empty


def test_rows_are_sorted_and_floats_rounded_for_reproducible_fits():
    frame = pd.DataFrame({"customer_id": ["z", "a"], "x": [1.123456789123, 2.0], "n": [3, 4]})
    out = reproducible(frame)
    assert out["customer_id"].tolist() == ["a", "z"]
    assert out["x"].tolist() == [2.0, 1.12345679]
    assert out["n"].tolist() == [4, 3]
    assert frame["x"].iloc[0] == 1.123456789123  # the input is left as it is


def test_every_planned_snapshot_has_its_label_window_inside_the_data():
    """The scheduler's dates and the snapshot's labels agree: a label window never runs past the data."""
    rows = [(f"c{i % 7}", f"2024-{1 + i // 28:02d}-{1 + i % 28:02d} 12:00", 10.0 + i) for i in range(150)]
    data = shop(rows)
    first, last = data.date_range()
    plan = schedule(first, last, last + dt.timedelta(days=1), horizon_days=30, min_history_days=14)
    assert plan.test is not None and plan.final
    for d in plan.final:
        assert d + dt.timedelta(days=30) <= last + dt.timedelta(days=1)
        snap = snapshot_table(data, d, horizon_days=30, **SETTINGS)
        in_window = [r for r in rows if d <= pd.Timestamp(r[1]).date() < d + dt.timedelta(days=30)]
        base = {r[0] for r in rows if pd.Timestamp(r[1]).date() < d}
        expected = sum(r[2] for r in in_window if r[0] in base)
        assert snap["future_revenue"].sum() == pytest.approx(expected)
