"""Small engine-neutral helpers shared by the feature builders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import ibis
import ibis.expr.types as ir

from churnkit.dates import parse_date
from churnkit.errors import ConfigError, InputError

TRANSACTION_COLUMNS = ("customer_id", "order_id", "timestamp", "amount", "is_return")
EVENT_COLUMNS = ("customer_id", "timestamp", "event_type")


def as_date(value: object, *, name: str = "as_of") -> dt.date:
    """A calendar date from a date, a midnight datetime/Timestamp or an ISO string (churnkit.dates.parse_date)."""
    return parse_date(value, name=name)


def check_windows(windows: Iterable[int]) -> tuple[int, ...]:
    """Positive, distinct whole-day windows, in the order given."""
    out: list[int] = []
    for w in windows:
        if isinstance(w, bool) or not isinstance(w, int) or w <= 0:
            raise ConfigError(f"windows must be positive whole days, got {w!r}")
        if w not in out:
            out.append(w)
    return tuple(out)


def require_columns(table: ir.Table, columns: Sequence[str], *, table_name: str) -> None:
    """Raise InputError naming the first missing column."""
    for col in columns:
        if col not in table.columns:
            raise InputError(f"The {table_name} table has no column {col!r}", column=col)


def day_start(day: dt.date) -> ir.TimestampScalar:
    """Timestamp literal for ``day`` 00:00 (naive, compared with naive UTC timestamps)."""
    return ibis.literal(dt.datetime.combine(day, dt.time(0)), type="timestamp")


def date_lit(day: dt.date) -> ir.DateScalar:
    """Date literal."""
    return ibis.literal(day, type="date")


def days_between(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    """Whole calendar days from ``earlier`` to ``later`` (dates only, never timestamps)."""
    return later.delta(earlier, unit="day")


def ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    """num / den as float64; null when den is 0 or null."""
    return num.cast("float64") / den.cast("float64").nullif(0.0)


def trend(recent: ir.NumericValue, prior: ir.NumericValue) -> ir.FloatingValue:
    """(recent − prior) / (recent + prior); 0 when both are 0. In [−1, 1] for non-negative inputs."""
    total = (recent + prior).cast("float64")
    return ibis.ifelse(total == 0, 0.0, (recent - prior).cast("float64") / total.nullif(0.0))


def flag(cond: ir.BooleanValue) -> ir.IntegerValue:
    """1 where cond is true, else 0 (null counts as false)."""
    return ibis.ifelse(cond, 1, 0).cast("int64")


def left_join(left: ir.Table, right: ir.Table, key: str = "customer_id") -> ir.Table:
    """Left join on ``key`` keeping one copy of the key."""
    joined = left.left_join(right, left[key] == right[key])
    return joined.select(*left.columns, *[c for c in right.columns if c != key])
