"""`SampleShop` and `generate_shop`: the seeded latent process, from traits to the four tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnkit.datasets.sample_shop.browsing import (
    background_sessions,
    collect_sessions,
    prospect_sessions,
    session_events,
)
from churnkit.datasets.sample_shop.calendar import acquisition_times, calendar, check_args
from churnkit.datasets.sample_shop.params import (
    ACQ_CHANNELS,
    ACQ_LOGIT,
    ACQ_P_EFFECT,
    CHANNEL_P,
    COUNTRIES,
    COUNTRY_P,
    DAY,
    LOOKAHEAD_DAYS,
    PARAMS,
)
from churnkit.datasets.sample_shop.purchases import make_orders, simulate_purchases
from churnkit.datasets.sample_shop.tables import (
    events_frame,
    format_ids,
    frame,
    take,
    timestamps,
    transactions_frame,
    truth_frame,
)

__all__ = ["SampleShop", "generate_shop"]


@dataclass
class SampleShop:
    """The four tables of a generated shop plus the parameters of its latent process.

    ``truth`` has one row per customer id with the latent state (purchase rate per day, dropout
    probability, dropout date or NaT if the customer is still alive at the end, mean spend, ...);
    it exists for tests and teaching and is never an input to the pipeline.
    """

    transactions: pd.DataFrame
    events: pd.DataFrame
    customers: pd.DataFrame
    truth: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def generate_shop(
    n_customers: int = 5000, *, seed: int = 0, start: str = "2023-01-01", end: str = "2025-12-31"
) -> SampleShop:
    """Generate a seeded sample shop with ``n_customers`` buyers between ``start`` and ``end`` (inclusive).

    ``n_customers`` counts customers with at least one purchase in the period; about 6% browsing-only
    prospects and a handful of inactive accounts come on top. Timestamps are naive UTC.
    """
    n_buyers, day0, n_days = check_args(n_customers, start, end)
    streams = iter(np.random.SeedSequence(seed).spawn(12))

    def rng() -> np.random.Generator:
        return np.random.default_rng(next(streams))

    horizon = n_days + LOOKAHEAD_DAYS
    buy_cal, browse_cal = calendar(day0, horizon, n_days)

    # --- buyers: latent traits, acquisition, purchases -------------------------------------------
    g = rng()
    lam = np.minimum(g.gamma(PARAMS["r"], 1.0 / PARAMS["alpha"], n_buyers), PARAMS["lambda_max"])
    p_drop = g.beta(PARAMS["a"], PARAMS["b"], n_buyers)
    nu = g.gamma(PARAMS["q"], 1.0 / PARAMS["v"], n_buyers)
    vip = g.random(n_buyers) < PARAMS["vip_share"]
    mean_spend = PARAMS["p"] / nu * np.where(vip, PARAMS["vip_factor"], 1.0)
    t0 = acquisition_times(rng(), n_buyers, buy_cal[:n_days])
    pur_cust, pur_t, tau = simulate_purchases(rng(), t0, lam, p_drop, buy_cal, horizon)
    keep = pur_t < n_days
    pur_cust, pur_t = pur_cust[keep], pur_t[keep]

    g = rng()
    pref_channel = g.choice(3, n_buyers, p=CHANNEL_P)
    online_channel = np.where(pref_channel == 2, (g.random(n_buyers) < 0.3).astype(np.int64), pref_channel)
    web_device = g.choice(3, n_buyers, p=[0.5, 0.4, 0.1])
    pre_visit = np.minimum(g.exponential(15.0, n_buyers), t0)  # first visit this many days before t0
    signup = np.where(g.random(n_buyers) < 0.45, t0 - pre_visit, t0)
    # Browsing propensity: heterogeneous, mildly tied to the purchase rate, low for store shoppers.
    browse = (
        PARAMS["browse_rate"]
        * g.gamma(2.0, 0.5, n_buyers)
        * (lam * PARAMS["alpha"] / PARAMS["r"]) ** PARAMS["browse_lambda_power"]
        * np.where(pref_channel == 2, PARAMS["store_browse_factor"], 1.0)
    )
    decay_days = g.uniform(PARAMS["decay_min_days"], PARAMS["decay_max_days"], n_buyers)
    residual = np.where(g.random(n_buyers) < PARAMS["residual_share"], PARAMS["residual_level"], 0.0)

    orders = make_orders(rng(), pur_cust, pur_t, pref_channel, mean_spend, day0, n_days)

    # --- prospects and inactive accounts ----------------------------------------------------------
    n_prospects = max(1, round(PARAMS["prospect_share"] * n_buyers))
    n_inactive = max(1, round(PARAMS["inactive_share"] * n_buyers))
    g = rng()
    pros_first = acquisition_times(g, n_prospects, browse_cal[:n_days])
    inactive_signup = acquisition_times(g, n_inactive, buy_cal[:n_days])
    n_total = n_buyers + n_prospects + n_inactive

    # --- sessions -----------------------------------------------------------------------------------
    g = rng()
    bg = background_sessions(
        g, t0 - pre_visit, tau, browse, decay_days, residual, browse_cal, n_days, PARAMS["decay_floor"]
    )
    pros = prospect_sessions(g, pros_first, n_buyers, n_days)
    sessions = collect_sessions(rng(), orders, bg, pros, online_channel, web_device, n_buyers, n_total)
    events = session_events(rng(), sessions, orders)

    # --- ids and tables ----------------------------------------------------------------------------
    signup_all = np.concatenate([signup, pros_first, inactive_signup])
    rank = np.empty(n_total, dtype=np.int64)
    rank[np.lexsort((np.arange(n_total), signup_all))] = np.arange(n_total)
    width = max(6, len(str(n_total)))
    cust_ids = format_ids("C", rank + 1, width)

    g = rng()
    country = g.choice(len(COUNTRIES), n_total, p=COUNTRY_P)
    z_p = np.concatenate([(p_drop - p_drop.mean()) / max(p_drop.std(), 1e-9), np.zeros(n_total - n_buyers)])
    logits = ACQ_LOGIT[None, :] + z_p[:, None] * ACQ_P_EFFECT[None, :]
    acq = np.argmax(logits + g.gumbel(size=logits.shape), axis=1)

    transactions = transactions_frame(orders, cust_ids, day0)
    events_df = events_frame(events, sessions, cust_ids, day0, n_days * DAY)
    del events, sessions
    signup_day = np.floor(signup_all).astype(np.int64)
    customers = frame(
        {
            "customer_id": cust_ids,
            "signup_date": timestamps(signup_day * DAY, day0),
            "country": take(COUNTRIES, country),
            "acquisition_channel": take(ACQ_CHANNELS, acq),
        },
        order=np.argsort(rank),
    )
    truth = truth_frame(
        cust_ids=cust_ids,
        rank=rank,
        n_buyers=n_buyers,
        n_prospects=n_prospects,
        day0=day0,
        n_days=n_days,
        lam=lam,
        p_drop=p_drop,
        tau=tau,
        mean_spend=mean_spend,
        vip=vip,
        browse=browse,
        decay_days=decay_days,
        pref_channel=pref_channel,
        pur_t=orders["ts"],
        order_cust=orders["cust"],
    )
    params = {
        **PARAMS,
        "seed": seed,
        "start": str(day0),
        "end": str(day0 + np.timedelta64(n_days - 1, "D")),
        "n_customers": n_buyers,
        "n_prospects": n_prospects,
        "n_inactive": n_inactive,
    }
    return SampleShop(transactions, events_df, customers, truth, params)
