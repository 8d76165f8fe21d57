"""The next days after a scores file (monitoring: evaluate, evaluate-campaign): `simulate_future`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnkit.datasets.sample_shop.params import DAY, N_PRODUCTS, PARAMS
from churnkit.datasets.sample_shop.shop import SampleShop
from churnkit.errors import ConfigError

__all__ = ["simulate_future"]


def simulate_future(
    shop: SampleShop,
    scores: pd.DataFrame,
    *,
    days: int = 90,
    campaign_effect: float = 0.02,
    seed: int = 0,
) -> SampleShop:
    """The shop with ``days`` more days of purchases after its end, and a campaign on the scores' target group.

    ``scores`` is a `churnkit score` output made at the day after the shop's end (its ``as_of``). Every buyer
    still alive at the end (``truth.dropout_date`` missing) continues the latent process: purchases as a
    Poisson process with their rate, dropping out after each purchase with their probability (no calendar
    seasonality in the continuation); order values ~ Gamma(p, mean_spend / p), one line per order, no returns.
    The campaign: when the scores have a ``group`` column, each ``target`` customer without a purchase in the
    window gets one with probability ``campaign_effect / s`` (s = the share of target customers without one),
    so the target group's retention rises by ``campaign_effect`` (absolute) over what it would have been;
    ``control`` customers and customers not in the file are untouched. Events and customers stay as they were.
    ``params`` gains ``future_days``, ``campaign_effect`` and ``campaign_purchases`` (customers converted).
    """
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 1:
        raise ConfigError(f"days must be a positive whole number, got {days!r}.")
    if not 0 <= campaign_effect < 1:
        raise ConfigError(f"campaign_effect must be in [0, 1), got {campaign_effect!r}.")
    end = pd.Timestamp(shop.params["end"]).date()
    as_of = pd.to_datetime(scores["as_of"].astype(str)).dt.date.unique()
    if len(as_of) != 1 or as_of[0] != end + pd.Timedelta(days=1):
        raise ConfigError(
            f"the scores must be made at the day after the shop's end ({end}), got as_of {list(as_of)}."
        )
    g = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    truth = shop.truth[shop.truth["kind"] == "buyer"].reset_index(drop=True)
    alive = np.flatnonzero(truth["dropout_date"].isna().to_numpy())
    lam = truth["purchase_rate"].to_numpy(dtype=float)
    p_drop = truth["dropout_prob"].to_numpy(dtype=float)
    cust_parts, time_parts = [], []
    act, t = alive, np.zeros(alive.size)
    while act.size:
        t = t + g.exponential(1.0, act.size) / lam[act]
        inside = t < days
        act, t = act[inside], t[inside]
        cust_parts.append(act)
        time_parts.append(t)
        stay = g.random(act.size) >= p_drop[act]
        act, t = act[stay], t[stay]
    cust = np.concatenate(cust_parts) if cust_parts else np.array([], dtype=np.int64)
    times = np.concatenate(time_parts) if time_parts else np.array([])
    order = np.argsort(times, kind="stable")
    cust, times = cust[order], times[order]
    spend = truth["mean_spend"].to_numpy(dtype=float)
    amount = g.gamma(
        PARAMS["p"], spend[cust] / PARAMS["p"]
    )  # drawn before the campaign: same with or without
    product = g.integers(1, N_PRODUCTS + 1, cust.size)

    won = np.array([], dtype=np.int64)
    if "group" in scores.columns and campaign_effect > 0:
        # the campaign's draws come from their own stream: the purchases above are the same with or without it
        c = np.random.default_rng(np.random.SeedSequence([seed, 17, 1]))
        target_ids = set(scores.loc[scores["group"].astype(str) == "target", "customer_id"].astype(str))
        is_target = truth["customer_id"].astype(str).isin(target_ids).to_numpy()
        bought = np.zeros(len(truth), dtype=bool)
        bought[cust] = True
        candidates = np.flatnonzero(is_target & ~bought)
        share = candidates.size / max(int(is_target.sum()), 1)
        if candidates.size:
            won = candidates[c.random(candidates.size) < min(1.0, campaign_effect / share)]
            cust = np.concatenate([cust, won])
            times = np.concatenate([times, c.uniform(0, days, won.size)])
            amount = np.concatenate([amount, c.gamma(PARAMS["p"], spend[won] / PARAMS["p"])])
            product = np.concatenate([product, c.integers(1, N_PRODUCTS + 1, won.size)])
    converted = int(won.size)

    day0 = np.datetime64(end + pd.Timedelta(days=1), "D")
    width = max(7, len(str(cust.size)))
    future = pd.DataFrame(
        {
            "customer_id": truth["customer_id"].astype(str).to_numpy()[cust],
            "order_id": [f"F{i:0{width}d}" for i in range(1, cust.size + 1)],
            "timestamp": (
                day0.astype("datetime64[s]") + np.floor(times * DAY).astype("timedelta64[s]")
            ).astype("datetime64[us]"),
            "amount": np.maximum(np.round(amount, 2), 0.01),
            "quantity": np.ones(cust.size, dtype=np.int64),
            "channel": truth["preferred_channel"].astype(str).to_numpy()[cust],
            "product_id": [f"P{k:05d}" for k in product],
        }
    ).astype(shop.transactions.dtypes.to_dict())
    future = future.iloc[np.argsort(times, kind="stable")]
    transactions = pd.concat([shop.transactions, future], ignore_index=True)
    params = {
        **shop.params,
        "end": str(end + pd.Timedelta(days=days)),
        "future_days": int(days),
        "campaign_effect": float(campaign_effect),
        "campaign_purchases": converted,
    }
    return SampleShop(transactions, shop.events, shop.customers, shop.truth, params)
