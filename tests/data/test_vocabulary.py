"""Source event vocabularies map onto the canonical event types in the loader (docs/design.md, docs/inputs.md).

The check: a canonical events log, renamed into a source vocabulary and loaded with that vocabulary, gives
exactly the features of the canonical log.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from churnkit.config import load_config
from churnkit.data.load import load_shop
from churnkit.datasets.sample_shop import generate_shop
from churnkit.errors import ConfigError
from churnkit.features import shop_features

AS_OF = dt.date(2025, 7, 1)

# canonical type → the names a source writes (written here from each vendor's documentation, not from the code)
RENAMES: dict[str, dict[str, list[str]]] = {
    "ga4": {
        "page_view": ["page_view"],
        "product_view": ["view_item"],
        "search": ["view_search_results"],
        "add_to_cart": ["add_to_cart"],
        "remove_from_cart": ["remove_from_cart"],
        "checkout": ["begin_checkout"],
        "purchase": ["purchase"],
    },
    "segment": {
        "page_view": ["page", "Loaded a Page"],
        "product_view": ["Product Viewed"],
        "search": ["Products Searched"],
        "add_to_cart": ["Product Added"],
        "remove_from_cart": ["Product Removed"],
        "checkout": ["Checkout Started"],
        "purchase": ["Order Completed"],
    },
    "snowplow": {
        "page_view": ["page_view"],
        "product_view": ["product_view"],
        "search": ["site_search"],
        "add_to_cart": ["add_to_cart"],
        "remove_from_cart": ["remove_from_cart"],
        "checkout": ["checkout_step"],
        "purchase": ["transaction"],
    },
}
CUSTOM = {  # a REES46-style export plus a few Segment names, as a user would map it
    "product_view": ["view"],
    "add_to_cart": ["cart", "Product Added"],
    "remove_from_cart": ["remove_from_cart"],
    "purchase": ["purchase"],
    "search": ["search_results"],
    "checkout": ["checkout_start"],
    "page_view": ["pageview"],
}


@pytest.fixture(scope="module")
def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    s = generate_shop(300, seed=5)
    return s.transactions, s.events


@pytest.fixture(scope="module")
def canonical(shop):  # type: ignore[no-untyped-def]
    tx, ev = shop
    features = shop_features(load_shop(tx, ev), as_of=AS_OF)
    assert len(features) > 200
    return features


def assert_same_features(got: pd.DataFrame, want: pd.DataFrame) -> None:
    key = ["customer_id"]
    pd.testing.assert_frame_equal(
        got.sort_values(key, ignore_index=True),
        want.sort_values(key, ignore_index=True),
        check_exact=False,
        rtol=1e-12,  # sums of floats are exact only up to the order DuckDB's threads add them in
    )


def renamed(events: pd.DataFrame, names: dict[str, list[str]]) -> pd.DataFrame:
    """Each event's type replaced by one of its source names (cycling through them, in varying case)."""
    out = events.copy()
    spelled = []
    for i, kind in enumerate(out["event_type"]):
        choices = names[kind]
        name = choices[i % len(choices)]
        spelled.append(name.upper() if i % 5 == 0 else name)  # matching ignores case
    out["event_type"] = spelled
    return out


@pytest.mark.parametrize("vocabulary", sorted(RENAMES))
def test_a_preset_gives_the_canonical_features(shop, canonical, vocabulary, tmp_path):
    tx, ev = shop
    source = renamed(ev, RENAMES[vocabulary])
    path = tmp_path / "events.csv"
    source.to_csv(path, index=False)
    cfg = load_config(None, **{"inputs.events.vocabulary": vocabulary})
    data = load_shop(tx, path, inputs=cfg.inputs)
    assert data.report.tables["events"].unknown_event_types == 0
    assert_same_features(shop_features(data, as_of=AS_OF), canonical)


def test_without_the_preset_the_browsing_signals_are_lost(shop, canonical):
    """The failure the presets fix: a Segment log read as canonical has only page views."""
    tx, ev = shop
    data = load_shop(tx, renamed(ev, RENAMES["segment"]))
    features = shop_features(data, as_of=AS_OF).set_index("customer_id").loc[canonical["customer_id"]]
    assert set(data.frame("events")["event_type"]) == {"page_view"}
    cart = [c for c in canonical.columns if "cart" in c and pd.api.types.is_numeric_dtype(canonical[c])]
    assert cart and canonical[cart].fillna(0).abs().to_numpy().sum() > 0
    assert features[cart].fillna(0).abs().to_numpy().sum() == 0


def test_a_custom_mapping_gives_the_canonical_features(shop, canonical, tmp_path):
    tx, ev = shop
    cfg_file = tmp_path / "config.yaml"
    lines = ["inputs:", "  events:", "    event_types:"]
    lines += [f"      {k}: [{', '.join(repr(v) for v in vs)}]" for k, vs in CUSTOM.items()]
    cfg_file.write_text("\n".join(lines) + "\n")
    cfg = load_config(cfg_file)
    data = load_shop(tx, renamed(ev, CUSTOM), inputs=cfg.inputs)
    assert data.report.tables["events"].unknown_event_types == 0
    assert_same_features(shop_features(data, as_of=AS_OF), canonical)


def test_a_custom_mapping_on_top_of_a_preset_wins(shop):
    tx, ev = shop
    cfg = load_config(
        None,
        **{"inputs.events.vocabulary": "ga4", "inputs.events.event_types": {"checkout": "add_payment_info"}},
    )
    events = ev.head(3).assign(event_type=["view_item", "add_payment_info", "scroll"])
    data = load_shop(tx, events, inputs=cfg.inputs)
    assert data.frame("events")["event_type"].tolist() == ["product_view", "checkout", "page_view"]


def test_unknown_event_names_are_listed_with_counts(cli, tmp_path):
    tx = tmp_path / "tx.csv"
    tx.write_text("customer_id,timestamp,amount\n1,2024-01-01,3\n")
    ev = tmp_path / "ev.csv"
    rows = ["view"] * 5 + ["cart"] * 3 + ["View"] + ["purchase"] * 2 + [" remove_from_cart "] + ["wishlist"]
    ev.write_text(
        "customer_id,timestamp,event_type\n"
        + "".join(f"1,2024-01-01 00:{i:02d},{r}\n" for i, r in enumerate(rows))
    )
    result = cli("validate", "--transactions", tx, "--events", ev)
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("events:"))
    assert line.endswith(
        "10 unknown event types counted as page_view (most frequent: 'view' 6, 'cart' 3, 'wishlist' 1; "
        "map them under inputs.events.event_types)"
    )
    data = load_shop(tx, ev)
    assert data.report.tables["events"].unknown_event_names == {"view": 6, "cart": 3, "wishlist": 1}
    assert "2 purchase" not in line  # known names are not listed


def test_only_the_most_frequent_unknown_names_are_listed(tmp_path):
    events = pd.DataFrame(
        {
            "customer_id": "1",
            "timestamp": pd.date_range("2024-01-01", periods=60, freq="min"),
            "event_type": [f"e{i % 15:02d}" for i in range(45)] + ["e00"] * 15,
        }
    )
    tx = pd.DataFrame({"customer_id": ["1"], "timestamp": ["2024-01-01"], "amount": [1.0]})
    names = load_shop(tx, events).report.tables["events"].unknown_event_names
    assert list(names) == ["e00", *[f"e{i:02d}" for i in range(1, 10)]]
    assert names["e00"] == 18 and names["e01"] == 3


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"inputs.events.vocabulary": "adobe"}, "inputs.events.vocabulary"),
        ({"inputs.events.event_types": {"basket": ["cart"]}}, "unknown event type 'basket'"),
        ({"inputs.events.event_types": {"add_to_cart": ["cart"], "checkout": ["Cart"]}}, "mapped to both"),
    ],
)
def test_bad_mappings_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, **override)


REES46 = (
    "event_time,event_type,product_id,price,user_id,user_session\n"
    "2019-10-01 00:00:00 UTC,view,44600062,35.79,541312140,s1\n"
    "2019-10-01 00:01:00 UTC,cart,44600062,35.79,541312140,s1\n"
    "2019-10-01 00:02:00 UTC,purchase,44600062,35.79,541312140,s1\n"
    "2019-10-01 00:02:00 UTC,purchase,3900821,10.00,541312140,s1\n"  # the same order (session s1)
    "2019-10-05 10:00:00 UTC,purchase,3900821,10.00,541312140,s9\n"
    "2019-10-02 09:00:00 UTC,view,17200506,543.10,554748717,s2\n"
    "2019-10-02 09:05:00 UTC,purchase,17200506,,554748717,s2\n"  # no price: set aside
    "2019-10-03 12:00:00 UTC,purchase,1307067,251.74,550050854,s3\n"
)


def test_transactions_derived_from_a_clickstream_export(cli, tmp_path):
    """A shop with only a clickstream export: its purchase events, with their price, are the transactions."""
    ev = tmp_path / "events.csv"
    ev.write_text(REES46)
    cfg = tmp_path / "shop.yaml"
    cfg.write_text(
        "inputs:\n"
        "  transactions:\n"
        "    from_events: {amount: price, order_id: user_session}\n"
        "  events:\n"
        "    columns: {customer_id: user_id, timestamp: event_time}\n"
        "    event_types: {product_view: [view], add_to_cart: [cart]}\n"
    )
    out = tmp_path / "rejected"
    result = cli("validate", "--events", ev, "--config", cfg, "--rejected-dir", out)
    assert result.exit_code == 0, result.stderr
    assert (
        f"transactions: 4 rows loaded from {ev} (its purchase events); 1 rows set aside (1 missing amount)"
        in (result.stdout)
    )
    assert f"events: 8 rows loaded from {ev}; 0 rows set aside" in result.stdout
    with open(out / "transactions_rejected.csv", newline="") as fh:
        import csv

        rows = list(csv.DictReader(fh))
    assert [(r["source_row"], r["reason"], r["user_id"]) for r in rows] == [
        ("7", "missing amount", "554748717")
    ]

    data = load_shop(None, ev, inputs=load_config(cfg).inputs)
    tx = data.frame("transactions")
    per_customer = tx.groupby("customer_id")["amount"].sum().round(2).to_dict()
    assert per_customer == {"541312140": 55.79, "550050854": 251.74}
    assert sorted(tx["order_id"].unique()) == ["s1", "s3", "s9"]
    assert data.frame("events")["event_type"].value_counts().to_dict() == {
        "purchase": 5,
        "product_view": 2,
        "add_to_cart": 1,
    }


def test_deriving_transactions_needs_purchase_events(tmp_path):
    from churnkit.errors import InputError

    ev = tmp_path / "events.csv"
    ev.write_text("customer_id,timestamp,event_type,price\n1,2024-01-01,view,3\n")
    cfg = load_config(None, **{"inputs.transactions.from_events": {"amount": "price"}})
    with pytest.raises(InputError, match="no purchase events to derive transactions from"):
        load_shop(None, ev, inputs=cfg.inputs)
    with pytest.raises(InputError, match="no transactions given"):
        load_shop(None, ev)


def test_the_spark_engine_says_it_cannot_derive_transactions_yet(tmp_path):
    from churnkit.engines.spark import load_shop_spark

    ev = tmp_path / "events.csv"
    ev.write_text(REES46)
    cfg = load_config(None, **{"inputs.transactions.from_events": {"amount": "price"}})
    with pytest.raises(ConfigError, match="from_events is DuckDB-only"):
        load_shop_spark(None, ev, inputs=cfg.inputs)
