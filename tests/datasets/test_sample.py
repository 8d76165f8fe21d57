"""Tests for the sample-shop generator: contracts, reproducibility and the behaviour models rely on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnkit.data.schema import EVENT_TYPES
from churnkit.datasets.sample_shop import SampleShop, generate_shop, write_shop
from churnkit.errors import ConfigError

N = 3000
END = pd.Timestamp("2026-01-01")  # exclusive end of the default period

COLUMNS = {
    "transactions": ["customer_id", "order_id", "timestamp", "amount", "quantity", "channel", "product_id"],
    "events": ["customer_id", "session_id", "timestamp", "event_type", "channel", "device", "product_id"],
    "customers": ["customer_id", "signup_date", "country", "acquisition_channel"],
}
DATE_COLUMNS = {
    "transactions": ["timestamp"],
    "events": ["timestamp"],
    "customers": ["signup_date"],
    "truth": ["first_purchase", "last_purchase", "dropout_date"],
}


@pytest.fixture(scope="module")
def shop() -> SampleShop:
    return generate_shop(N, seed=11)


@pytest.fixture(scope="module")
def orders(shop: SampleShop) -> pd.DataFrame:
    """One row per (non-return) order."""
    tx = shop.transactions
    return (
        tx[tx.quantity > 0]
        .groupby("order_id", sort=False)
        .agg(
            customer_id=("customer_id", "first"),
            timestamp=("timestamp", "first"),
            channel=("channel", "first"),
            lines=("amount", "size"),
            amount=("amount", "sum"),
            n_customers=("customer_id", "nunique"),
            n_timestamps=("timestamp", "nunique"),
        )
    )


@pytest.fixture(scope="module")
def sessions(shop: SampleShop) -> pd.DataFrame:
    ev = shop.events
    flags = ev.assign(
        cart=ev.event_type.eq("add_to_cart"),
        buy=ev.event_type.eq("purchase"),
    )
    return flags.groupby("session_id").agg(
        customer_id=("customer_id", "first"),
        n_customers=("customer_id", "nunique"),
        start=("timestamp", "min"),
        end=("timestamp", "max"),
        cart=("cart", "any"),
        buy=("buy", "any"),
    )


def buyers(shop: SampleShop) -> pd.DataFrame:
    return shop.truth[shop.truth.kind == "buyer"]


# ---- contracts ---------------------------------------------------------------------------------


def test_columns_and_dtypes(shop: SampleShop) -> None:
    for name, cols in COLUMNS.items():
        df = getattr(shop, name)
        assert list(df.columns) == cols, name
        assert df.customer_id.dtype == "str", name
        for col in DATE_COLUMNS[name]:
            assert df[col].dtype == "datetime64[us]", (name, col)  # naive: no time zone
    tx = shop.transactions
    assert tx.amount.dtype == "float64"
    assert pd.api.types.is_integer_dtype(tx.quantity)
    for col in ("order_id", "channel", "product_id"):
        assert tx[col].dtype == "str"
    for col in ("session_id", "event_type", "channel", "device", "product_id"):
        assert shop.events[col].dtype == "str"
    assert shop.truth.customer_id.tolist() == shop.customers.customer_id.tolist()
    assert shop.truth.dropout_date.dtype == "datetime64[us]"


def test_values_follow_the_vocabularies(shop: SampleShop) -> None:
    tx, ev, cu = shop.transactions, shop.events, shop.customers
    assert cu.customer_id.str.fullmatch(r"C\d{6}").all()
    assert cu.customer_id.is_unique
    assert tx.order_id.str.fullmatch(r"[OR]\d{7}").all()
    assert set(ev.event_type) == set(EVENT_TYPES)
    assert set(tx.channel) == {"web", "app", "store"}
    assert set(ev.channel) == {"web", "app"}
    assert set(ev.device) == {"desktop", "mobile", "tablet"}
    assert 3 <= cu.country.nunique() <= 10
    assert 3 <= cu.acquisition_channel.nunique() <= 10
    assert set(tx.customer_id) <= set(cu.customer_id)
    assert set(ev.customer_id) <= set(cu.customer_id)
    # Time of day is present and everything lies inside the period.
    assert tx.timestamp.dt.hour.nunique() > 12
    for ts in (tx.timestamp, ev.timestamp):
        assert ts.min() >= pd.Timestamp("2023-01-01") and ts.max() < END
        assert ts.is_monotonic_increasing


def test_order_lines_and_amounts(shop: SampleShop, orders: pd.DataFrame) -> None:
    tx = shop.transactions
    sales = tx[tx.quantity > 0]
    assert (sales.amount > 0).all()
    assert orders.lines.between(1, 4).all() and orders.lines.max() == 4
    assert (orders.n_customers == 1).all() and (orders.n_timestamps == 1).all()
    # Amounts are cents; unit prices are cents too.
    assert np.allclose(tx.amount * 100, np.round(tx.amount * 100))
    unit = tx.amount / tx.quantity
    assert np.allclose(unit * 100, np.round(unit * 100), atol=1e-6)
    # Heterogeneous spend: a few customers carry a large share of revenue.
    revenue = sales.groupby("customer_id").amount.sum().sort_values(ascending=False)
    assert revenue.head(len(revenue) // 10).sum() / revenue.sum() > 0.35
    assert buyers(shop).is_vip.sum() > 0


def test_returns_are_negative_rows_after_their_order(shop: SampleShop, orders: pd.DataFrame) -> None:
    tx = shop.transactions
    ret = tx[tx.quantity < 0]
    assert len(ret) > 0
    assert (ret.amount < 0).all() and ret.order_id.str.startswith("R").all()
    assert 0.025 <= len(ret) / len(orders) <= 0.055
    original = orders.loc["O" + ret.order_id.str[1:]]
    assert (original.customer_id.to_numpy() == ret.customer_id.to_numpy()).all()
    delay = (ret.timestamp.to_numpy() - original.timestamp.to_numpy()) / np.timedelta64(1, "D")
    assert (delay >= 2).all() and (delay < 60).all()
    lines = tx[tx.quantity > 0].groupby("order_id").product_id.agg(set)
    assert all(p in lines[o] for o, p in zip(original.index, ret.product_id, strict=True))


# ---- reproducibility -----------------------------------------------------------------------------


def test_same_seed_same_frames_different_seed_differs() -> None:
    a, b, c = generate_shop(400, seed=3), generate_shop(400, seed=3), generate_shop(400, seed=4)
    for name in ("transactions", "events", "customers", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.params == b.params
    assert not a.transactions.equals(c.transactions)
    assert not a.events.equals(c.events)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_byte_identical_files(tmp_path, fmt: str) -> None:
    paths_a = write_shop(generate_shop(300, seed=5), tmp_path / "a", fmt=fmt)
    paths_b = write_shop(generate_shop(300, seed=5), tmp_path / "b", fmt=fmt)
    assert set(paths_a) == {"transactions", "events", "customers", "truth"}
    for name, path in paths_a.items():
        assert path.name == f"{name}.{fmt}"
        assert path.read_bytes() == paths_b[name].read_bytes(), name


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_shop_roundtrip(tmp_path, fmt: str) -> None:
    shop = generate_shop(300, seed=6)
    paths = write_shop(shop, tmp_path / "nested" / "out", fmt=fmt)
    for name, path in paths.items():
        back = pd.read_csv(path, parse_dates=DATE_COLUMNS[name]) if fmt == "csv" else pd.read_parquet(path)
        pd.testing.assert_frame_equal(back, getattr(shop, name), check_dtype=True, obj=name)


def test_csv_is_plain(tmp_path) -> None:
    paths = write_shop(generate_shop(50, seed=1), tmp_path, fmt="csv")
    lines = paths["transactions"].read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS["transactions"])
    assert '"' not in lines[1]
    assert len(lines[1].split(",")[2]) == len("2023-01-01 12:00:00")
    assert len(paths["customers"].read_text().splitlines()[1].split(",")[1]) == len("2023-01-01")


def test_bad_arguments_raise_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="n_customers"):
        generate_shop(0)
    with pytest.raises(ConfigError, match="dates"):
        generate_shop(10, start="yesterday-ish")
    with pytest.raises(ConfigError, match="too short"):
        generate_shop(10, start="2025-01-01", end="2024-01-01")
    with pytest.raises(ConfigError, match="format"):
        write_shop(generate_shop(5), tmp_path, fmt="xlsx")


def test_other_periods_and_tiny_shops() -> None:
    small = generate_shop(3, seed=2)
    assert set(small.truth.kind) == {"buyer", "prospect", "inactive"}
    summer = generate_shop(200, seed=2, start="2024-06-01", end="2024-08-31")
    for ts in (summer.transactions.timestamp, summer.events.timestamp):
        assert ts.min() >= pd.Timestamp("2024-06-01") and ts.max() < pd.Timestamp("2024-09-01")
    assert summer.transactions.customer_id.nunique() == 200


# ---- the behaviour of a real shop ------------------------------------------------------------------


def test_one_time_buyers_are_the_majority_and_repeaters_exist(shop: SampleShop, orders: pd.DataFrame) -> None:
    per_customer = orders.groupby("customer_id").size()
    assert len(per_customer) == N  # n_customers counts buyers
    one_time = (per_customer == 1).mean()
    assert 0.55 <= one_time <= 0.65
    assert (per_customer >= 2).mean() > 0.3
    assert (per_customer >= 10).sum() > 0.02 * N
    truth = buyers(shop).set_index("customer_id")
    assert (truth.n_orders.loc[per_customer.index] == per_customer).all()


def test_latent_process_is_consistent(shop: SampleShop, orders: pd.DataFrame) -> None:
    truth = buyers(shop).set_index("customer_id")
    assert truth.purchase_rate.gt(0).all() and truth.dropout_prob.between(0, 1).all()
    assert 0.5 < truth.dropout_date.notna().mean() < 0.9
    # No purchase after the latent dropout date.
    last = orders.groupby("customer_id").timestamp.max()
    dropped = truth.dropout_date.dropna()
    assert (last.loc[dropped.index] <= dropped).all()
    assert (truth.first_purchase == orders.groupby("customer_id").timestamp.min()).all()
    # Faster buyers (by the latent rate) buy more often among repeat customers.
    rep = truth[truth.n_orders > 1]
    assert np.corrcoef(np.log(rep.purchase_rate), np.log(rep.n_orders))[0, 1] > 0.2


def test_acquisition_spreads_and_grows(shop: SampleShop) -> None:
    first = buyers(shop).first_purchase
    per_year = first.dt.year.value_counts()
    assert set(per_year.index) == {2023, 2024, 2025}
    assert per_year[2025] > per_year[2023]
    signup = shop.customers.set_index("customer_id").signup_date
    assert (signup.loc[buyers(shop).customer_id].to_numpy() <= first.to_numpy()).all()


def test_seasonality(orders: pd.DataFrame) -> None:
    months = orders.timestamp.dt.month
    assert months.isin([11, 12]).mean() > 1.25 * 61 / 365
    weekday = orders.timestamp.dt.day_of_week.value_counts(normalize=True)
    assert weekday[5] < weekday[6] * 0.8  # thin Saturdays, busy Sundays
    hours = orders[orders.channel != "store"].timestamp.dt.hour.value_counts(normalize=True).sort_index()
    assert hours.loc[19:21].sum() > 3 * hours.loc[2:4].sum()
    store = orders[orders.channel == "store"].timestamp.dt.hour
    assert store.between(9, 19).all()


def test_prospects_and_inactive_accounts(shop: SampleShop) -> None:
    tx_ids = set(shop.transactions.customer_id)
    ev_ids = set(shop.events.customer_id)
    prospects = shop.truth.customer_id[shop.truth.kind == "prospect"]
    inactive = shop.truth.customer_id[shop.truth.kind == "inactive"]
    assert len(prospects) > 0 and len(inactive) > 0
    assert prospects.isin(ev_ids).all() and not prospects.isin(tx_ids).any()
    assert not inactive.isin(ev_ids | tx_ids).any()


def test_sessions_look_like_sessions(shop: SampleShop, sessions: pd.DataFrame, orders: pd.DataFrame) -> None:
    assert (sessions.n_customers == 1).all()
    assert ((sessions.end - sessions.start) < pd.Timedelta(minutes=45)).all()
    ev = shop.events
    # One purchase event per online order, at the order's timestamp, ending its session.
    purchases = ev[ev.event_type == "purchase"]
    online = orders[orders.channel != "store"]
    assert len(purchases) == len(online)
    got = purchases.set_index(["customer_id", "timestamp"]).index.sort_values()
    want = online.set_index(["customer_id", "timestamp"]).index.sort_values()
    assert got.equals(want)
    assert (purchases.timestamp.to_numpy() == sessions.end.loc[purchases.session_id].to_numpy()).all()
    # A purchase session shows the funnel; its cart holds the order's products.
    first = ev.groupby("session_id").event_type.first()
    assert (first == "page_view").all()
    buy_sessions = set(purchases.session_id)
    funnel = ev[ev.session_id.isin(buy_sessions)].groupby("session_id").event_type.agg(set)
    assert all({"page_view", "product_view", "add_to_cart", "checkout", "purchase"} <= s for s in funnel)
    # Products appear on product events only.
    product_events = ev.event_type.isin(["product_view", "add_to_cart", "remove_from_cart"])
    assert ev.product_id[product_events].notna().all() and ev.product_id[~product_events].isna().all()
    # Browsing-only sessions exist and some of them abandon a cart.
    assert (~sessions.buy).sum() > sessions.buy.sum() * 0.5
    assert (sessions.cart & ~sessions.buy).sum() > 0


def _window_rates(sessions: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Browsing-only sessions per customer-day of dropped-out customers, by window around their dropout.

    Purchase sessions are left out: the last purchase always falls shortly before the dropout date.
    """
    t = truth.dropna(subset=["dropout_date"])
    # Customers with 240 days of history before their dropout and 90 days of data after it.
    t = t[
        (t.dropout_date - t.first_purchase > pd.Timedelta(days=240))
        & (t.dropout_date + pd.Timedelta(days=90) < END)
    ].set_index("customer_id")
    s = sessions[~sessions.buy].join(t[["dropout_date"]], on="customer_id", how="inner")
    days = (s.start - s.dropout_date) / pd.Timedelta(days=1)
    windows = {"earlier": (-240, -120), "last_60": (-60, 0), "after_90": (0, 90)}
    rates: dict[str, float] = {"customers": float(len(t))}
    for name, (lo, hi) in windows.items():
        inside = (days >= lo) & (days < hi)
        rates[name] = inside.sum() / (len(t) * (hi - lo))
        rates[name + "_cart_share"] = (inside & s.cart).sum() / max(inside.sum(), 1)
    return rates


def test_browsing_declines_before_dropout_and_stops_after(shop: SampleShop, sessions: pd.DataFrame) -> None:
    rates = _window_rates(sessions, shop.truth)
    assert rates["customers"] > 100
    assert rates["last_60"] < 0.7 * rates["earlier"]
    assert rates["after_90"] < 0.1 * rates["earlier"]
    # Browsing sessions put things in the cart (and leave) more often as dropout nears.
    assert rates["last_60_cart_share"] > 1.5 * rates["earlier_cart_share"]


def test_alive_customers_keep_browsing(shop: SampleShop, sessions: pd.DataFrame) -> None:
    """In the last 90 days, customers alive at the end visit far more often than dropped-out ones."""
    recent = sessions[sessions.start >= END - pd.Timedelta(days=90)].groupby("customer_id").size()
    t = buyers(shop).set_index("customer_id")
    t = t[t.first_purchase < END - pd.Timedelta(days=180)]
    visits = recent.reindex(t.index, fill_value=0)
    alive = t.dropout_date.isna()
    gone = t.dropout_date < END - pd.Timedelta(days=90)
    assert visits[alive].mean() > 5 * visits[gone].mean()
    assert (visits[gone] > 0).mean() > 0  # some residual visits


def _churn_table(shop: SampleShop, as_of: str, horizon: int = 90) -> pd.DataFrame:
    """Purchase-history and browsing features before ``as_of``, and the churn label for ``horizon`` days."""
    d = pd.Timestamp(as_of)
    tx = shop.transactions[shop.transactions.quantity > 0]
    hist = tx[tx.timestamp < d]
    g = hist.groupby("customer_id")
    f = pd.DataFrame(
        {
            "orders": g.order_id.nunique(),
            "spend": g.amount.sum(),
            "days_since": (d - g.timestamp.max()) / pd.Timedelta(days=1),
            "age": (d - g.timestamp.min()) / pd.Timedelta(days=1),
        }
    )
    ev = shop.events[shop.events.timestamp < d]
    for days in (30, 90):
        recent = ev[ev.timestamp >= d - pd.Timedelta(days=days)]
        f[f"sessions_{days}"] = recent.groupby("customer_id").session_id.nunique()
        f[f"carts_{days}"] = recent[recent.event_type == "add_to_cart"].groupby("customer_id").size()
    f["days_since_visit"] = (d - ev.groupby("customer_id").timestamp.max()) / pd.Timedelta(days=1)
    f = f.fillna({c: 0 for c in f.columns if c != "days_since_visit"}).fillna({"days_since_visit": 9999})
    future = tx[(tx.timestamp >= d) & (tx.timestamp < d + pd.Timedelta(days=horizon))]
    f["churn"] = (~f.index.isin(future.customer_id)).astype(int)
    return f


@pytest.mark.slow
def test_browsing_features_predict_churn_beyond_purchase_history() -> None:
    """The signal the boosted churn model relies on: browsing adds clearly over recency/frequency."""
    lgb = pytest.importorskip("lightgbm")
    from sklearn.metrics import roc_auc_score

    shop = generate_shop(N, seed=21)
    train = pd.concat([_churn_table(shop, d) for d in ("2024-07-01", "2024-10-01", "2025-01-01")])
    test = _churn_table(shop, "2025-07-01")
    history = ["orders", "spend", "days_since", "age"]
    browsing = [*history, "sessions_30", "sessions_90", "carts_30", "carts_90", "days_since_visit"]
    auc = {}
    for name, cols in (("history", history), ("browsing", browsing)):
        model = lgb.LGBMClassifier(
            n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=40, verbose=-1,
            deterministic=True, force_col_wise=True, num_threads=2, random_state=0,
        )  # fmt: skip
        model.fit(train[cols], train.churn)
        auc[name] = roc_auc_score(test.churn, model.predict_proba(test[cols])[:, 1])
    assert 0.7 < auc["history"] < 0.97
    assert auc["browsing"] - auc["history"] >= 0.02, auc
