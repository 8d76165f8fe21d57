"""Small seeded feature tables for the segment tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

BROWSING = (
    "sessions_90d",
    "product_views_90d",
    "add_to_carts_90d",
    "cart_abandonment_rate",
    "days_since_last_visit",
    "browse_to_buy",
)


def make_features(n_per_group: int = 60, seed: int = 7) -> pd.DataFrame:
    """Four archetypes: high-value loyal, browsers who rarely buy, lapsed one-timers, recent newcomers."""
    rng = np.random.default_rng(seed)
    groups = {
        # orders, spend per order, days since purchase, T, sessions, views per session
        "loyal": (12, 120.0, 10, 700, 20, 6),
        "browsers": (1, 40.0, 120, 300, 30, 10),
        "lapsed": (1, 30.0, 500, 600, 0, 0),
        "newcomers": (2, 50.0, 15, 40, 4, 3),
    }
    frames = []
    for name, (orders, aov, days, tenure, sessions, views) in groups.items():
        n = n_per_group
        o = np.maximum(1, rng.poisson(orders, n))
        spend = o * aov * rng.lognormal(0, 0.3, n)
        d = np.maximum(1, rng.normal(days, days * 0.2 + 1, n)).round()
        t = np.maximum(d, rng.normal(tenure, tenure * 0.1, n)).round()
        s = rng.poisson(sessions, n)
        v = rng.poisson(views * np.maximum(s, 0.1))
        atc = rng.binomial(v, 0.2)
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": [f"{name}-{i:03d}" for i in range(n)],
                    "orders": o,
                    "total_spend": spend.round(2),
                    "days_since_last_purchase": d,
                    "T": t,
                    "orders_90d": np.where(d < 90, np.maximum(1, o // 4), 0),
                    "revenue_90d": np.where(d < 90, spend / 4, 0.0).round(2),
                    "sessions_90d": s,
                    "product_views_90d": v,
                    "add_to_carts_90d": atc,
                    # rates are undefined (NaN) without carts / views
                    "cart_abandonment_rate": np.where(atc > 0, rng.uniform(0.2, 0.9, n), np.nan),
                    "days_since_last_visit": np.where(s > 0, rng.integers(1, 60, n), np.nan),
                    "browse_to_buy": np.where(v > 0, o / np.maximum(v, 1), np.nan),
                    "archetype": name,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def browsing() -> tuple[str, ...]:
    return BROWSING


@pytest.fixture(scope="session")
def features() -> pd.DataFrame:
    return make_features()


@pytest.fixture(scope="session")
def fitted(features):
    from churnkit.segments import BehaviourClusters

    churned = features["archetype"].isin(["lapsed", "browsers"])
    return BehaviourClusters(k_range=(3, 6)).fit(features, churned=churned)
