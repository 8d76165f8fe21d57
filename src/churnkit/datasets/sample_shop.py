"""Synthetic sample shop: a seeded non-contractual retailer for the demo, the docs and model tests.

The shop is generated from a latent process whose ground truth is returned beside the data, so tests
can check that models recover what was put in:

* **Acquisition**: first purchases spread over the period, growing over time, with a marketing campaign
  and the same calendar seasonality as purchases.
* **Purchases** (MBG/NBD-like, Batislam et al. 2007): while alive a customer buys as a Poisson process
  with rate ``lambda ~ Gamma(r, alpha)``; after every purchase (including the first) they drop out with
  probability ``p ~ Beta(a, b)``. Weekday and yearly seasonality (a November-December peak) are added by
  thinning, normalised so the mean rate stays ``lambda``. The latent dropout date falls inside the
  would-be next inter-purchase gap.
* **Spend** (Gamma-Gamma-like, Fader, Hardie & Lee 2005): order value ``z ~ Gamma(p, nu)`` with
  ``nu ~ Gamma(q, v)`` per customer, a few high-value customers, split into 1-4 order lines priced
  from a product catalogue; ~4% of orders get a return a few days later (negative rows).
* **Browsing**: a session before every online order (page_view -> product_view -> add_to_cart ->
  checkout -> purchase, the purchase event at the order's timestamp), research sessions in the days
  before some orders, and background visits while alive whose rate decays over the 60-120 days before
  the dropout date while cart abandonment and checkout drop-off rise; after dropout a minority keeps a
  fading residual. A few prospects only browse; a handful of accounts never do anything.

Everything is vectorised numpy (loops only over a few steps or over purchase rounds), seeded through
one ``numpy.random.SeedSequence``, so the same seed gives identical frames and byte-identical files.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from churnkit.data.schema import EVENT_TYPES
from churnkit.errors import ConfigError

__all__ = ["SampleShop", "generate_shop", "simulate_future", "write_shop"]

_DAY = 86_400  # seconds

# ---- latent process parameters (time unit: days) -------------------------------------------------
_PARAMS: dict[str, float] = {
    "r": 0.8,  # purchase rate lambda ~ Gamma(shape r, rate alpha), per day
    "alpha": 32.0,
    "a": 0.8,  # dropout probability p ~ Beta(a, b), after every purchase
    "b": 0.8,
    "p": 5.0,  # order value z ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate v) (lifetimes' names)
    "q": 3.5,
    "v": 30.0,
    "lambda_max": 0.25,  # cap on the purchase rate: at most one order every four days on average
    "vip_share": 0.01,  # high-value customers whose spend is multiplied by vip_factor
    "vip_factor": 4.0,
    "return_share": 0.04,  # orders followed by a return
    "browse_rate": 0.06,  # mean background sessions per day while alive (before channel adjustments)
    "browse_lambda_power": 0.5,  # browsing rises with the purchase rate: rate ~ (lambda / mean) ** power
    "research_share": 0.5,  # online orders preceded by a research session ...
    "research_days": 10.0,  # ... up to this many days before
    "store_browse_factor": 0.35,  # store shoppers browse online this much less
    "decay_min_days": 60.0,  # background visits decay over U(min, max) days before dropout ...
    "decay_max_days": 120.0,
    "decay_floor": 0.1,  # ... down to this fraction of the normal rate
    "residual_share": 0.2,  # share of dropped-out customers who keep visiting a little
    "residual_level": 0.15,  # their visit rate right after dropout, fading with residual_days
    "residual_days": 90.0,
    "prospect_share": 0.06,  # browsing-only visitors, relative to n_customers
    "inactive_share": 0.004,  # accounts with no activity at all
}
_LOOKAHEAD_DAYS = 180  # simulate past the end so dropouts just after it already foreshadow in browsing

_CHANNELS = ("web", "app", "store")
_CHANNEL_P = np.array([0.55, 0.27, 0.18])
_DEVICES = ("desktop", "mobile", "tablet")
_COUNTRIES = ("DE", "FR", "GB", "NL", "ES", "IT", "BE")
_COUNTRY_P = np.array([0.30, 0.17, 0.15, 0.12, 0.10, 0.10, 0.06])
_ACQ_CHANNELS = ("organic_search", "paid_search", "social", "email", "referral", "direct")
_ACQ_LOGIT = np.log(np.array([0.28, 0.22, 0.16, 0.10, 0.09, 0.15]))
_ACQ_P_EFFECT = np.array([0.0, 0.35, 0.8, -0.6, -0.4, -0.2])  # logit shift per sd of p: social churns more
_N_PRODUCTS = 1200

# Calendar (Monday first). Purchases dip on Friday and Saturday, peak on Sunday and Monday.
_WEEKDAY_BUY = np.array([1.10, 1.04, 1.00, 1.00, 0.90, 0.78, 1.18])
_MONTH_BUY = np.array([0.95, 0.85, 0.95, 0.95, 0.95, 0.90, 0.85, 0.85, 0.95, 1.00, 1.25, 1.30])
_WEEKDAY_BROWSE = np.array([1.06, 1.02, 1.00, 1.00, 0.94, 0.90, 1.08])
# Time of day: hourly weights for online activity and for store opening hours.
_HOURS_ONLINE = np.concatenate(
    [
        [0.40, 0.25, 0.15, 0.10, 0.10, 0.15, 0.35, 0.60, 0.80, 0.90, 1.00, 1.10],
        [1.20, 1.15, 1.05, 1.00, 1.00, 1.05, 1.20, 1.45, 1.60, 1.50, 1.10, 0.70],
    ]
)
_HOURS_STORE = np.array([1e-9] * 9 + [0.6, 0.9, 1.1, 1.2, 1.0, 0.9, 1.0, 1.2, 1.3, 1.1, 0.7] + [1e-9] * 4)

# Session stages in the order they happen; index into EVENT_TYPES.
_STAGES = ("page_view", "search", "product_view", "add_to_cart", "remove_from_cart", "checkout", "purchase")
_STAGE_TYPE = np.array([EVENT_TYPES.index(s) for s in _STAGES], dtype=np.int8)
_PV, _SEARCH, _VIEW, _CART, _REMOVE, _CHECKOUT, _PURCHASE = range(7)


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
    n_buyers, day0, n_days = _check_args(n_customers, start, end)
    streams = iter(np.random.SeedSequence(seed).spawn(12))

    def rng() -> np.random.Generator:
        return np.random.default_rng(next(streams))

    horizon = n_days + _LOOKAHEAD_DAYS
    buy_cal, browse_cal = _calendar(day0, horizon, n_days)

    # --- buyers: latent traits, acquisition, purchases -------------------------------------------
    g = rng()
    lam = np.minimum(g.gamma(_PARAMS["r"], 1.0 / _PARAMS["alpha"], n_buyers), _PARAMS["lambda_max"])
    p_drop = g.beta(_PARAMS["a"], _PARAMS["b"], n_buyers)
    nu = g.gamma(_PARAMS["q"], 1.0 / _PARAMS["v"], n_buyers)
    vip = g.random(n_buyers) < _PARAMS["vip_share"]
    mean_spend = _PARAMS["p"] / nu * np.where(vip, _PARAMS["vip_factor"], 1.0)
    t0 = _acquisition_times(rng(), n_buyers, buy_cal[:n_days])
    pur_cust, pur_t, tau = _simulate_purchases(rng(), t0, lam, p_drop, buy_cal, horizon)
    keep = pur_t < n_days
    pur_cust, pur_t = pur_cust[keep], pur_t[keep]

    g = rng()
    pref_channel = g.choice(3, n_buyers, p=_CHANNEL_P)
    online_channel = np.where(pref_channel == 2, (g.random(n_buyers) < 0.3).astype(np.int64), pref_channel)
    web_device = g.choice(3, n_buyers, p=[0.5, 0.4, 0.1])
    pre_visit = np.minimum(g.exponential(15.0, n_buyers), t0)  # first visit this many days before t0
    signup = np.where(g.random(n_buyers) < 0.45, t0 - pre_visit, t0)
    # Browsing propensity: heterogeneous, mildly tied to the purchase rate, low for store shoppers.
    browse = (
        _PARAMS["browse_rate"]
        * g.gamma(2.0, 0.5, n_buyers)
        * (lam * _PARAMS["alpha"] / _PARAMS["r"]) ** _PARAMS["browse_lambda_power"]
        * np.where(pref_channel == 2, _PARAMS["store_browse_factor"], 1.0)
    )
    decay_days = g.uniform(_PARAMS["decay_min_days"], _PARAMS["decay_max_days"], n_buyers)
    residual = np.where(g.random(n_buyers) < _PARAMS["residual_share"], _PARAMS["residual_level"], 0.0)

    orders = _orders(rng(), pur_cust, pur_t, pref_channel, mean_spend, day0, n_days)

    # --- prospects and inactive accounts ----------------------------------------------------------
    n_prospects = max(1, round(_PARAMS["prospect_share"] * n_buyers))
    n_inactive = max(1, round(_PARAMS["inactive_share"] * n_buyers))
    g = rng()
    pros_first = _acquisition_times(g, n_prospects, browse_cal[:n_days])
    inactive_signup = _acquisition_times(g, n_inactive, buy_cal[:n_days])
    n_total = n_buyers + n_prospects + n_inactive

    # --- sessions -----------------------------------------------------------------------------------
    g = rng()
    bg = _background_sessions(
        g, t0 - pre_visit, tau, browse, decay_days, residual, browse_cal, n_days, _PARAMS["decay_floor"]
    )
    pros = _prospect_sessions(g, pros_first, n_buyers, n_days)
    sessions = _collect_sessions(rng(), orders, bg, pros, online_channel, web_device, n_buyers, n_total)
    events = _session_events(rng(), sessions, orders)

    # --- ids and tables ----------------------------------------------------------------------------
    signup_all = np.concatenate([signup, pros_first, inactive_signup])
    rank = np.empty(n_total, dtype=np.int64)
    rank[np.lexsort((np.arange(n_total), signup_all))] = np.arange(n_total)
    width = max(6, len(str(n_total)))
    cust_ids = _format_ids("C", rank + 1, width)

    g = rng()
    country = g.choice(len(_COUNTRIES), n_total, p=_COUNTRY_P)
    z_p = np.concatenate([(p_drop - p_drop.mean()) / max(p_drop.std(), 1e-9), np.zeros(n_total - n_buyers)])
    logits = _ACQ_LOGIT[None, :] + z_p[:, None] * _ACQ_P_EFFECT[None, :]
    acq = np.argmax(logits + g.gumbel(size=logits.shape), axis=1)

    transactions = _transactions_frame(orders, cust_ids, day0)
    events_df = _events_frame(events, sessions, cust_ids, day0, n_days * _DAY)
    del events, sessions
    signup_day = np.floor(signup_all).astype(np.int64)
    customers = _frame(
        {
            "customer_id": cust_ids,
            "signup_date": _timestamps(signup_day * _DAY, day0),
            "country": _take(_COUNTRIES, country),
            "acquisition_channel": _take(_ACQ_CHANNELS, acq),
        },
        order=np.argsort(rank),
    )
    truth = _truth_frame(
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
        **_PARAMS,
        "seed": seed,
        "start": str(day0),
        "end": str(day0 + np.timedelta64(n_days - 1, "D")),
        "n_customers": n_buyers,
        "n_prospects": n_prospects,
        "n_inactive": n_inactive,
    }
    return SampleShop(transactions, events_df, customers, truth, params)


def write_shop(shop: SampleShop, out_dir: str | Path, *, fmt: str = "csv") -> dict[str, Path]:
    """Write the four tables as ``<table>.csv`` or ``<table>.parquet`` into ``out_dir``; return their paths.

    Files are byte-identical for identical shops: CSV has a plain header, unquoted values,
    ``YYYY-MM-DD HH:MM:SS`` timestamps and ``YYYY-MM-DD`` for signup dates.
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"Unknown output format {fmt!r}: use 'csv' or 'parquet'.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in ("transactions", "events", "customers", "truth"):
        df: pd.DataFrame = getattr(shop, name)
        table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table, path, compression="zstd")
        else:
            _write_csv(table, path)
        paths[name] = path
    return paths


# ==== the next days after a scores file (monitoring: evaluate, evaluate-campaign) ====================


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
        _PARAMS["p"], spend[cust] / _PARAMS["p"]
    )  # drawn before the campaign: same with or without
    product = g.integers(1, _N_PRODUCTS + 1, cust.size)

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
            amount = np.concatenate([amount, c.gamma(_PARAMS["p"], spend[won] / _PARAMS["p"])])
            product = np.concatenate([product, c.integers(1, _N_PRODUCTS + 1, won.size)])
    converted = int(won.size)

    day0 = np.datetime64(end + pd.Timedelta(days=1), "D")
    width = max(7, len(str(cust.size)))
    future = pd.DataFrame(
        {
            "customer_id": truth["customer_id"].astype(str).to_numpy()[cust],
            "order_id": [f"F{i:0{width}d}" for i in range(1, cust.size + 1)],
            "timestamp": (
                day0.astype("datetime64[s]") + np.floor(times * _DAY).astype("timedelta64[s]")
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


# ==== arguments and calendar ===========================================================================


def _check_args(n_customers: int, start: str, end: str) -> tuple[int, np.datetime64, int]:
    """Validate the arguments; return (number of buyers, first day, number of days)."""
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer) or n_customers < 1:
        raise ConfigError(f"n_customers must be a positive integer, got {n_customers!r}.")
    try:
        day0 = np.datetime64(pd.Timestamp(start).date(), "D")
        day_last = np.datetime64(pd.Timestamp(end).date(), "D")
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"start and end must be dates (YYYY-MM-DD), got {start!r} and {end!r}.") from exc
    n_days = int((day_last - day0).astype(np.int64)) + 1
    if n_days < 28:
        raise ConfigError(f"The period {start} to {end} is too short: give at least four weeks.")
    return int(n_customers), day0, n_days


def _calendar(day0: np.datetime64, horizon: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-day intensity multipliers for purchases and for browsing, mean 1 over the period."""
    days = day0 + np.arange(horizon)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    month_start = days.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12
    dom = (days - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    season = _MONTH_BUY[month].copy()
    season[(month == 10) & (dom >= 22)] *= 1.4  # Black Friday / Cyber week
    season[(month == 11) & (dom >= 24) & (dom <= 26)] *= 0.5  # Christmas closed
    season[(month == 11) & (dom >= 27)] *= 0.8
    buy = _WEEKDAY_BUY[weekday] * season
    browse = _WEEKDAY_BROWSE[weekday] * np.sqrt(season)
    return buy / buy[:n_days].mean(), browse / browse[:n_days].mean()


def _acquisition_times(g: np.random.Generator, n: int, cal: np.ndarray) -> np.ndarray:
    """First-activity times (days): growing over the period, one campaign burst, seasonal."""
    n_days = cal.size
    x = np.arange(n_days) / n_days
    trend = 0.5 + 1.0 * x + 1.5 * np.exp(-0.5 * ((x - 0.45) * n_days / 7.0) ** 2)
    w = trend * cal
    day = g.choice(n_days, n, p=w / w.sum())
    return day + g.random(n)


# ==== purchases and orders =============================================================================


def _simulate_purchases(
    g: np.random.Generator, t0: np.ndarray, lam: np.ndarray, p: np.ndarray, cal: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the purchase/dropout process for all customers at once, one candidate purchase per step.

    Returns purchase customer index and time (days, unsorted) and the latent dropout time
    (``inf`` for customers still alive at ``horizon``).
    """
    n = t0.size
    m_max = cal.max()
    cust_parts, time_parts = [np.arange(n)], [t0]
    last = t0.copy()
    dropped = g.random(n) < p
    act = np.flatnonzero(~dropped)
    t = t0[act]
    while act.size:
        t = t + g.exponential(1.0, act.size) / (lam[act] * m_max)
        inside = t < horizon
        act, t = act[inside], t[inside]
        accepted = np.flatnonzero(g.random(act.size) * m_max < cal[t.astype(np.int64)])
        who = act[accepted]
        cust_parts.append(who)
        time_parts.append(t[accepted])
        last[who] = t[accepted]
        drop = g.random(who.size) < p[who]
        dropped[who[drop]] = True
        stay = np.ones(act.size, dtype=bool)
        stay[accepted[drop]] = False
        act, t = act[stay], t[stay]
    # The dropout happens somewhere inside the would-be next gap (capped at half a year).
    next_gap = np.minimum(g.exponential(1.0, n) / lam, 180.0)
    tau = np.where(dropped, last + np.maximum(0.5, g.random(n) * next_gap), np.inf)
    return np.concatenate(cust_parts), np.concatenate(time_parts), tau


def _time_of_day(frac: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Map a uniform fraction of the day monotonically onto seconds following hourly weights."""
    cdf = np.concatenate([[0.0], np.cumsum(hours)]) / hours.sum()
    return np.minimum(np.interp(frac, cdf, np.arange(25) * 3600.0), _DAY - 1).astype(np.int64)


def _orders(
    g: np.random.Generator,
    cust: np.ndarray,
    t: np.ndarray,
    pref_channel: np.ndarray,
    mean_spend: np.ndarray,
    day0: np.datetime64,
    n_days: int,
) -> dict[str, np.ndarray]:
    """Turn purchase times into orders, order lines (product, quantity, price) and returns."""
    # Orders in time order; ids follow that order.
    n = cust.size
    channel = np.where(g.random(n) < 0.8, pref_channel[cust], g.choice(3, n, p=_CHANNEL_P))
    day = np.floor(t).astype(np.int64)
    frac = t - day
    tod = np.where(channel == 2, _time_of_day(frac, _HOURS_STORE), _time_of_day(frac, _HOURS_ONLINE))
    ts = day * _DAY + tod
    order = np.lexsort((cust, ts))
    cust, ts, channel = cust[order], ts[order], channel[order]

    # Lines: 1-4 per order, order value Gamma(p, nu) split by Dirichlet(2) shares.
    n_lines = g.choice(4, n, p=[0.50, 0.27, 0.15, 0.08]) + 1
    value = g.gamma(_PARAMS["p"], mean_spend[cust] / _PARAMS["p"])
    line_order = np.repeat(np.arange(n), n_lines)
    line_start = np.cumsum(n_lines) - n_lines
    share = g.gamma(2.0, 1.0, line_order.size)
    share /= np.bincount(line_order, weights=share, minlength=n)[line_order]
    qty = g.choice(4, line_order.size, p=[0.76, 0.16, 0.06, 0.02]) + 1
    target_unit = np.maximum(value[line_order] * share / qty, 0.5)

    # Catalogue: log-normal prices, product ids unrelated to price; pick the nearest price, jittered.
    price = np.sort(np.exp(g.normal(3.2, 1.0, _N_PRODUCTS)))
    price = np.where(price > 5, np.floor(price) + 0.99, np.round(price, 2))
    product_code = g.permutation(_N_PRODUCTS)
    log_price = np.log(price)
    pos = np.clip(np.searchsorted(log_price, np.log(target_unit)), 1, _N_PRODUCTS - 1)
    nearer_left = np.log(target_unit) - log_price[pos - 1] < log_price[pos] - np.log(target_unit)
    pos = np.clip(pos - nearer_left + g.integers(-2, 3, line_order.size), 0, _N_PRODUCTS - 1)
    line_day = day0 + (ts[line_order] // _DAY).astype("timedelta64[D]")
    month_start = line_day.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12
    dom = (line_day - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    promo = (month == 11) | ((month == 10) & (dom >= 22))
    u = g.random(line_order.size)
    discount = np.where(promo & (u < 0.35), 0.8, np.where(u > 0.95, 0.9, 1.0))
    unit = np.round(price[pos] * discount, 2)
    amount = np.round(qty * unit, 2)

    # Returns: one line of ~4% of orders, part or all of its quantity, 2-3 weeks later at most.
    has_ret = np.flatnonzero(g.random(n) < _PARAMS["return_share"])
    ret_line = line_start[has_ret] + (g.random(has_ret.size) * n_lines[has_ret]).astype(np.int64)
    ret_qty = 1 + (g.random(has_ret.size) * qty[ret_line]).astype(np.int64)
    ret_ts = ts[has_ret] + ((2.0 + g.gamma(2.0, 3.0, has_ret.size)) * _DAY).astype(np.int64)
    ok = ret_ts < n_days * _DAY
    has_ret, ret_line, ret_qty, ret_ts = has_ret[ok], ret_line[ok], ret_qty[ok], ret_ts[ok]

    return {
        "cust": cust,
        "ts": ts,
        "channel": channel,
        "n_lines": n_lines,
        "line_start": line_start,
        "line_order": line_order,
        "line_product": product_code[pos],
        "qty": qty,
        "amount": amount,
        "ret_order": has_ret,
        "ret_line": ret_line,
        "ret_qty": ret_qty,
        "ret_ts": ret_ts,
        "ret_amount": -np.round(ret_qty * unit[ret_line], 2),
    }


# ==== browsing =========================================================================================


def _poisson_times(
    g: np.random.Generator, rate: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate times of homogeneous Poisson processes with ``rate`` on ``[a, b)`` per customer."""
    length = np.maximum(b - a, 0.0)
    count = g.poisson(rate * length)
    who = np.repeat(np.arange(rate.size), count)
    return who, a[who] + g.random(who.size) * length[who]


def _background_sessions(
    g: np.random.Generator,
    first_visit: np.ndarray,
    tau: np.ndarray,
    rate: np.ndarray,
    decay_days: np.ndarray,
    residual: np.ndarray,
    cal: np.ndarray,
    n_days: int,
    floor: float,
) -> dict[str, np.ndarray]:
    """Background visits of buyers by thinning: decaying before dropout, a fading residual after.

    Engagement (1 = normal, 0 = just before dropout or after it) shapes the sessions' content.
    """
    m_max = cal.max()
    # While alive: rate * calendar * decay(t), decay = 1 until tau - decay_days, then down to floor.
    who, t = _poisson_times(g, rate * m_max, first_visit, np.minimum(tau, n_days))
    to_drop = (tau[who] - t) / decay_days[who]
    decay = np.where(to_drop >= 1.0, 1.0, floor + (1.0 - floor) * to_drop)
    keep = g.random(t.size) * m_max < cal[t.astype(np.int64)] * decay
    engagement = np.clip(to_drop, 0.0, 1.0)
    # After dropout: a residual for some customers that fades out.
    tau_in = np.where(np.isfinite(tau), tau, n_days)
    who2, t2 = _poisson_times(g, rate * residual * m_max, tau_in, np.full(tau.size, float(n_days)))
    keep2 = g.random(t2.size) * m_max < cal[t2.astype(np.int64)] * np.exp(
        -(t2 - tau_in[who2]) / _PARAMS["residual_days"]
    )
    return {
        "cust": np.concatenate([who[keep], who2[keep2]]),
        "t": np.concatenate([t[keep], t2[keep2]]),
        "engagement": np.concatenate([engagement[keep], np.zeros(int(keep2.sum()))]),
    }


def _prospect_sessions(
    g: np.random.Generator, first: np.ndarray, offset: int, n_days: int
) -> dict[str, np.ndarray]:
    """Prospects browse a few times over a few weeks after their first visit and never buy."""
    n = first.size
    count = 1 + g.poisson(1.5, n)
    who = np.repeat(np.arange(n), count)
    span = g.exponential(40.0, n)
    is_first = np.arange(who.size) == (np.cumsum(count) - count)[who]
    t = first[who] + np.where(is_first, 0.0, g.random(who.size) * span[who])
    ok = t < n_days
    return {
        "cust": who[ok] + offset,
        "t": t[ok],
        "engagement": g.uniform(0.3, 1.0, n)[who[ok]],
    }


def _collect_sessions(
    g: np.random.Generator,
    orders: dict[str, np.ndarray],
    bg: dict[str, np.ndarray],
    pros: dict[str, np.ndarray],
    online_channel: np.ndarray,
    web_device: np.ndarray,
    n_buyers: int,
    n_total: int,
) -> dict[str, np.ndarray]:
    """Gather purchase, research, background and prospect sessions into one set of arrays.

    ``anchor`` is the purchase time for purchase sessions (events lead up to it) and the start time
    for all others; ``forced`` product views show the order's products.
    """
    online = np.flatnonzero(orders["channel"] != 2)
    research = online[g.random(online.size) < _PARAMS["research_share"]]
    lead = g.uniform(0.1, _PARAMS["research_days"], research.size)
    research_start = orders["ts"][research] - (lead * _DAY).astype(np.int64)
    ok = research_start >= 0
    research, research_start = research[ok], research_start[ok]

    browse_t = np.concatenate([bg["t"], pros["t"]])
    browse_day = np.floor(browse_t).astype(np.int64)
    browse_ts = browse_day * _DAY + _time_of_day(browse_t - browse_day, _HOURS_ONLINE)
    n_browse = browse_t.size
    cust = np.concatenate([orders["cust"][online], orders["cust"][research], bg["cust"], pros["cust"]])
    kind = np.repeat(np.array([0, 1, 2], dtype=np.int8), [online.size, research.size, n_browse])
    order_ref = np.concatenate([online, research, np.full(n_browse, -1)])
    line0 = np.where(order_ref >= 0, orders["line_start"][np.maximum(order_ref, 0)], -1)
    forced = np.concatenate(
        [
            orders["n_lines"][online],
            np.ones(research.size, dtype=np.int64),
            np.zeros(n_browse, dtype=np.int64),
        ]
    )
    engagement = np.concatenate([np.ones(online.size + research.size), bg["engagement"], pros["engagement"]])
    anchor = np.concatenate([orders["ts"][online], research_start, browse_ts])

    # Channel and device: purchase sessions use the order's channel; others the customer's usual one.
    n = cust.size
    n_other = n_total - n_buyers
    cust_online = np.concatenate([online_channel, (g.random(n_other) < 0.3).astype(np.int64)])
    cust_device = np.concatenate([web_device, g.choice(3, n_other, p=[0.5, 0.4, 0.1])])
    usual = np.where(g.random(n) < 0.85, cust_online[cust], 1 - cust_online[cust])
    channel = np.where(kind == 0, orders["channel"][np.maximum(order_ref, 0)], usual)
    app_device = np.where(g.random(n) < 0.85, 1, 2)
    web_dev = np.where(g.random(n) < 0.8, cust_device[cust], g.choice(3, n, p=[0.5, 0.4, 0.1]))
    device = np.where(channel == 1, app_device, web_dev)
    return {
        "cust": cust,
        "kind": kind,
        "anchor": anchor,
        "line0": line0,
        "forced": forced,
        "n_lines": np.where(kind == 0, forced, 0),
        "engagement": engagement,
        "channel": channel,
        "device": device,
    }


def _session_events(
    g: np.random.Generator, s: dict[str, np.ndarray], orders: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Expand sessions into events: counts per stage, seconds apart, products where they apply.

    Events come out grouped by session, in stage order within a session (compact dtypes: this is
    the largest allocation of the generator).
    """
    n = s["cust"].size
    buy = s["kind"] == 0
    e = s["engagement"]
    low = 1.0 - e
    n_lines = s["n_lines"]
    counts = np.zeros((n, 7), dtype=np.int32)
    counts[:, _PV] = 1 + g.poisson(np.where(buy, 0.8, 0.3 + 0.6 * e))
    counts[:, _SEARCH] = (g.random(n) < np.where(buy, 0.35, 0.2 + 0.15 * e)) * (1 + g.poisson(0.3, n))
    counts[:, _VIEW] = np.where(buy, n_lines + g.poisson(1.5, n), g.poisson(0.5 + 1.7 * e))
    cart_extra = g.random(n) < 0.15
    browse_cart = (g.random(n) < 0.10 + 0.30 * low) * (1 + (g.random(n) < 0.25))
    counts[:, _CART] = np.where(buy, n_lines + cart_extra, browse_cart)
    counts[:, _VIEW] = np.maximum.reduce([counts[:, _VIEW], counts[:, _CART], s["forced"]])
    has_cart = counts[:, _CART] > 0
    counts[:, _REMOVE] = np.where(buy, cart_extra, has_cart & (g.random(n) < 0.3))
    counts[:, _CHECKOUT] = np.where(buy, 1, has_cart & (g.random(n) < 0.2 + 0.3 * low))
    counts[:, _PURCHASE] = buy

    per_session = counts.sum(axis=1, dtype=np.int64)
    first = np.cumsum(per_session) - per_session
    stage_start = (np.cumsum(counts, axis=1) - counts).astype(np.int32)  # stage offsets inside a session
    sess = np.repeat(np.arange(n, dtype=np.int32), per_session)
    stage = np.repeat(np.tile(np.arange(7, dtype=np.int8), n), counts.ravel())
    first_of = first[sess]
    pos = (np.arange(sess.size) - first_of).astype(np.int32)
    del first_of

    # Seconds between events; purchase sessions end exactly at the order's timestamp.
    gap = (4.0 + g.gamma(1.2, 30.0, sess.size)).astype(np.int32)
    gap[pos == 0] = 0
    cum = np.cumsum(gap, dtype=np.int64)
    del gap
    total = cum[first + per_session - 1] - cum[first]
    shift = s["anchor"] - np.where(buy, total, 0) - cum[first]  # per session: start time minus cum offset
    ts = cum
    ts += shift[sess]
    np.maximum(ts, 0, out=ts)  # a purchase in the first minutes of the period: its session starts with it
    del cum, shift

    # Products: forced views show the order's lines; carts and removals refer back to the views.
    product = np.full(sess.size, -1, dtype=np.int32)
    views = np.flatnonzero(stage == _VIEW)
    vs = sess[views]
    vr = pos[views] - stage_start[vs, _VIEW]
    forced = vr < s["forced"][vs]
    popularity = 1.0 / (np.arange(_N_PRODUCTS) + 10.0) ** 1.1
    random_product = g.permutation(_N_PRODUCTS)[
        g.choice(_N_PRODUCTS, views.size, p=popularity / popularity.sum())
    ]
    line = np.clip(s["line0"][vs] + vr, 0, orders["line_product"].size - 1)
    product[views] = np.where(forced, orders["line_product"][line], random_product)
    del vs, vr, forced, random_product, line
    view_base = first + stage_start[:, _VIEW]
    for stage_code, back in ((_CART, 0), (_REMOVE, 1)):
        idx = np.flatnonzero(stage == stage_code)
        si = sess[idx]
        rank = pos[idx] - stage_start[si, stage_code]
        if back:  # a removal takes back one of the last items put in the cart
            rank = rank + counts[si, _CART] - counts[si, _REMOVE]
        product[idx] = product[view_base[si] + rank]
    return {"sess": sess, "stage": stage, "ts": ts, "product": product, "first": first, "size": per_session}


# ==== frames and files =================================================================================


def _format_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded string ids such as ``C000123`` (fast, through Arrow)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width=width, padding="0")
    joined = pc.binary_join_element_wise(pa.scalar(prefix), digits, pa.scalar(""))
    return joined.cast(pa.large_string())


def _take(values: tuple[str, ...] | pa.Array, codes: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Strings for integer codes (null where ``mask``), without building Python objects per row."""
    dictionary = values if isinstance(values, pa.Array) else pa.array(values, type=pa.large_string())
    return pc.take(dictionary, pa.array(codes, mask=mask))


def _timestamps(seconds: np.ndarray, day0: np.datetime64, mask: np.ndarray | None = None) -> pa.Array:
    """Naive timestamps (microsecond unit) from seconds since ``day0``."""
    base = day0.astype("datetime64[s]").astype(np.int64)
    micros = (seconds.astype(np.int64) + base) * 1_000_000
    return pa.array(micros, type=pa.int64(), mask=mask).view(pa.timestamp("us"))


def _frame(columns: dict[str, pa.Array | np.ndarray], order: np.ndarray | None = None) -> pd.DataFrame:
    """A pandas frame from Arrow or numpy columns (strings become the ``str`` dtype), optionally reordered.

    Large tables are built already in order; ``order`` is for the small per-customer tables.
    """
    table = pa.table(columns)
    if order is not None:
        table = table.take(pa.array(order))
    return table.to_pandas()


def _transactions_frame(
    orders: dict[str, np.ndarray], cust_ids: pa.Array, day0: np.datetime64
) -> pd.DataFrame:
    """Order lines and return lines, in time order, with order ids ``O...`` and return ids ``R...``."""
    width = max(7, len(str(orders["ts"].size)))
    lo = orders["line_order"]
    ro = orders["ret_order"]
    order_no = np.concatenate([lo, ro]) + 1
    is_ret = np.repeat([False, True], [lo.size, ro.size])
    ts = np.concatenate([orders["ts"][lo], orders["ret_ts"]])
    line_no = np.concatenate(
        [np.arange(lo.size) - orders["line_start"][lo], np.zeros(ro.size, dtype=np.int64)]
    )
    o = np.lexsort((line_no, is_ret, order_no, ts))
    cust = np.concatenate([orders["cust"][lo], orders["cust"][ro]])[o]
    channel = np.concatenate([orders["channel"][lo], orders["channel"][ro]])[o]
    product = np.concatenate([orders["line_product"], orders["line_product"][orders["ret_line"]]])[o]
    order_ids = pc.binary_join_element_wise(
        _take(("O", "R"), is_ret[o].astype(np.int8)),
        _format_ids("", order_no[o], width),
        pa.scalar("", pa.large_string()),
    )
    return _frame(
        {
            "customer_id": _take(cust_ids, cust),
            "order_id": order_ids,
            "timestamp": _timestamps(ts[o], day0),
            "amount": np.concatenate([orders["amount"], orders["ret_amount"]])[o],
            "quantity": np.concatenate([orders["qty"], -orders["ret_qty"]])[o],
            "channel": _take(_CHANNELS, channel),
            "product_id": _take(_product_ids(), product),
        }
    )


def _product_ids() -> pa.Array:
    """Catalogue ids ``P00001`` ... indexed by product code."""
    return _format_ids("P", np.arange(_N_PRODUCTS) + 1, 5)


def _events_frame(
    ev: dict[str, np.ndarray], s: dict[str, np.ndarray], cust_ids: pa.Array, day0: np.datetime64, end_s: int
) -> pd.DataFrame:
    """Events in time order (ties: session, then step) with session ids ``S...`` numbered by start."""
    first, size = ev["first"], ev["size"]
    n_sessions = first.size
    by_start = np.lexsort((s["cust"], ev["ts"][first]))  # sessions in order of their first event
    sess_rank = np.empty(n_sessions, dtype=np.int64)
    sess_rank[by_start] = np.arange(n_sessions)
    # Lay events out session by session in that order, then sort by time: nearly sorted, so fast.
    sizes = size[by_start]
    grouped = np.repeat(first[by_start] - (np.cumsum(sizes) - sizes), sizes) + np.arange(ev["ts"].size)
    order = grouped[np.argsort(ev["ts"][grouped], kind="stable")]
    del grouped
    order = order[ev["ts"][order] < end_s]  # the export stops at the end of the period
    sess = ev["sess"][order]
    product = ev["product"][order]
    width = max(8, len(str(n_sessions)))
    return _frame(
        {
            "customer_id": _take(cust_ids, s["cust"][sess]),
            "session_id": _take(_format_ids("S", np.arange(n_sessions) + 1, width), sess_rank[sess]),
            "timestamp": _timestamps(ev["ts"][order], day0),
            "event_type": _take(EVENT_TYPES, _STAGE_TYPE[ev["stage"][order]]),
            "channel": _take(_CHANNELS, s["channel"][sess]),
            "device": _take(_DEVICES, s["device"][sess]),
            "product_id": _take(_product_ids(), np.maximum(product, 0), mask=product < 0),
        }
    )


def _truth_frame(
    *,
    cust_ids: pa.Array,
    rank: np.ndarray,
    n_buyers: int,
    n_prospects: int,
    day0: np.datetime64,
    n_days: int,
    lam: np.ndarray,
    p_drop: np.ndarray,
    tau: np.ndarray,
    mean_spend: np.ndarray,
    vip: np.ndarray,
    browse: np.ndarray,
    decay_days: np.ndarray,
    pref_channel: np.ndarray,
    pur_t: np.ndarray,
    order_cust: np.ndarray,
) -> pd.DataFrame:
    """One row per customer id with the latent state behind the data (for tests, never for models)."""
    n_total = rank.size
    n_other = n_total - n_buyers

    def pad(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x.astype(np.float64), np.full(n_other, np.nan)])

    first = np.full(n_buyers, np.iinfo(np.int64).max)
    np.minimum.at(first, order_cust, pur_t)
    last = np.zeros(n_buyers, dtype=np.int64)
    np.maximum.at(last, order_cust, pur_t)
    n_orders = np.bincount(order_cust, minlength=n_buyers)
    dropped = tau < n_days
    kind = np.repeat([0, 1, 2], [n_buyers, n_prospects, n_other - n_prospects])
    not_buyer = np.arange(n_total) >= n_buyers
    dropout_s = np.round(np.where(dropped, tau, 0.0) * _DAY).astype(np.int64)
    return _frame(
        {
            "customer_id": cust_ids,
            "kind": _take(("buyer", "prospect", "inactive"), kind),
            "first_purchase": _timestamps(
                np.concatenate([first, np.zeros(n_other, np.int64)]), day0, not_buyer
            ),
            "last_purchase": _timestamps(
                np.concatenate([last, np.zeros(n_other, np.int64)]), day0, not_buyer
            ),
            "n_orders": np.concatenate([n_orders, np.zeros(n_other, np.int64)]),
            "purchase_rate": pad(lam),
            "dropout_prob": pad(p_drop),
            "dropout_date": _timestamps(
                np.concatenate([dropout_s, np.zeros(n_other, np.int64)]),
                day0,
                np.concatenate([~dropped, np.ones(n_other, dtype=bool)]),
            ),
            "mean_spend": pad(mean_spend),
            "is_vip": np.concatenate([vip, np.zeros(n_other, dtype=bool)]),
            "browse_rate": pad(browse),
            "decay_days": pad(decay_days),
            "preferred_channel": _take(
                _CHANNELS, np.concatenate([pref_channel, np.zeros(n_other, np.int64)]), mask=not_buyer
            ),
        },
        order=np.argsort(rank),
    )


def _write_csv(table: pa.Table, path: Path) -> None:
    """Plain CSV: unquoted header and values, whole-second timestamps, dates for date columns."""
    columns = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        if name == "signup_date":
            col = col.cast(pa.date32())
        elif pa.types.is_timestamp(col.type):
            with contextlib.suppress(pa.ArrowInvalid):  # whole seconds unless a frame has finer ones
                col = col.cast(pa.timestamp("s"))
        columns.append(col)
    table = pa.table(dict(zip(table.column_names, columns, strict=True)))
    with open(path, "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        pa_csv.write_csv(table, fh, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
