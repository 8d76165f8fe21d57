"""Data-readiness: what a shop's history supports, said in plain words.

Gradient-boosted training needs labelled snapshots: an as-of date with at least one horizon of history
before it (for the features) and one full horizon after it (for the label), so at least 2 × H of data.
With less, only the BTYD family (which needs no labels) can be fitted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from churnkit.data.load import ShopData, summary


@dataclass
class Readiness:
    facts: dict
    as_of: dt.date
    horizon_days: int
    history_days: int
    supports_boosting: bool
    churn_rate: float | None = None
    """Share of the base at as_of − H with no purchase in [as_of − H, as_of), when that window is in the data."""

    def lines(self) -> list[str]:
        f = self.facts
        buyers = f["one_time_buyers"] + f["repeat_buyers"]
        one_time_share = f["one_time_buyers"] / buyers if buyers else float("nan")
        out = [
            f"rows: {f['transactions']:,} transactions, {f['rows_rejected']:,} rows set aside",
            f"dates: {f['first_timestamp'][:10]} to {f['last_timestamp'][:10]} ({self.history_days:,} days)",
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


def readiness(data: ShopData, *, as_of: dt.date | None = None, horizon_days: int = 90) -> Readiness:
    as_of = as_of or default_as_of(data)
    first, _ = data.date_range()
    history = (as_of - first).days
    return Readiness(
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
