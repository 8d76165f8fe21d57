"""Property: nothing at or after the as-of date changes a feature at that date."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnkit.data.schema import EVENT_TYPES
from churnkit.features import build_features

D = dt.date(2024, 3, 1)
CUSTOMERS = ["a", "b", "c"]


def _ts(day: int, minute: int) -> pd.Timestamp:
    return pd.Timestamp(D) + pd.Timedelta(days=day, minutes=minute)


def transactions(days: st.SearchStrategy[int]) -> st.SearchStrategy[list[dict]]:
    row = st.fixed_dictionaries(
        {
            "customer_id": st.sampled_from(CUSTOMERS),
            "order_id": st.sampled_from(["o1", "o2", "o3", "o4"]),
            "day": days,
            "minute": st.integers(0, 1439),
            "amount": st.sampled_from([-4.0, 0.0, 9.99, 25.5, 100.0]),
            "channel": st.sampled_from(["web", "store", None]),
        }
    )
    return st.lists(row, max_size=12)


def events(days: st.SearchStrategy[int]) -> st.SearchStrategy[list[dict]]:
    row = st.fixed_dictionaries(
        {
            "customer_id": st.sampled_from([*CUSTOMERS, "x"]),
            "day": days,
            "minute": st.integers(0, 1439),
            "event_type": st.sampled_from([*EVENT_TYPES, "other"]),
            "session_id": st.sampled_from(["s1", "s2", None]),
        }
    )
    return st.lists(row, max_size=15)


def _tx_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": [r["customer_id"] for r in rows],
            "order_id": [r["order_id"] for r in rows],
            "timestamp": [_ts(r["day"], r["minute"]) for r in rows],
            "amount": [r["amount"] for r in rows],
            "is_return": [r["amount"] < 0 for r in rows],
            "channel": [r["channel"] for r in rows],
            "product_id": [None] * len(rows),
        }
    )
    types = {"customer_id": "str", "order_id": "str", "timestamp": "datetime64[us]", "amount": "float64"}
    return frame.astype({**types, "is_return": "bool", "channel": "str", "product_id": "str"})


def _event_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": [r["customer_id"] for r in rows],
            "timestamp": [_ts(r["day"], r["minute"]) for r in rows],
            "event_type": [r["event_type"] for r in rows],
            "session_id": [r["session_id"] for r in rows],
        }
    )
    return frame.astype(
        {"customer_id": "str", "timestamp": "datetime64[us]", "event_type": "str", "session_id": "str"}
    )


def _features(con, tx: pd.DataFrame, ev: pd.DataFrame, name: str) -> pd.DataFrame:
    t = con.create_table(f"t_{name}", ibis.memtable(tx))
    e = con.create_table(f"e_{name}", ibis.memtable(ev))
    out = build_features(t, e, as_of=D, windows=(7,)).to_pandas()
    return out.sort_values("customer_id", ignore_index=True)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    past_tx=transactions(st.integers(-40, -1)),
    past_ev=events(st.integers(-40, -1)),
    future_tx=transactions(st.integers(0, 5)),
    future_ev=events(st.integers(0, 5)),
)
def test_rows_at_or_after_as_of_change_nothing(past_tx, past_ev, future_tx, future_ev):
    con = ibis.duckdb.connect()
    before = _features(con, _tx_frame(past_tx), _event_frame(past_ev), "past")
    after = _features(con, _tx_frame(past_tx + future_tx), _event_frame(past_ev + future_ev), "all")
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-12, atol=1e-12)


def test_synthetic_shop_cut_at_as_of_gives_the_same_features(shop, table):
    as_of = dt.date(2023, 1, 1)
    cut = pd.Timestamp(as_of)
    full = {name: table(name, frame) for name, frame in shop.items()}
    past = {
        name: table(name, frame[frame["timestamp"] < cut] if "timestamp" in frame else frame)
        for name, frame in shop.items()
    }
    a = build_features(full["transactions"], full["events"], full["customers"], as_of=as_of).to_pandas()
    b = build_features(past["transactions"], past["events"], past["customers"], as_of=as_of).to_pandas()
    assert len(a) > 100
    a, b = (f.sort_values("customer_id", ignore_index=True) for f in (a, b))
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
