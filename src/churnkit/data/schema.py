"""Canonical table contracts shared by every stage.

After loading, every table uses these names and types, whatever the source called them.
Timestamps are naive ``TIMESTAMP`` values in UTC (offsets are converted on load), customer ids
are strings (leading zeros kept), amounts are floats in the shop's currency (negative = return).
"""

from __future__ import annotations

from dataclasses import dataclass, field

EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "purchase",
)
"""The event_type vocabulary; any other value is kept and counted as a page_view."""

TIMESTAMP_RANGE: tuple[str, str] = ("1900-01-01", "2200-01-01")
"""Transaction and event timestamps must lie in [first, second); others are set aside as "timestamp out of
range". Dates like 0001-01-01 or 9999-12-31 are placeholders for "unknown", not events, and an as-of date
± a horizon near them leaves the calendar."""


@dataclass(frozen=True)
class TableSchema:
    """Required and optional canonical columns of one input table, with their DuckDB types."""

    name: str
    required: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, str]:
        return {**self.required, **self.optional}


TRANSACTIONS = TableSchema(
    "transactions",
    required={"customer_id": "VARCHAR", "timestamp": "TIMESTAMP", "amount": "DOUBLE"},
    optional={
        "order_id": "VARCHAR",
        "quantity": "DOUBLE",
        "channel": "VARCHAR",
        "product_id": "VARCHAR",
    },
)
EVENTS = TableSchema(
    "events",
    required={"customer_id": "VARCHAR", "timestamp": "TIMESTAMP", "event_type": "VARCHAR"},
    optional={"session_id": "VARCHAR", "channel": "VARCHAR", "device": "VARCHAR", "product_id": "VARCHAR"},
)
CUSTOMERS = TableSchema(
    "customers",
    required={"customer_id": "VARCHAR"},
    optional={"signup_date": "DATE"},
)
SCHEMAS: dict[str, TableSchema] = {s.name: s for s in (TRANSACTIONS, EVENTS, CUSTOMERS)}

# Columns the loader adds to the cleaned transactions table.
# order_id: filled with a per-row id when the source has none (each row is then one order).
# is_return: True for negative amounts/quantities or a cancelled order id.
CLEAN_TRANSACTION_COLUMNS = (
    "customer_id",
    "order_id",
    "timestamp",
    "amount",
    "is_return",
    "channel",
    "product_id",
)
CLEAN_EVENT_COLUMNS = ("customer_id", "timestamp", "event_type", "session_id", "channel", "product_id")
