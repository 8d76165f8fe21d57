"""Readable names of feature and score columns, for plots and tables a marketer reads.

The names and meanings come from the feature catalogue (:mod:`churnkit.features.catalogue`): a label is
looked up by the catalogue's column name, with windowed (``orders_90d``), channel (``channel_share_web``)
and attribute (``attr_country``) families matched by pattern. A catalogue feature that declares its own
``label`` wins; a name nobody labelled falls back to the first clause of its catalogue meaning, then to
the column name with spaces.
"""

from __future__ import annotations

import functools
import re

__all__ = ["column_label", "feature_label", "feature_meaning", "feature_unit"]

_EXACT: dict[str, str] = {
    # RFM, lifetimes convention
    "frequency": "Repeat purchase days",
    "recency": "Days from first to last purchase",
    "T": "Days since first purchase (BTYD age)",
    "monetary_value": "Average repeat-purchase spend",
    # RFM, marketing convention
    "days_since_last_purchase": "Days since last purchase",
    "orders": "Orders",
    "total_spend": "Total spend",
    "avg_order_value": "Average order value",
    # purchase behaviour
    "tenure_days": "Days as a customer",
    "first_purchase_value": "First purchase value",
    "first_order_value": "First order value",
    "ipt_mean_days": "Average days between purchases",
    "ipt_std_days": "Spread of days between purchases",
    "gap_ratio": "Current gap ÷ usual gap between purchases",
    "orders_trend": "Order trend (last 90 days vs the 90 before)",
    "revenue_trend": "Spend trend (last 90 days vs the 90 before)",
    # returns
    "return_count": "Returns",
    "return_amount": "Amount returned",
    "return_share": "Share of spend returned",
    # browsing
    "sessions": "Website visits",
    "days_since_last_visit": "Days since last website visit",
    "cart_abandonment_rate": "Cart abandonment rate",
    "checkout_dropoff": "Checkout drop-off rate",
    "browse_to_buy": "Visits ending in a purchase",
    "pages_per_session": "Pages per visit",
    "visit_trend": "Visit trend (last 30 days vs the 30 before)",
    "visits_since_last_purchase": "Visits since last purchase",
    # attributes
    "signup_tenure_days": "Days since signup",
    # BTYD outputs used as model inputs
    "p_alive": "Chance still active (BG/NBD)",
    "expected_purchases": "Expected purchases in the horizon (BG/NBD)",
    "p_no_purchase": "Chance of no purchase in the horizon (BG/NBD)",
    "expected_spend": "Expected spend per purchase (Gamma-Gamma)",
    "clv": "Discounted lifetime value (BTYD)",
    "expected_next_purchase_days": "Expected days to next purchase (BG/NBD)",
}

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"orders_(?P<w>\d+)d"), "Orders, last {w} days"),
    (re.compile(r"revenue_(?P<w>\d+)d"), "Revenue, last {w} days"),
    (re.compile(r"sessions_(?P<w>\d+)d"), "Website visits, last {w} days"),
    (re.compile(r"product_views_(?P<w>\d+)d"), "Product views, last {w} days"),
    (re.compile(r"searches_(?P<w>\d+)d"), "Searches, last {w} days"),
    (re.compile(r"add_to_carts_(?P<w>\d+)d"), "Add-to-carts, last {w} days"),
    (re.compile(r"channel_share_(?P<x>.+)"), "Share of orders via {x}"),
    (re.compile(r"attr_(?P<x>.+)"), "Customer {x}"),
)

_OTHER: dict[str, str] = {
    # score, label and profile columns that are not features
    "customer_id": "Customer",
    "cluster": "Cluster",
    "name": "Segment",
    "segment": "Segment",
    "size": "Customers",
    "share": "Share of customers",
    "churn_rate": "Churn rate",
    "revenue_share": "Share of revenue",
    "churn_probability": "Churn probability",
    "predicted_clv": "Predicted revenue (CLV)",
    "discounted_clv": "Discounted lifetime value",
    "risk_tier": "Risk tier",
    "value_tier": "Value tier",
    "recommended_action": "Recommended action",
    "rfm_segment": "RFM segment",
    "expected_saved_value": "Expected value saved",
    "churned": "Churned",
    "future_revenue": "Revenue in the horizon",
}


@functools.cache
def _catalogue() -> dict[str, object]:
    from churnkit.features.catalogue import FEATURES

    return {f.name: f for f in FEATURES}


def _declared(name: str) -> object | None:
    """The catalogue entry of ``name``: exact, or its family (``<channel>``/``<column>``, other windows)."""
    features = _catalogue()
    if name in features:
        return features[name]
    for pattern, template in (
        (r"(.+_)\d+d", "{0}90d"),
        (r"channel_share_.+", "channel_share_<channel>"),
        (r"attr_.+", "attr_<column>"),
    ):
        match = re.fullmatch(pattern, name)
        if match:
            return features.get(template.format(*match.groups()))
    return None


def feature_meaning(name: str) -> str:
    """The catalogue's meaning of a feature column ('' when it is not a catalogue feature)."""
    entry = _declared(name)
    return str(getattr(entry, "meaning", "")) if entry is not None else ""


def feature_unit(name: str) -> str:
    """The catalogue's unit of a feature column ('' when it is not a catalogue feature)."""
    entry = _declared(name)
    return str(getattr(entry, "unit", "")) if entry is not None else ""


def feature_label(name: str) -> str:
    """A readable name for a feature column, e.g. ``ipt_mean_days`` → 'Average days between purchases'."""
    name = str(name)
    entry = _declared(name)
    own = getattr(entry, "label", None) if entry is not None else None
    if isinstance(own, str) and own:
        return own
    if name in _EXACT:
        return _EXACT[name]
    for pattern, template in _PATTERNS:
        match = pattern.fullmatch(name)
        if match:
            return template.format(**{k: v.replace("_", " ") for k, v in match.groupdict().items()})
    meaning = feature_meaning(name)
    if meaning:
        first = re.split(r"[;:(]| / ", meaning, maxsplit=1)[0].strip().rstrip(".")
        if first:
            return first[:1].upper() + first[1:]
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def column_label(name: str) -> str:
    """A readable table header: score and profile columns by their own names, features from the catalogue."""
    return _OTHER.get(str(name)) or feature_label(name)
