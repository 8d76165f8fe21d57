"""Browsing features from the event log: sessions, visit recency, funnel rates, trends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir

from churnkit.data.fetch import scalar
from churnkit.data.schema import EVENT_TYPES
from churnkit.features._common import date_lit, day_start, days_between, flag, ratio, trend
from churnkit.features.catalogue import VISIT_TREND_DAYS

_WINDOWED_EVENTS = {"product_views": "product_view", "searches": "search", "add_to_carts": "add_to_cart"}
_FUNNEL = ("add_to_cart", "checkout", "purchase")
"""The funnel steps each session is flagged with, a bit each (`_funnel_bits`)."""


def customer_events(events: ir.Table, base: ir.Table, *, as_of: dt.date) -> ir.Table:
    """The events of ``base``'s customers before ``as_of``: customer_id, timestamp, a normalised ``kind``.

    Visitors outside the base (no purchase before ``as_of``) get no feature row, so their events are
    dropped before any sort or grouping. ``sid`` is the session_id as text, when the log has one.
    """
    e = events.filter(events.timestamp < day_start(as_of))
    e = e.semi_join(base, "customer_id")
    # a CASE, not IN (...): DuckDB joins an IN list of this length to the rows, and it cost more
    kind = e.event_type.substitute({t: t for t in EVENT_TYPES}, else_="page_view")
    sid = {"sid": e.session_id.cast("string")} if "session_id" in e.columns else {}
    return e.select("customer_id", "timestamp", kind=kind, **sid)


def gap_sessions(e: ir.Table, *, session_gap_minutes: int) -> ir.Table:
    """One row per inactivity-gap session of customer events ``e`` (`customer_events`, no session_id):
    customer_id, start_ts, ``_funnel`` (the funnel steps it reached, `_funnel_bits`).

    A row starts a new session when more than ``session_gap_minutes`` passed since the customer's previous
    event (timestamp comparison, no epochs): one ``lag`` window over every event. Only the funnel needs to
    know which session an event is in, so the running count of session starts that numbers them (a second
    window) runs on the session starts and the funnel events alone, not on every event (on 15M events the
    query took about 2 CPU-s less). Events at the same instant share one session whatever order each
    window sorts them in: only the first peer can open one, and a RANGE frame counts every peer's opening
    (a ROWS frame, Ibis' cumsum, would put an add_to_cart tied with a session's first page view in the
    previous session now and then).
    """
    gap = ibis.interval(minutes=session_gap_minutes)
    e = e.select("customer_id", "timestamp", _bits=_funnel_bits(e.kind))
    prev = e.timestamp.lag().over(ibis.window(group_by="customer_id", order_by="timestamp"))
    e = e.mutate(new_session=flag(prev.isnull() | (e.timestamp > prev + gap)))
    marks = e.filter((e.new_session == 1) | (e._bits != 0))
    peers = ibis.range_window(group_by="customer_id", order_by="timestamp", preceding=None, following=0)
    marks = marks.mutate(gap_no=marks.new_session.sum().over(peers))
    s = marks.group_by("customer_id", "gap_no").agg(
        start_ts=marks.timestamp.min(), _funnel=_bit_or(marks._bits)
    )
    return s.select("customer_id", "start_ts", "_funnel")


def tagged_sessions(e: ir.Table) -> ir.Table:
    """One row per session_id of customer events ``e`` (`customer_events` with ``sid``): customer_id, start_ts,
    ``_funnel``. A session belongs to its customer: two customers' equal ids are two sessions."""
    s = e.group_by("customer_id", "sid").agg(
        start_ts=e.timestamp.min(), _funnel=_bit_or(_funnel_bits(e.kind))
    )
    return s.select("customer_id", "start_ts", "_funnel")


def event_counts(events: ir.Table, base: ir.Table, *, as_of: dt.date, windows: Sequence[int]) -> ir.Table:
    """One row per customer of ``base`` with events before ``as_of``: ``_last_ts``, ``_pages`` and the packed
    windowed counts of each event kind (`_pairs`, `_unpacked`), from one grouping of the events by customer.

    No count needs the session an event is in, so the log is grouped straight by customer. It is grouped
    before it meets ``base`` (a join of one row per customer, not a semi-join of every event), which also keeps
    this scan of the log apart from the one `sessions_of` sorts. The windowed counts of one event kind go two
    windows to a 64-bit sum, a count per 32 bits: the grouping keeps 6 sums, not 12 filtered counts (on 47M
    events about 15 % less time). A lane overflows only past 2**32 events of one kind for one customer.
    """
    e = events.filter(events.timestamp < day_start(as_of))
    kind = e.event_type.substitute({t: t for t in EVENT_TYPES}, else_="page_view")
    e = e.select("customer_id", "timestamp", kind=kind)
    aggs: dict[str, ir.Value] = {
        "_last_ts": e.timestamp.max(),
        "_pages": e.count(where=e.kind.isin(("page_view", "product_view"))),
    }
    weights = [_lane_weight(e.timestamp, as_of, pair) for pair in _pairs(windows)]
    for name, kind in _WINDOWED_EVENTS.items():
        for part, weight in enumerate(weights):
            aggs[_packed(name, part)] = ibis.ifelse(e.kind == kind, weight, 0).sum()
    return e.group_by("customer_id").agg(**aggs)


@ibis.udf.agg.builtin(name="bit_or")
def _bit_or(bits: idt.int64) -> idt.int64:
    """SQL's ``bit_or`` aggregate, in DuckDB and Spark alike (Ibis compiles its own ``bit_or()`` for DuckDB only)."""


def _funnel_bits(kind: ir.StringValue) -> ir.IntegerValue:
    """The event's funnel step as a bit (`_FUNNEL`; 0 for other events): OR-ed over a session, one aggregate
    where three boolean ones were (on 47M events the session grouping took 7.8 CPU-s instead of 8.6)."""
    return ibis.cases(*((kind == step, 1 << bit) for bit, step in enumerate(_FUNNEL)), else_=0)


def _has(bits: ir.IntegerValue, step: str) -> ir.BooleanValue:
    """Whether a session's funnel bits (`_funnel_bits`) include ``step`` (one of `_FUNNEL`)."""
    return (bits & (1 << _FUNNEL.index(step))) != 0


_LANE = 32
"""Bits per count when two window counts of one event kind share a 64-bit sum (`event_counts`)."""


def _pairs(windows: Sequence[int]) -> list[tuple[int, ...]]:
    """The windows two by two (the last alone when their number is odd): the counts packed in one sum."""
    return [tuple(windows[i : i + 2]) for i in range(0, len(windows), 2)]


def _lane_weight(ts: ir.TimestampValue, as_of: dt.date, pair: tuple[int, ...]) -> ir.IntegerValue:
    """What an event at ``ts`` adds to a packed sum of the windows ``pair``: 1 in the lane of each window it
    lies in. The shorter window lies inside the longer, so one CASE of at most two comparisons says which,
    and every event kind's sums share it (on 47M events the query took 2 CPU-s less, in alternating runs, than
    with a comparison, a cast and a product per window and kind)."""
    if len(pair) == 1:
        return (ts >= _since(as_of, pair[0])).cast("int64")
    short, long = sorted(pair)
    both = 1 + (1 << _LANE)
    long_only = (1 << _LANE) if pair[1] == long else 1
    return ibis.cases((ts >= _since(as_of, short), both), (ts >= _since(as_of, long), long_only), else_=0)


def _packed(name: str, part: int) -> str:
    return f"_{name}_packed_{part}"


def _unpacked(packed: ir.IntegerValue, lane: int) -> ir.IntegerValue:
    """Count ``lane`` (0 or 1) of a packed sum."""
    return (packed & ((1 << _LANE) - 1)) if lane == 0 else (packed >> _LANE)


def _since(as_of: dt.date, days: int) -> ir.TimestampScalar:
    return day_start(as_of - dt.timedelta(days=days))


def sessions_of(events: ir.Table, base: ir.Table, *, as_of: dt.date, session_gap_minutes: int) -> ir.Table:
    """One row per session of ``base``'s customers before ``as_of``: customer_id, start_ts, ``_funnel``.

    Rows with a session_id keep it (`tagged_sessions`); rows without one are split by `gap_sessions`. One
    small query asks whether the log has both: then they are two filtered scans of ``events``, not one scan
    kept for two consumers (DuckDB would hold it: 47M rows, spilled under the memory limit). A log with a
    session_id everywhere, the usual export, is never sorted; one with none is read once and never held.
    """
    if "session_id" not in events.columns:
        untagged = customer_events(events, base, as_of=as_of)
        return gap_sessions(untagged, session_gap_minutes=session_gap_minutes)
    # a filter, not an aggregate: Parquet's null counts answer it without reading the column
    untagged_rows = events.filter(events.session_id.isnull()).count()
    if not scalar(untagged_rows):
        return tagged_sessions(customer_events(events, base, as_of=as_of))
    tagged = customer_events(events.filter(events.session_id.notnull()), base, as_of=as_of)
    untagged = customer_events(
        events.filter(events.session_id.isnull()).drop("session_id"), base, as_of=as_of
    )
    return tagged_sessions(tagged).union(gap_sessions(untagged, session_gap_minutes=session_gap_minutes))


def browsing_features(
    events: ir.Table,
    base: ir.Table,
    *,
    as_of: dt.date,
    windows: Sequence[int],
    session_gap_minutes: int,
) -> ir.Table:
    """One row per customer of ``base`` (customer_id, last_purchase_ts) with every browsing feature.

    The session counts come from one grouping of the customer's sessions (`sessions_of`), the event counts
    from one grouping of their events (`event_counts`).
    """
    s = sessions_of(events, base, as_of=as_of, session_gap_minutes=session_gap_minutes)
    s = s.join(base, "customer_id")
    start_day = s.start_ts.date()
    cart, checkout, bought = (_has(s._funnel, step) for step in _FUNNEL)
    recent = start_day >= date_lit(as_of - dt.timedelta(days=VISIT_TREND_DAYS))
    prior = (start_day >= date_lit(as_of - dt.timedelta(days=2 * VISIT_TREND_DAYS))) & ~recent
    aggs: dict[str, ir.Value] = {
        "sessions": s.count(),
        "_cart": s.count(where=cart),
        "_cart_abandoned": s.count(where=cart & ~bought),
        "_checkout": s.count(where=checkout),
        "_checkout_dropped": s.count(where=checkout & ~bought),
        "_bought": s.count(where=bought),
        "_recent": s.count(where=recent),
        "_prior": s.count(where=prior),
        "visits_since_last_purchase": s.count(where=s.start_ts > s.last_purchase_ts),
    }
    for w in windows:
        aggs[f"sessions_{w}d"] = s.count(where=start_day >= date_lit(as_of - dt.timedelta(days=w)))
    by_customer = s.group_by("customer_id").agg(**aggs)
    counts = event_counts(events, base, as_of=as_of, windows=windows)

    j = base.select("customer_id").left_join(by_customer, "customer_id")
    j = j.select(j.customer_id, *[by_customer[c] for c in by_customer.columns if c != "customer_id"])
    j = j.left_join(counts, "customer_id")
    j = j.select(*[c for c in j.columns if c != "customer_id_right"])
    zero = {name: j[name].fill_null(0) for name in ("sessions", "visits_since_last_purchase")}
    for w in windows:
        zero[f"sessions_{w}d"] = j[f"sessions_{w}d"].fill_null(0)
    for name in _WINDOWED_EVENTS:
        for part, pair in enumerate(_pairs(windows)):
            for lane, w in enumerate(pair):
                zero[f"{name}_{w}d"] = _unpacked(j[_packed(name, part)], lane).fill_null(0)
    out: dict[str, ir.Value] = {
        **zero,
        "days_since_last_visit": days_between(date_lit(as_of), j._last_ts.date()).cast("float64"),
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
