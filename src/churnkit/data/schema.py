"""Canonical vocabularies and limits shared by every stage (the tables' columns: `churnkit.data.rules`).

After loading, every table uses the canonical names and types, whatever the source called them.
Timestamps are naive ``TIMESTAMP`` values in UTC (offsets are converted on load), customer ids
are strings (leading zeros kept), amounts are floats in the shop's currency (negative = return).
"""

from __future__ import annotations

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

VOCABULARIES: dict[str, dict[str, tuple[str, ...]]] = {
    # Google Analytics 4 recommended e-commerce events (plus its automatic page_view)
    "ga4": {
        "page_view": ("page_view",),
        "product_view": ("view_item",),
        "search": ("view_search_results", "search"),
        "add_to_cart": ("add_to_cart",),
        "remove_from_cart": ("remove_from_cart",),
        "checkout": ("begin_checkout",),
        "purchase": ("purchase",),
    },
    # Segment's e-commerce spec (v2) track calls; page calls export as "page" / "Loaded a Page"
    "segment": {
        "page_view": ("page", "Page Viewed", "Loaded a Page"),
        "product_view": ("Product Viewed",),
        "search": ("Products Searched",),
        "add_to_cart": ("Product Added",),
        "remove_from_cart": ("Product Removed",),
        "checkout": ("Checkout Started",),
        "purchase": ("Order Completed",),
    },
    # Snowplow: page_view and site_search events, and the e-commerce plugin's action types
    "snowplow": {
        "page_view": ("page_view",),
        "product_view": ("product_view",),
        "search": ("site_search",),
        "add_to_cart": ("add_to_cart",),
        "remove_from_cart": ("remove_from_cart",),
        "checkout": ("checkout_step",),
        "purchase": ("transaction",),
    },
}
"""Built-in source vocabularies (``inputs.events.vocabulary``): canonical type → the source's event names."""


def event_type_map(
    vocabulary: str | None = None, event_types: dict[str, list[str]] | None = None
) -> dict[str, str]:
    """Source event name (lower case) → canonical event type.

    Canonical names map to themselves; a preset's names, then the configured ``event_types``, are added on
    top (a configured name wins). Matching is case-insensitive on the trimmed value; names not in the map
    are kept and counted as page views.
    """
    out = {e: e for e in EVENT_TYPES}
    for source in (VOCABULARIES[vocabulary] if vocabulary else {}), (event_types or {}):
        for canonical, names in source.items():
            for name in names:
                out[name.strip().lower()] = canonical
    return out


UNKNOWN_EVENTS_SHOWN = 10
"""How many unknown event names (the most frequent) the load report lists."""

TIMESTAMP_RANGE: tuple[str, str] = ("1900-01-01", "2200-01-01")
"""Transaction and event timestamps must lie in [first, second); others are set aside as "timestamp out of
range". Dates like 0001-01-01 or 9999-12-31 are placeholders for "unknown", not events, and an as-of date
± a horizon near them leaves the calendar."""
