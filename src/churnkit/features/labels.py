"""Labels for a horizon: churned, future revenue and future purchase days in [D, D+H)."""

from __future__ import annotations

import datetime as dt

import ibis.expr.types as ir

from churnkit.errors import ConfigError
from churnkit.features._common import TRANSACTION_COLUMNS, as_date, date_lit, day_start, require_columns
from churnkit.features.purchases import customer_base


def check_horizon(horizon_days: int) -> int:
    """A positive whole number of days."""
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or horizon_days <= 0:
        raise ConfigError(f"horizon_days must be a positive whole number of days, got {horizon_days!r}")
    return horizon_days


def build_labels(transactions: ir.Table, *, as_of: dt.date, horizon_days: int) -> ir.Table:
    """Labels of the customer base at ``as_of`` for the window [as_of, as_of + horizon_days).

    Columns: customer_id, as_of, churned (int64 1 = no purchase in the window), future_revenue (net
    amount of every row in the window, returns included, so it can be negative), future_purchases
    (distinct purchase days in the window: the unit BG/NBD predicts).
    """
    as_of = as_date(as_of)
    horizon_days = check_horizon(horizon_days)
    require_columns(transactions, TRANSACTION_COLUMNS, table_name="transactions")
    end = as_of + dt.timedelta(days=horizon_days)
    t = transactions.filter(
        (transactions.timestamp >= day_start(as_of)) & (transactions.timestamp < day_start(end))
    )
    t = t.mutate(day=t.timestamp.date())
    future = t.group_by("customer_id").agg(
        future_revenue=t.amount.sum(),
        future_purchases=t.day.nunique(where=~t.is_return),
    )
    base = customer_base(transactions, as_of)
    j = base.left_join(future, "customer_id")
    purchases = j.future_purchases.fill_null(0).cast("int64")
    return j.select(
        j.customer_id,
        as_of=date_lit(as_of),
        churned=(purchases == 0).cast("int64"),
        future_revenue=j.future_revenue.fill_null(0.0).cast("float64"),
        future_purchases=purchases,
    )
