"""Browsing features from the event log: sessions, visit recency, funnel rates, trends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from churnkit.data.schema import EVENT_TYPES
from churnkit.features._common import date_lit, day_start, days_between, flag, ratio, trend
from churnkit.features.catalogue import VISIT_TREND_DAYS

_WINDOWED_EVENTS = {"product_views": "product_view", "searches": "search", "add_to_carts": "add_to_cart"}
_FUNNEL = {"has_cart": "add_to_cart", "has_checkout": "checkout", "has_purchase": "purchase"}


def customer_events(events: ir.Table, base: ir.Table, *, as_of: dt.date) -> ir.Table:
    """The events of ``base``'s customers before ``as_of``, with a normalised ``kind``.

    Visitors outside the base (no purchase before ``as_of``) get no feature row, so their events are
    dropped before any sort. ``sid`` is the session_id as text, when the log has one. Two aggregations read
    this table (DuckDB materialises it once: 47M rows for 1M customers), so it stays narrow: days are taken
    from the timestamps where they are needed.
    """
    e = events.filter(events.timestamp < day_start(as_of))
    e = e.semi_join(base, "customer_id")
    kind = ibis.ifelse(e.event_type.isin(EVENT_TYPES), e.event_type, "page_view")
    sid = {"sid": e.session_id.cast("string")} if "session_id" in e.columns else {}
    return e.select("customer_id", "timestamp", kind=kind, **sid)


def sessions(e: ir.Table, *, session_gap_minutes: int) -> ir.Table:
    """One row per session of `customer_events` ``e``: customer_id, start_ts, start_day and the funnel flags.

    Rows with a session_id keep it; rows without one start a new session when more than
    ``session_gap_minutes`` passed since the customer's previous such event (timestamp comparison, no
    epochs). Of those, only the session starts and the funnel events (cart, checkout, purchase) are
    numbered: a session's start is its first row either way, and its flags come from its funnel events,
    so the second window sorts about a third of the log instead of all of it.
    """
    gap = ibis.interval(minutes=session_gap_minutes)

    def by_gaps(t: ir.Table) -> ir.Table:
        prev = t.timestamp.lag().over(ibis.window(group_by="customer_id", order_by="timestamp"))
        t = t.mutate(new_session=flag(prev.isnull() | (t.timestamp > prev + gap)))
        t = t.filter((t.new_session == 1) | t.kind.isin(tuple(_FUNNEL.values())))
        # Events at the same instant share one session whatever order each window sorts them in: only the
        # first peer can open one, and a RANGE frame counts every peer's opening (a ROWS frame, Ibis' cumsum,
        # put an add_to_cart tied with a session's first page view in the previous session now and then).
        peers = ibis.range_window(group_by="customer_id", order_by="timestamp", preceding=None, following=0)
        gap_no = t.new_session.sum().over(peers).cast("int64")
        return t.mutate(gap_no=gap_no).drop("new_session")

    if "sid" in e.columns:
        tagged = e.filter(e.sid.notnull()).mutate(gap_no=ibis.literal(0, type="int64"))
        e = tagged.union(by_gaps(e.filter(e.sid.isnull())).select(*tagged.columns))
        keys = ["customer_id", "sid", "gap_no"]
    else:
        e = by_gaps(e)
        keys = ["customer_id", "gap_no"]
    flags = {name: flag(e.kind == kind).max() for name, kind in _FUNNEL.items()}
    s = e.group_by(*keys).agg(start_ts=e.timestamp.min(), **flags)
    s = s.mutate(start_day=s.start_ts.date())
    return s.select("customer_id", "start_ts", "start_day", *_FUNNEL)


def browsing_features(
    events: ir.Table,
    base: ir.Table,
    *,
    as_of: dt.date,
    windows: Sequence[int],
    session_gap_minutes: int,
) -> ir.Table:
    """One row per customer of ``base`` (customer_id, last_purchase_ts) with every browsing feature.

    Counts of events come straight from the events; counts of sessions from `sessions`.
    """
    e = customer_events(events, base, as_of=as_of)

    def since(col: ir.DateValue, days: int) -> ir.BooleanValue:
        return col >= date_lit(as_of - dt.timedelta(days=days))

    def since_ts(col: ir.TimestampValue, days: int) -> ir.BooleanValue:  # the same, on the timestamps
        return col >= day_start(as_of - dt.timedelta(days=days))

    event_aggs: dict[str, ir.Value] = {
        "_pages": flag(e.kind.isin(("page_view", "product_view"))).sum(),
        "_last_visit_day": e.timestamp.max().date(),
    }
    for name, kind in _WINDOWED_EVENTS.items():
        for w in windows:
            event_aggs[f"{name}_{w}d"] = flag((e.kind == kind) & since_ts(e.timestamp, w)).sum()
    by_events = e.group_by("customer_id").agg(**event_aggs)

    s = sessions(e, session_gap_minutes=session_gap_minutes).join(base, "customer_id")
    cart = s.has_cart == 1
    checkout = s.has_checkout == 1
    bought = s.has_purchase == 1
    recent = since(s.start_day, VISIT_TREND_DAYS)
    prior = since(s.start_day, 2 * VISIT_TREND_DAYS) & ~recent
    session_aggs: dict[str, ir.Value] = {
        "sessions": s.count(),
        "_cart": flag(cart).sum(),
        "_cart_abandoned": flag(cart & ~bought).sum(),
        "_checkout": flag(checkout).sum(),
        "_checkout_dropped": flag(checkout & ~bought).sum(),
        "_bought": flag(bought).sum(),
        "_recent": flag(recent).sum(),
        "_prior": flag(prior).sum(),
        "visits_since_last_purchase": flag(s.start_ts > s.last_purchase_ts).sum(),
    }
    for w in windows:
        session_aggs[f"sessions_{w}d"] = flag(since(s.start_day, w)).sum()
    by_sessions = s.group_by("customer_id").agg(**session_aggs)

    j = base.select("customer_id").left_join(by_events, "customer_id")
    j = j.left_join(by_sessions, j.customer_id == by_sessions.customer_id).select(
        j, *[by_sessions[c] for c in by_sessions.columns if c != "customer_id"]
    )
    zero = {name: j[name].fill_null(0) for name in ("sessions", "visits_since_last_purchase")}
    for w in windows:
        for name in ("sessions", *_WINDOWED_EVENTS):
            zero[f"{name}_{w}d"] = j[f"{name}_{w}d"].fill_null(0)
    out: dict[str, ir.Value] = {
        **zero,
        "days_since_last_visit": days_between(date_lit(as_of), j._last_visit_day).cast("float64"),
        "cart_abandonment_rate": ratio(j._cart_abandoned, j._cart),
        "checkout_dropoff": ratio(j._checkout_dropped, j._checkout),
        "browse_to_buy": ratio(j._bought, j.sessions),
        "pages_per_session": ratio(j._pages, j.sessions),
        "visit_trend": trend(j._recent.fill_null(0), j._prior.fill_null(0)),
    }
    return j.select(customer_id=j.customer_id, **out)


def visitors(events: ir.Table, as_of: dt.date) -> ir.Table:
    """customer_id of everyone with an event before ``as_of``."""
    return events.filter(events.timestamp < day_start(as_of)).select("customer_id").distinct()
