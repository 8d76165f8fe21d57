"""The feature catalogue: every feature declared once, as data.

Windowed families are declared once with ``{w}`` in the name and expanded for each window;
data-dependent families (``channel_share_{channel}``, ``attr_{column}``) are expanded from the
channels and customer columns of the data at hand. ``docs/features.md`` is generated from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from churnkit.errors import InputError

Group = Literal["rfm_lifetimes", "rfm_marketing", "purchase", "returns", "browsing", "attributes"]

GROUPS: tuple[Group, ...] = (
    "rfm_lifetimes",
    "rfm_marketing",
    "purchase",
    "returns",
    "browsing",
    "attributes",
)
DEFAULT_WINDOWS: tuple[int, ...] = (30, 90, 180, 365)
TREND_DAYS = 90
"""Trends compare the last ``TREND_DAYS`` days with the ``TREND_DAYS`` days before them."""
VISIT_TREND_DAYS = 30
"""The visit trend compares sessions of the last 30 days with the 30 days before them."""

_GROUP_TITLES = {
    "rfm_lifetimes": "RFM, lifetimes convention",
    "rfm_marketing": "RFM, marketing convention",
    "purchase": "Purchase behaviour",
    "returns": "Returns",
    "browsing": "Browsing (only when events are given)",
    "attributes": "Customer attributes (only when customers are given)",
}


@dataclass(frozen=True)
class Feature:
    """One feature column: what it means, its unit, its look-back window and its group."""

    name: str
    meaning: str
    unit: str
    window_days: int | None
    group: Group
    dtype: str = "float64"
    """Column type in the feature table (nullable features are always float64)."""


def _f(name: str, meaning: str, unit: str, group: Group, dtype: str = "float64", window: int | None = None):
    return Feature(name, meaning, unit, window, group, dtype)


# One declaration per feature, in output order. ``{w}`` marks a windowed family.
_DECLARATIONS: tuple[Feature, ...] = (
    # --- lifetimes RFM (BG/NBD, Pareto/NBD, Gamma-Gamma input) -----------------------------
    _f(
        "frequency",
        "Repeat purchase days: distinct purchase days − 1.",
        "days (count)",
        "rfm_lifetimes",
        "int64",
    ),
    _f("recency", "Days from the first to the last purchase day.", "days", "rfm_lifetimes", "int64"),
    _f(
        "T",
        "Days from the first purchase day to the day before as_of (lifetimes' observation_period_end).",
        "days",
        "rfm_lifetimes",
        "int64",
    ),
    _f(
        "monetary_value",
        "Mean purchase total of the repeat purchase days (first day excluded); 0 when frequency is 0.",
        "currency",
        "rfm_lifetimes",
    ),
    # --- marketing RFM ---------------------------------------------------------------------
    _f(
        "days_since_last_purchase",
        "Days from the last purchase day to as_of (1 = bought the day before).",
        "days",
        "rfm_marketing",
        "int64",
    ),
    _f("orders", "Distinct purchase orders.", "count", "rfm_marketing", "int64"),
    _f("total_spend", "Gross purchase amount (returns not deducted).", "currency", "rfm_marketing"),
    _f("avg_order_value", "total_spend / orders.", "currency", "rfm_marketing"),
    # --- purchase behaviour -----------------------------------------------------------------
    _f("orders_{w}d", "Distinct purchase orders placed in the last {w} days.", "count", "purchase", "int64"),
    _f("revenue_{w}d", "Net revenue (purchases minus returns) in the last {w} days.", "currency", "purchase"),
    _f("tenure_days", "Days from the first purchase day to as_of (= T + 1).", "days", "purchase", "int64"),
    _f(
        "first_purchase_value",
        "Purchase amount of the first purchase day (the first order for most customers).",
        "currency",
        "purchase",
    ),
    _f(
        "ipt_mean_days",
        "Mean gap between consecutive purchase days (recency / frequency); null with one purchase day.",
        "days",
        "purchase",
    ),
    _f(
        "ipt_std_days",
        "Sample standard deviation of the gaps between purchase days; null with fewer than three.",
        "days",
        "purchase",
    ),
    _f(
        "gap_ratio",
        "Current gap / mean gap: days_since_last_purchase / ipt_mean_days; null with one purchase day.",
        "ratio",
        "purchase",
    ),
    _f(
        "orders_trend",
        "(a − b) / (a + b) for purchase orders in the last 90 days (a) and the 90 days before (b); "
        "0 when both are 0. In [−1, 1].",
        "ratio",
        "purchase",
        window=2 * TREND_DAYS,
    ),
    _f(
        "revenue_trend",
        "(a − b) / (a + b) for gross purchase amount in the last 90 days (a) and the 90 days before (b); "
        "0 when both are 0.",
        "ratio",
        "purchase",
        window=2 * TREND_DAYS,
    ),
    _f(
        "channel_share_{channel}",
        "Share of purchase orders with a line in channel '{channel}'.",
        "share",
        "purchase",
    ),
    # --- returns ----------------------------------------------------------------------------
    _f("return_count", "Distinct return orders.", "count", "returns", "int64"),
    _f("return_amount", "Amount returned (positive).", "currency", "returns"),
    _f("return_share", "return_amount / total_spend; null when total_spend is 0.", "share", "returns"),
    # --- browsing ---------------------------------------------------------------------------
    _f("sessions", "Browsing sessions before as_of.", "count", "browsing", "int64"),
    _f("sessions_{w}d", "Sessions that started in the last {w} days.", "count", "browsing", "int64"),
    _f("product_views_{w}d", "product_view events in the last {w} days.", "count", "browsing", "int64"),
    _f("searches_{w}d", "search events in the last {w} days.", "count", "browsing", "int64"),
    _f("add_to_carts_{w}d", "add_to_cart events in the last {w} days.", "count", "browsing", "int64"),
    _f(
        "days_since_last_visit",
        "Days from the last event's day to as_of; null without events.",
        "days",
        "browsing",
    ),
    _f(
        "cart_abandonment_rate",
        "Sessions with add_to_cart and no purchase event / sessions with add_to_cart; null if none.",
        "share",
        "browsing",
    ),
    _f(
        "checkout_dropoff",
        "Sessions with checkout and no purchase event / sessions with checkout; null if none.",
        "share",
        "browsing",
    ),
    _f(
        "browse_to_buy",
        "Sessions with a purchase event / sessions; null without sessions.",
        "share",
        "browsing",
    ),
    _f(
        "pages_per_session",
        "page_view (incl. unknown event types) and product_view events per session; null without sessions.",
        "events per session",
        "browsing",
    ),
    _f(
        "visit_trend",
        "(a − b) / (a + b) for sessions started in the last 30 days (a) and the 30 days before (b); "
        "0 when both are 0.",
        "ratio",
        "browsing",
        window=2 * VISIT_TREND_DAYS,
    ),
    _f(
        "visits_since_last_purchase",
        "Sessions that started after the last purchase's timestamp.",
        "count",
        "browsing",
        "int64",
    ),
    # --- attributes -------------------------------------------------------------------------
    _f(
        "signup_tenure_days",
        "Days from signup_date to as_of; null when signup_date is missing or not before as_of.",
        "days",
        "attributes",
    ),
    _f(
        "attr_{column}",
        "Customer attribute '{column}' as given in the customers table (numbers as float64, "
        "anything else as string); not point-in-time.",
        "as given",
        "attributes",
        "string",
    ),
)


LABELS: tuple[tuple[str, str, str, str], ...] = (
    ("churned", "1 when the customer makes no purchase in [D, D+H), else 0.", "0/1", "int64"),
    (
        "future_revenue",
        "Net amount of every transaction row in [D, D+H), returns included (can be negative).",
        "currency",
        "float64",
    ),
    (
        "future_purchases",
        "Distinct purchase days in [D, D+H): the unit BG/NBD predicts (lifetimes' frequency counts days).",
        "days (count)",
        "int64",
    ),
)
"""``build_labels`` columns after customer_id and as_of: (name, meaning, unit, dtype)."""


def slug(value: str) -> str:
    """Column-name form of a channel or attribute name: lower case, non-alphanumerics → ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")


def _expand_windows(decl: Feature, windows: Iterable[int]) -> list[Feature]:
    if "{w}" not in decl.name:
        return [decl]
    return [
        replace(decl, name=decl.name.format(w=w), meaning=decl.meaning.format(w=w), window_days=w)
        for w in windows
    ]


def _check_unique(names: Sequence[str], what: str) -> None:
    slugs = [slug(n) for n in names]
    bad = [n for n, s in zip(names, slugs, strict=True) if not s or slugs.count(s) > 1]
    if bad:
        raise InputError(f"{what} names {sorted(map(str, bad))} do not give distinct column names")


def catalogue(
    *,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    channels: Sequence[str] = (),
    browsing: bool = True,
    signup: bool = True,
    attributes: Sequence[tuple[str, str]] = (),
) -> tuple[Feature, ...]:
    """The concrete features of one build: windows, channels and attribute columns expanded.

    ``attributes`` holds ``(column, dtype)`` pairs of the customers table's attribute columns.
    """
    _check_unique(list(channels), "Channel")
    _check_unique([c for c, _ in attributes], "Customer attribute")
    out: list[Feature] = []
    for decl in _DECLARATIONS:
        if decl.group == "browsing" and not browsing:
            continue
        if decl.name == "signup_tenure_days" and not signup:
            continue
        if "{channel}" in decl.name:
            out += [
                replace(decl, name=decl.name.format(channel=slug(c)), meaning=decl.meaning.format(channel=c))
                for c in channels
            ]
        elif "{column}" in decl.name:
            out += [
                replace(
                    decl,
                    name=decl.name.format(column=slug(c)),
                    meaning=decl.meaning.format(column=c),
                    dtype=dtype,
                )
                for c, dtype in attributes
            ]
        else:
            out += _expand_windows(decl, windows)
    return tuple(out)


def _placeholder(decl: Feature) -> Feature:
    name = decl.name.replace("{channel}", "<channel>").replace("{column}", "<column>")
    meaning = decl.meaning.replace("{channel}", "<channel>").replace("{column}", "<column>")
    return replace(decl, name=name, meaning=meaning)


FEATURES: tuple[Feature, ...] = tuple(
    _placeholder(f) for decl in _DECLARATIONS for f in _expand_windows(decl, DEFAULT_WINDOWS)
)
"""Every declared feature with the default windows; ``<channel>``/``<column>`` mark data-driven families."""


def feature_catalogue_markdown() -> str:
    """The feature catalogue as Markdown (the text of ``docs/features.md``)."""
    lines = [
        "# Feature catalogue",
        "",
        "<!-- Generated by churnkit.features.feature_catalogue_markdown(); do not edit by hand. -->",
        "",
        "`build_features(..., as_of=D)` returns one row per customer in the base at D (at least one purchase",
        "strictly before D 00:00), keyed by `customer_id` and `as_of`, then the columns below in this order.",
        "",
        "Conventions:",
        "",
        "- Everything is computed from rows with `timestamp < D` (point-in-time correct); day differences are",
        "  taken between calendar dates, never timestamps. A *purchase* is a transaction row with",
        "  `is_return = false`; a *return* a row with `is_return = true` (negative amount).",
        "  Orders are distinct `order_id`s (purchase and return orders counted apart).",
        "- *Purchase days* are the distinct dates with a purchase. The lifetimes RFM uses purchase rows",
        "  only and equals `lifetimes.utils.summary_data_from_transaction_data(purchases, ...,",
        '  observation_period_end=D - 1 day, freq="D")`.',
        "- `{w}d` families exist for every window in `windows` (default "
        + ", ".join(str(w) for w in DEFAULT_WINDOWS)
        + "); window w covers the dates D − w … D − 1.",
        "- `channel_share_<channel>` exists for every channel in `channels` (default: the non-null channels",
        "  of purchases before D, sorted; `churnkit train` fixes one list for all its snapshots).",
        "  `<channel>` is the channel in lower case with non-alphanumerics replaced by `_`.",
        "- Browsing columns exist only when events are given (absent, not zero, without them). Customers",
        "  in the base without events get 0 for counts and trends and null for rates and",
        "  `days_since_last_visit`. Sessions come from `session_id` or, where it is null, from a",
        "  `session_gap_minutes` (default 30) gap between consecutive events of the customer. Session",
        "  counts per window use the session's start day. Event types outside the vocabulary count as",
        "  `page_view`. A session *has a purchase* when it holds a `purchase` event.",
        "- Attribute columns exist only when customers are given: `signup_tenure_days` when the table has",
        "  `signup_date`, and `attr_<column>` for every other column (taken as is: not point-in-time).",
        "- Nullable features are float64 with NaN for null.",
        "- `rfm_summary(transactions, as_of=D)` returns only customer_id, as_of and the four lifetimes RFM",
        "  columns (the input of BG/NBD and Gamma-Gamma), with the same values.",
        "",
    ]
    for group in GROUPS:
        feats = [f for f in FEATURES if f.group == group]
        lines += [f"## {_GROUP_TITLES[group]}", "", "| name | meaning | unit | window (days) | dtype |"]
        lines.append("|---|---|---|---|---|")
        for f in feats:
            window = "" if f.window_days is None else str(f.window_days)
            lines.append(f"| `{f.name}` | {f.meaning} | {f.unit} | {window} | {f.dtype} |")
        lines.append("")
    lines += [
        "## Labels (`build_labels`, horizon H days)",
        "",
        "Rows: the customer base at D (the same customers as the features). A purchase at exactly",
        "D 00:00 is in the window; one at D+H 00:00 is not. `snapshot_table` joins features and",
        "labels at an as-of date; the scheduler plans only dates with D + H ≤ the last transaction date + 1 day.",
        "",
        "| name | meaning | unit | dtype |",
        "|---|---|---|---|",
        *[f"| `{name}` | {meaning} | {unit} | {dtype} |" for name, meaning, unit, dtype in LABELS],
        "",
    ]
    return "\n".join(lines)
