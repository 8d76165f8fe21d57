"""Customer attributes: signup tenure and pass-through attribute columns."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from churnkit.features._common import date_lit, days_between
from churnkit.features.catalogue import slug


def attribute_columns(customers: ir.Table) -> list[tuple[str, str]]:
    """(column, dtype) of every attribute column: numbers/booleans as float64, the rest as string."""
    out = []
    for name, dtype in customers.schema().items():
        if name in ("customer_id", "signup_date"):
            continue
        out.append((name, "float64" if dtype.is_numeric() or dtype.is_boolean() else "string"))
    return out


def attribute_features(customers: ir.Table, *, as_of: dt.date) -> ir.Table:
    """One row per customer_id (duplicates collapsed by the minimum of each column)."""
    cu = customers.mutate(customer_id=customers.customer_id.cast("string"))
    aggs: dict[str, ir.Value] = {}
    for name, dtype in attribute_columns(cu):
        aggs[f"attr_{slug(name)}"] = cu[name].cast(dtype).min()
    if "signup_date" in cu.columns:
        aggs["_signup"] = cu.signup_date.cast("date").min()
    c = cu.group_by("customer_id").agg(**aggs)
    if "signup_date" in customers.columns:
        d = date_lit(as_of)
        tenure = ibis.ifelse(c._signup < d, days_between(d, c._signup), ibis.null("int64"))
        c = c.mutate(signup_tenure_days=tenure.cast("float64")).drop("_signup")
    return c
