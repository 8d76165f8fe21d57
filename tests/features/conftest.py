"""Fixtures for the feature tests: DuckDB tables from pandas, a small synthetic shop, CDNOW."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

TX_DTYPES = {
    "customer_id": "str",
    "order_id": "str",
    "timestamp": "datetime64[us]",
    "amount": "float64",
    "is_return": "bool",
    "channel": "str",
    "product_id": "str",
}
EVENT_DTYPES = {
    "customer_id": "str",
    "timestamp": "datetime64[us]",
    "event_type": "str",
    "session_id": "str",
    "channel": "str",
    "product_id": "str",
}


def tx_frame(rows: list[tuple]) -> pd.DataFrame:
    """Transactions from (customer_id, order_id, timestamp, amount[, channel]) tuples."""
    records = []
    for r in rows:
        cid, oid, ts, amount, *rest = r
        records.append(
            {
                "customer_id": cid,
                "order_id": oid,
                "timestamp": pd.Timestamp(ts),
                "amount": float(amount),
                "is_return": amount < 0,
                "channel": rest[0] if rest else None,
                "product_id": None,
            }
        )
    return pd.DataFrame(records, columns=list(TX_DTYPES)).astype(TX_DTYPES)


def event_frame(rows: list[tuple]) -> pd.DataFrame:
    """Events from (customer_id, timestamp, event_type[, session_id]) tuples."""
    records = [
        {
            "customer_id": r[0],
            "timestamp": pd.Timestamp(r[1]),
            "event_type": r[2],
            "session_id": r[3] if len(r) > 3 else None,
            "channel": None,
            "product_id": None,
        }
        for r in rows
    ]
    return pd.DataFrame(records, columns=list(EVENT_DTYPES)).astype(EVENT_DTYPES)


def synthetic_shop(n_customers: int = 300, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A small shop (2022-01-01 … 2023-06-30) with multi-line orders, returns, channels and events."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-01-01")
    channels = np.array(["web", "store", "App Store", None], dtype=object)
    tx, ev, cust = [], [], []
    for i in range(n_customers):
        cid = f"{i:05d}"
        first = start + pd.Timedelta(days=float(rng.uniform(0, 450)))
        gaps = rng.exponential(30.0, size=int(rng.geometric(0.25)))
        gaps[1:][rng.random(len(gaps) - 1) < 0.15] = 0.01  # some orders on the same day
        times = first + pd.to_timedelta(np.cumsum(gaps) - gaps[0], unit="D")
        for k, ts in enumerate(times):
            oid = f"o{cid}-{k}"
            channel = channels[rng.integers(0, len(channels))]
            for line in range(int(rng.integers(1, 4))):
                line_ts = ts + pd.Timedelta(minutes=3 * line)
                tx.append((cid, oid, line_ts, round(float(rng.gamma(2.0, 15.0)), 2), False, channel))
            if rng.random() < 0.1:
                back = ts + pd.Timedelta(days=float(rng.uniform(1, 20)))
                tx.append((cid, f"r{cid}-{k}", back, -round(float(rng.gamma(2.0, 10.0)), 2), True, channel))
        if rng.random() < 0.8:
            visit = first - pd.Timedelta(days=10)
            for s in range(int(rng.integers(1, 12))):
                visit += pd.Timedelta(hours=float(rng.exponential(24 * 20)))
                sid = f"s{cid}-{s}" if rng.random() < 0.5 else None
                t = visit
                for _ in range(int(rng.integers(1, 8))):
                    t += pd.Timedelta(minutes=float(rng.exponential(8)))
                    etype = rng.choice(
                        [
                            "page_view",
                            "product_view",
                            "search",
                            "add_to_cart",
                            "checkout",
                            "purchase",
                            "wishlist",
                        ],
                        p=[0.35, 0.3, 0.1, 0.1, 0.06, 0.05, 0.04],
                    )
                    ev.append((cid, t, str(etype), sid))
        signup = (
            (first - pd.Timedelta(days=float(rng.uniform(0, 100)))).date() if rng.random() < 0.9 else None
        )
        cust.append((cid, signup, ["FR", "DE", None][i % 3], float(i % 7)))
    for p in range(n_customers // 10):  # prospects: browse, never buy
        t = start + pd.Timedelta(days=float(rng.uniform(0, 500)))
        ev.append((f"p{p:04d}", t, "page_view", None))
    transactions = pd.DataFrame(
        [(c, o, t, a, r, ch, None) for c, o, t, a, r, ch in tx], columns=list(TX_DTYPES)
    ).astype(TX_DTYPES)
    events = pd.DataFrame([(c, t, e, s, None, None) for c, t, e, s in ev], columns=list(EVENT_DTYPES)).astype(
        EVENT_DTYPES
    )
    customers = pd.DataFrame(cust, columns=["customer_id", "signup_date", "country", "segment_score"])
    customers["signup_date"] = pd.to_datetime(customers["signup_date"]).dt.date
    customers = customers.astype({"customer_id": "str", "country": "str"})
    return {"transactions": transactions, "events": events, "customers": customers}


def cdnow_frame() -> pd.DataFrame:
    """CDNOW master data (shipped with lifetimes) as canonical transactions, one order per row."""
    import lifetimes

    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_master.txt"
    raw = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str})
    frame = pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "order_id": raw.index.astype(str),
            "timestamp": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
            "amount": raw["dollar_value"].astype(float),
            "is_return": raw["dollar_value"] < 0,
            "channel": None,
            "product_id": None,
        }
    )
    return frame.astype(TX_DTYPES)


@pytest.fixture(scope="session")
def con() -> ibis.BaseBackend:
    """One in-memory DuckDB connection for the session (every table gets a fresh name)."""
    connection = ibis.duckdb.connect()
    connection.raw_sql("SET TimeZone = 'UTC'")
    return connection


@pytest.fixture(scope="session")
def table(con) -> Callable[[str, pd.DataFrame], ibis.Table]:
    """Register a pandas frame as a DuckDB table.

    Goes through ibis.memtable and fresh names: with sqlglot 30, ``create_table(name, frame)`` and
    ``overwrite=True`` emit ``DROP ... IF EXISTS`` without a name and fail.
    """
    names = itertools.count()

    def make(name: str, frame: pd.DataFrame) -> ibis.Table:
        return con.create_table(f"{name}_{next(names)}", ibis.memtable(frame))

    return make


@pytest.fixture(scope="session")
def tx_table(table) -> Callable[[list[tuple]], ibis.Table]:
    """A transactions table from (customer_id, order_id, timestamp, amount[, channel]) tuples."""
    return lambda rows: table("transactions", tx_frame(rows))


@pytest.fixture(scope="session")
def event_table(table) -> Callable[[list[tuple]], ibis.Table]:
    """An events table from (customer_id, timestamp, event_type[, session_id]) tuples."""
    return lambda rows: table("events", event_frame(rows))


@pytest.fixture(scope="session")
def shop() -> dict[str, pd.DataFrame]:
    """The synthetic shop as pandas frames."""
    return synthetic_shop()


@pytest.fixture(scope="session")
def shop_tables(shop, table) -> dict[str, ibis.Table]:
    """The synthetic shop as DuckDB tables."""
    return {name: table(name, frame) for name, frame in shop.items()}


@pytest.fixture(scope="session")
def cdnow() -> pd.DataFrame:
    """CDNOW master transactions."""
    return cdnow_frame()
