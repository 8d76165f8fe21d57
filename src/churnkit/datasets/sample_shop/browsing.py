"""Browsing: background, research, purchase and prospect sessions, expanded into events."""

from __future__ import annotations

import numpy as np

from churnkit.datasets.sample_shop.calendar import time_of_day
from churnkit.datasets.sample_shop.params import DAY, HOURS_ONLINE, N_PRODUCTS, PARAMS

__all__ = ["background_sessions", "collect_sessions", "prospect_sessions", "session_events"]


_PV, _SEARCH, _VIEW, _CART, _REMOVE, _CHECKOUT, _PURCHASE = range(7)  # stage columns, as in STAGES


def _poisson_times(
    g: np.random.Generator, rate: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate times of homogeneous Poisson processes with ``rate`` on ``[a, b)`` per customer."""
    length = np.maximum(b - a, 0.0)
    count = g.poisson(rate * length)
    who = np.repeat(np.arange(rate.size), count)
    return who, a[who] + g.random(who.size) * length[who]


def background_sessions(
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
        -(t2 - tau_in[who2]) / PARAMS["residual_days"]
    )
    return {
        "cust": np.concatenate([who[keep], who2[keep2]]),
        "t": np.concatenate([t[keep], t2[keep2]]),
        "engagement": np.concatenate([engagement[keep], np.zeros(int(keep2.sum()))]),
    }


def prospect_sessions(
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


def collect_sessions(
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
    research = online[g.random(online.size) < PARAMS["research_share"]]
    lead = g.uniform(0.1, PARAMS["research_days"], research.size)
    research_start = orders["ts"][research] - (lead * DAY).astype(np.int64)
    ok = research_start >= 0
    research, research_start = research[ok], research_start[ok]

    browse_t = np.concatenate([bg["t"], pros["t"]])
    browse_day = np.floor(browse_t).astype(np.int64)
    browse_ts = browse_day * DAY + time_of_day(browse_t - browse_day, HOURS_ONLINE)
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


def session_events(
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
    popularity = 1.0 / (np.arange(N_PRODUCTS) + 10.0) ** 1.1
    random_product = g.permutation(N_PRODUCTS)[
        g.choice(N_PRODUCTS, views.size, p=popularity / popularity.sum())
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
