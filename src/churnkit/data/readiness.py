"""Data-readiness: what a shop's history supports, said in plain words.

Gradient-boosted training needs labelled snapshots: an as-of date with at least one horizon of history
before it (for the features) and one full horizon after it (for the label), so at least 2 × H of data.
With less, only the BTYD family (which needs no labels) can be fitted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from churnkit.data.load import ShopData, summary
from churnkit.errors import DataTooShortError


@dataclass
class Readiness:
    facts: dict
    as_of: dt.date
    horizon_days: int
    history_days: int
    supports_boosting: bool
    span_days: int = 0
    """Days from the first to the last transaction, both included."""
    churn_rate: float | None = None
    """Share of the base at as_of − H with no purchase in [as_of − H, as_of), when that window is in the data."""

    def lines(self) -> list[str]:
        f = self.facts
        buyers = f["one_time_buyers"] + f["repeat_buyers"]
        one_time_share = f["one_time_buyers"] / buyers if buyers else float("nan")
        out = [
            f"rows: {f['transactions']:,} transactions, {f['rows_rejected']:,} rows set aside",
            f"dates: {f['first_timestamp'][:10]} to {f['last_timestamp'][:10]} ({self.span_days:,} days)",
            f"customers: {f['customers']:,} buyers; one-time {f['one_time_buyers']:,} ({one_time_share:.1%}), "
            f"repeat {f['repeat_buyers']:,} ({1 - one_time_share:.1%})",
        ]
        if "events" in f:
            share = f["buyers_with_events"] / f["customers"] if f["customers"] else float("nan")
            out.append(
                f"browsing: {f['events']:,} events; {share:.1%} of buyers have events; "
                f"{f['browsing_only_prospects']:,} browsing-only prospects (counted, not scored)"
            )
        else:
            out.append("browsing: no events table given (browsing features will be absent)")
        h = self.horizon_days
        if self.churn_rate is not None:
            out.append(
                f"churn: {self.churn_rate:.1%} of the customer base at {self.as_of - dt.timedelta(days=h)} "
                f"made no purchase in the following {h} days"
            )
        if self.supports_boosting:
            out.append(
                f"history: {self.history_days} days before the as-of date {self.as_of} covers 2 × H = {2 * h} days: "
                f"enough for gradient-boosted training snapshots and the BTYD family."
            )
        else:
            out.append(
                f"history: {self.history_days} days before the as-of date {self.as_of} is less than 2 × H = {2 * h} "
                f"days: only the BTYD family (BG/NBD, Pareto/NBD, MBG/NBD + Gamma-Gamma) can be trained; "
                f"use a shorter horizon or more history for gradient-boosted models."
            )
        return out


def default_as_of(data: ShopData) -> dt.date:
    """The day after the last transaction (DESIGN.md: `--as-of` default)."""
    return data.date_range()[1] + dt.timedelta(days=1)


def as_of_range(data: ShopData, *, horizon_days: int) -> tuple[dt.date, dt.date]:
    """The as-of dates the data supports: from the day after the first purchase day (a customer base exists)
    to the day after the last purchase plus one horizon (the furthest date whose history is all in the data
    and whose future window [D, D+H) starts within one horizon of it)."""
    first, last = data.date_range()
    return first + dt.timedelta(days=1), last + dt.timedelta(days=1 + horizon_days)


def check_as_of(
    data: ShopData, as_of: dt.date | None, *, horizon_days: int, option: str = "--as-of"
) -> dt.date:
    """The as-of date to use (default: the day after the last purchase); `DataTooShortError` outside the data."""
    if as_of is None:
        return default_as_of(data)
    lo, hi = as_of_range(data, horizon_days=horizon_days)
    if not lo <= as_of <= hi:
        first, last = data.date_range()
        raise DataTooShortError(
            f"{option} {as_of} is outside the data (purchases from {first} to {last}): choose a date from {lo} "
            f"(the day after the first purchase) to {hi} (the day after the last purchase + H = {horizon_days} days)"
        )
    return as_of


def readiness(data: ShopData, *, as_of: dt.date | None = None, horizon_days: int = 90) -> Readiness:
    """What the history before ``as_of`` supports. Raises `DataTooShortError` when as_of is outside the data."""
    as_of = check_as_of(data, as_of, horizon_days=horizon_days)
    first, last = data.date_range()
    history = (as_of - first).days
    return Readiness(
        span_days=(last - first).days + 1,
        churn_rate=_churn_rate(data, as_of - dt.timedelta(days=horizon_days), as_of),
        facts=summary(data),
        as_of=as_of,
        horizon_days=horizon_days,
        history_days=history,
        supports_boosting=history >= 2 * horizon_days,
    )


def _churn_rate(data: ShopData, start: dt.date, end: dt.date) -> float | None:
    """Observed churn for the last full horizon before `end` (None when the window is not inside the data)."""
    first, last = data.date_range()
    if start <= first or end > last + dt.timedelta(days=1):
        return None
    import ibis

    tx = data.ibis("transactions")
    start_ts, end_ts = (
        ibis.literal(dt.datetime.combine(d, dt.time(0)), type="timestamp") for d in (start, end)
    )
    buys = tx.filter(~tx.is_return)
    b = buys.filter(buys.timestamp < start_ts).select("customer_id").distinct()
    f = buys.filter((buys.timestamp >= start_ts) & (buys.timestamp < end_ts)).select("customer_id").distinct()
    base = int(b.count().to_pyarrow().as_py())
    churned = int(b.anti_join(f, "customer_id").count().to_pyarrow().as_py())
    return churned / base if base else None
