"""Property: every word of a fitted cluster's name agrees with its members' statistics in the profile.

Checked on the sample shop and on a skewed synthetic base (most customers lapsed one-timers, a small group of
heavy spenders who stopped buying a year ago): a cluster called "high-spend frequent buyers" must have above-base
mean spend and orders, and lapsed high spenders are called lapsed.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from churnkit.data.load import ShopData
from churnkit.datasets.sample_shop import generate_shop
from churnkit.features import shop_features
from churnkit.segments import BehaviourClusters
from churnkit.segments.cluster_names import LAPSED_DAYS, RECENT_DAYS

# name word → (feature column, +1: the cluster mean is above the base mean, -1: below)
WORDS = {
    "high-spend": ("total_spend", +1),
    "low-spend": ("total_spend", -1),
    "frequent buyers": ("orders", +1),
    "rare buyers": ("orders", -1),
    "lapsed": ("days_since_last_purchase", +1),
    "recent": ("days_since_last_purchase", -1),
    "long-standing": ("T", +1),
    "new": ("T", -1),
    "frequent browsers": ("sessions_90d", +1),
    "rare browsers": ("sessions_90d", -1),
    "dormant": ("days_since_last_visit", +1),
    "active": ("days_since_last_visit", -1),
}


def _check_names(features: pd.DataFrame, clusters: BehaviourClusters) -> int:
    """Assert every named trait against plain means of the features; return how many traits were checked."""
    labels = clusters.predict(features)["cluster"].to_numpy()
    checked = 0
    for cid, name in clusters.names_.items():
        members = features[labels == cid]
        stem = name.split(" (")[0]  # a comparative suffix compares two clusters, not the base
        for word, (col, side) in WORDS.items():
            if col not in features.columns or not re.search(rf"(^|[\s,]){re.escape(word)}\b", stem):
                continue
            if word == "new" and "new customers" not in stem and not stem.startswith("new "):
                continue
            base, mean, median = features[col].mean(), members[col].mean(), members[col].median()
            if word == "lapsed":  # above the base, or a median of half a year or more
                assert mean > base or median >= LAPSED_DAYS, (name, mean, base, median)
            elif word == "recent":  # below the base and a median of at most 90 days
                assert mean < base and median <= RECENT_DAYS, (name, mean, base, median)
            else:
                assert np.sign(mean - base) == side, (name, word, col, mean, base)
            checked += 1
    return checked


@pytest.fixture(scope="module")
def sample_features() -> pd.DataFrame:
    shop = generate_shop(1500, seed=5)
    data = ShopData.from_frames(shop.transactions, shop.events, shop.customers)
    return shop_features(data, as_of="2026-01-01")


def test_names_agree_with_stats_on_the_sample_shop(sample_features):
    clusters = BehaviourClusters(k_range=(3, 6)).fit(sample_features)
    assert _check_names(sample_features, clusters) >= 2
    # a name with "high-spend frequent buyers" has both above the base (and the same for any fixed k)
    for k in (5,):
        _check_names(sample_features, BehaviourClusters(n_clusters=k).fit(sample_features))


def _skewed_base(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = {
        # n, orders, spend per order, days since last purchase, age T
        "lapsed one-timers": (1600, 1, 30.0, 500, 600),
        "lapsed heavy spenders": (150, 10, 90.0, 380, 900),
        "recent regulars": (200, 6, 60.0, 20, 500),
        "newcomers": (250, 1, 40.0, 15, 25),
    }
    frames = []
    for name, (n, orders, aov, days, age) in groups.items():
        o = np.maximum(1, rng.poisson(orders, n))
        d = np.maximum(1, rng.normal(days, days * 0.15 + 1, n)).round()
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": [f"{name}-{i}" for i in range(n)],
                    "orders": o,
                    "total_spend": (o * aov * rng.lognormal(0, 0.3, n)).round(2),
                    "days_since_last_purchase": d,
                    "T": np.maximum(d, rng.normal(age, age * 0.1, n)).round(),
                    "orders_90d": np.where(d < 90, np.maximum(1, o // 4), 0),
                    "revenue_90d": np.where(d < 90, o * aov / 4, 0.0),
                    "group": name,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("k", [None, 4, 5])
def test_names_agree_with_stats_on_a_skewed_base(k):
    features = _skewed_base()
    clusters = BehaviourClusters(n_clusters=k, k_range=(3, 6)).fit(features)
    assert _check_names(features, clusters) >= 3
    names = clusters.predict(features).groupby(features["group"])["segment"].agg(lambda s: s.mode()[0])
    # the heavy spenders who stopped buying a year ago are never "recent" (their mean of 380 days is below
    # the base's 393); with a cluster of their own they are "lapsed"
    assert "recent" not in names["lapsed heavy spenders"], names.to_dict()
    if k is not None:
        assert "lapsed" in names["lapsed heavy spenders"] and "high-spend" in names["lapsed heavy spenders"]
    assert names["recent regulars"].startswith("recent high-spend frequent buyers"), names.to_dict()
