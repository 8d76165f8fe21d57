"""Data-readiness: what a shop's history supports, said in plain words.

Gradient-boosted training needs labelled snapshots: an as-of date with ``training.min_history_days`` (m) of
history before it and its whole horizon H observed after it, so m + H days of observed data; a time-based
backtest needs a second label window after the first one's, m + 2 H (docs/training.md). The same arithmetic as
the snapshot scheduler (churnkit.features.snapshots), said here without importing it (data comes first).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from churnkit.data.shop import Shop, summary
from churnkit.errors import DataTooShortError


@dataclass
class Readiness:
    facts: dict
    as_of: dt.date
    horizon_days: int
    history_days: int
    observed_days: int
    """Days of history up to min(as_of, the day after the last purchase): what labelled snapshots can use."""
    min_history_days: int = 30
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
        m, seen = self.min_history_days, self.observed_days
        if seen >= m + 2 * h:
            out.append(
                f"history: {seen:,} observed days before {self.as_of} cover {m} days of history plus two {h}-day "
                "label windows: enough for boosted models with a time-based backtest, and the BTYD family."
            )
        elif seen >= m + h:
            out.append(
                f"history: {seen:,} observed days before {self.as_of} cover {m} + {h} days: the boosted models "
                f"train, but the backtest holds customers out (a time-based test needs {m + 2 * h} days)."
            )
        else:
            out.append(
                f"history: {seen:,} observed days before {self.as_of} are fewer than {m} + {h} = {m + h}: no "
                f"labelled {h}-day snapshot, so `train` cannot learn this horizon; use a shorter --horizon."
            )
        return out


def default_as_of(data: Shop) -> dt.date:
    """The day after the last transaction (docs/design.md: `--as-of` default)."""
    return data.date_range()[1] + dt.timedelta(days=1)


def as_of_range(data: Shop, *, horizon_days: int) -> tuple[dt.date, dt.date]:
    """The as-of dates the data supports: from the day after the first purchase day (a customer base exists)
    to the day after the last purchase plus one horizon (the furthest date whose history is all in the data
    and whose future window [D, D+H) starts within one horizon of it)."""
    first, last = data.date_range()
    return first + dt.timedelta(days=1), last + dt.timedelta(days=1 + horizon_days)


def check_as_of(data: Shop, as_of: dt.date | None, *, horizon_days: int, option: str = "--as-of") -> dt.date:
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


def readiness(
    data: Shop, *, as_of: dt.date | None = None, horizon_days: int = 90, min_history_days: int = 30
) -> Readiness:
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
        observed_days=(min(as_of, last + dt.timedelta(days=1)) - first).days,
        min_history_days=min_history_days,
    )


def _churn_rate(data: Shop, start: dt.date, end: dt.date) -> float | None:
    """Observed churn for the last full horizon before `end` (None when the window is not inside the data)."""
    first, last = data.date_range()
    if start <= first or end > last + dt.timedelta(days=1):
        return None
    import ibis

    from churnkit.data.fetch import scalar

    tx = data.ibis("transactions")
    start_ts, end_ts = (
        ibis.literal(dt.datetime.combine(d, dt.time(0)), type="timestamp") for d in (start, end)
    )
    buys = tx.filter(~tx.is_return)
    b = buys.filter(buys.timestamp < start_ts).select("customer_id").distinct()
    f = buys.filter((buys.timestamp >= start_ts) & (buys.timestamp < end_ts)).select("customer_id").distinct()
    base = int(scalar(b.count()))
    churned = int(scalar(b.anti_join(f, "customer_id").count()))
    return churned / base if base else None
