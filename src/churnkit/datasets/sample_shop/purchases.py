"""Purchases (MBG/NBD-like with calendar thinning) and their orders, order lines and returns."""

from __future__ import annotations

import numpy as np

from churnkit.datasets.sample_shop.calendar import time_of_day
from churnkit.datasets.sample_shop.params import CHANNEL_P, DAY, HOURS_ONLINE, HOURS_STORE, N_PRODUCTS, PARAMS

__all__ = ["make_orders", "simulate_purchases"]


def simulate_purchases(
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


def make_orders(
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
    channel = np.where(g.random(n) < 0.8, pref_channel[cust], g.choice(3, n, p=CHANNEL_P))
    day = np.floor(t).astype(np.int64)
    frac = t - day
    tod = np.where(channel == 2, time_of_day(frac, HOURS_STORE), time_of_day(frac, HOURS_ONLINE))
    ts = day * DAY + tod
    order = np.lexsort((cust, ts))
    cust, ts, channel = cust[order], ts[order], channel[order]

    # Lines: 1-4 per order, order value Gamma(p, nu) split by Dirichlet(2) shares.
    n_lines = g.choice(4, n, p=[0.50, 0.27, 0.15, 0.08]) + 1
    value = g.gamma(PARAMS["p"], mean_spend[cust] / PARAMS["p"])
    line_order = np.repeat(np.arange(n), n_lines)
    line_start = np.cumsum(n_lines) - n_lines
    share = g.gamma(2.0, 1.0, line_order.size)
    share /= np.bincount(line_order, weights=share, minlength=n)[line_order]
    qty = g.choice(4, line_order.size, p=[0.76, 0.16, 0.06, 0.02]) + 1
    target_unit = np.maximum(value[line_order] * share / qty, 0.5)

    # Catalogue: log-normal prices, product ids unrelated to price; pick the nearest price, jittered.
    price = np.sort(np.exp(g.normal(3.2, 1.0, N_PRODUCTS)))
    price = np.where(price > 5, np.floor(price) + 0.99, np.round(price, 2))
    product_code = g.permutation(N_PRODUCTS)
    log_price = np.log(price)
    pos = np.clip(np.searchsorted(log_price, np.log(target_unit)), 1, N_PRODUCTS - 1)
    nearer_left = np.log(target_unit) - log_price[pos - 1] < log_price[pos] - np.log(target_unit)
    pos = np.clip(pos - nearer_left + g.integers(-2, 3, line_order.size), 0, N_PRODUCTS - 1)
    line_day = day0 + (ts[line_order] // DAY).astype("timedelta64[D]")
    month_start = line_day.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12
    dom = (line_day - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    promo = (month == 11) | ((month == 10) & (dom >= 22))
    u = g.random(line_order.size)
    discount = np.where(promo & (u < 0.35), 0.8, np.where(u > 0.95, 0.9, 1.0))
    unit = np.round(price[pos] * discount, 2)
    amount = np.round(qty * unit, 2)

    # Returns: one line of ~4% of orders, part or all of its quantity, 2-3 weeks later at most.
    has_ret = np.flatnonzero(g.random(n) < PARAMS["return_share"])
    ret_line = line_start[has_ret] + (g.random(has_ret.size) * n_lines[has_ret]).astype(np.int64)
    ret_qty = 1 + (g.random(has_ret.size) * qty[ret_line]).astype(np.int64)
    ret_ts = ts[has_ret] + ((2.0 + g.gamma(2.0, 3.0, has_ret.size)) * DAY).astype(np.int64)
    ok = ret_ts < n_days * DAY
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
