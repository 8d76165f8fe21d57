"""The reason phrases: the one place that says how a feature value reads as a churn reason.

Each feature of the catalogue (``churnkit.features.catalogue``) has one phrase here, and the phrase says
nothing (``None``) on the side of its value that means no risk: a current gap shorter than the usual one,
spend up on the previous quarter, several sessions last month are not churn reasons. Descriptive facts that
are no reason on their own (age of the account, first purchase value, signup date, channel shares, customer
attributes) are never phrased (:data:`NEVER_A_REASON`).

Numbers are rounded for reading: days and counts whole, money to cents, shares as whole percentages,
the current gap to one decimal ("2.5× the usual"), expected purchases to one decimal ("only 0.4
purchases expected", "almost no purchase expected" below 0.05). Trends are (recent − prior) /
(recent + prior) over 90 days (30 for visits) in the catalogue and are phrased as the percentage change
recent / prior − 1.

Which features are a customer's reasons is :mod:`churnkit.models.reasons`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "NEVER_A_REASON",
    "NO_SIGNAL",
    "ONE_PURCHASE",
    "Phrase",
    "family",
    "never_phrased",
    "phrase",
    "phraser",
    "readable_name",
]

NO_SIGNAL = "no strong risk signal"
"""The reason given to a customer without any feature pushing the churn risk up."""

Phrase = Callable[[Any], str] | str
"""A user phrase: a callable of the value, or a template with ``{v}``, ``{pct}``, ``{name}`` and the
named groups of a pattern key (e.g. ``{w}`` for ``r"sessions_(?P<w>\\d+)d"``)."""

_DefaultPhrase = Callable[[float, dict[str, str]], str | None]


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _number(v: float) -> str:
    """A value in a phrase: whole numbers without decimals, others with a sensible precision."""
    if float(v).is_integer():
        return f"{v:,.0f}"
    if abs(v) < 1:
        return f"{v:.2f}"
    if abs(v) < 100:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def _money(v: float) -> str:
    return f"{v:,.2f}"


def _pct(v: float) -> int:
    return round(abs(v) * 100)


def _count(v: float, noun: str, plural: str | None = None) -> str:
    n = round(v)
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def _window(groups: dict[str, str]) -> str:
    return f"the last {groups['w']} days"


def _change(trend: float) -> float:
    """Relative change recent / prior − 1 from the symmetric trend (recent − prior) / (recent + prior)."""
    return 2 * trend / (1 - trend)


def _never(v: float, groups: dict[str, str]) -> None:
    return None


def _trend_down(what: str, period: str) -> _DefaultPhrase:
    """A falling trend is a reason; flat, rising or missing is not."""

    def phrase(v: float, groups: dict[str, str]) -> str | None:
        if math.isnan(v) or v >= 0:
            return None
        if v <= -1:
            return f"no {what} in the last {period} (some in the {period} before)"
        return f"{what} down {_pct(_change(v))}% on the previous {period}"

    return phrase


def _days(template: str, *, at_least: float = 30, missing: str | None = None) -> _DefaultPhrase:
    """Days since something, as a reason only from ``at_least`` days (a month) on."""

    def phrase(v: float, groups: dict[str, str]) -> str | None:
        if math.isnan(v):
            return missing
        if v < at_least:
            return None
        return template.format(n=f"{v:,.0f}")

    return phrase


def _share(template: str, *, above: float = 0.0, below: float | None = None) -> _DefaultPhrase:
    """A share phrased as a whole percentage, only on its risky side (``> above`` or ``< below``)."""

    def phrase(v: float, groups: dict[str, str]) -> str | None:
        if math.isnan(v):
            return None
        if below is not None:
            if v >= below:
                return None
        elif v <= above:
            return None
        return template.format(pct=_pct(v), **groups)

    return phrase


def _none_in_window(plural: str) -> _DefaultPhrase:
    """No activity in a window is a reason; some activity is not."""

    def phrase(v: float, groups: dict[str, str]) -> str | None:
        if math.isnan(v) or v <= 0:
            return f"no {plural} in {_window(groups)}"
        return None

    return phrase


def _frequency(v: float, groups: dict[str, str]) -> str | None:
    return ONE_PURCHASE if math.isnan(v) or v <= 0 else None


def _orders(v: float, groups: dict[str, str]) -> str | None:
    if math.isnan(v) or v <= 1:
        return ONE_PURCHASE
    if v <= 2:
        return "only 2 orders so far"
    return None


def _recency(v: float, groups: dict[str, str]) -> str | None:
    return ONE_PURCHASE if math.isnan(v) or v == 0 else None


def _revenue_window(v: float, groups: dict[str, str]) -> str | None:
    if math.isnan(v) or v == 0:
        return f"no spend in {_window(groups)}"
    if v < 0:
        return f"returns exceeded purchases in {_window(groups)}"
    return None


def _gap_ratio(v: float, groups: dict[str, str]) -> str | None:
    if math.isnan(v):
        return ONE_PURCHASE
    if v < 1.05:  # a gap shorter than (or about) the usual one is no churn reason
        return None
    return f"current gap {v:.1f}× the usual time between purchases"


def _ipt_std(v: float, groups: dict[str, str]) -> str | None:
    if math.isnan(v) or v < 1:
        return None
    return f"irregular buying (gaps vary by ±{v:,.0f} days)"


def _positive_count(noun: str, plural: str | None = None) -> _DefaultPhrase:
    def phrase(v: float, groups: dict[str, str]) -> str | None:
        return None if math.isnan(v) or v <= 0 else _count(v, noun, plural)

    return phrase


def _positive_money(template: str) -> _DefaultPhrase:
    def phrase(v: float, groups: dict[str, str]) -> str | None:
        return None if math.isnan(v) or v <= 0 else template.format(money=_money(v))

    return phrase


def _visits_since(v: float, groups: dict[str, str]) -> str | None:
    if math.isnan(v) or v <= 0:
        return None
    return f"{_count(v, 'visit')} since the last purchase without buying"


def _sessions(v: float, groups: dict[str, str]) -> str | None:
    return "no website visits" if math.isnan(v) or v <= 0 else None


def _p_alive(v: float, groups: dict[str, str]) -> str | None:
    if math.isnan(v) or v >= 0.5:
        return None
    chance = "under 1" if v < 0.005 else f"only {_pct(v)}"
    return f"{chance}% likely to still be an active customer (BG/NBD)"


def _expected_purchases(v: float, groups: dict[str, str]) -> str | None:
    if math.isnan(v) or v >= 0.95:
        return None
    if v < 0.05:
        return "almost no purchase expected (BG/NBD)"
    return f"only {v:.1f} purchases expected (BG/NBD)"


def _p_no_purchase(v: float, groups: dict[str, str]) -> str | None:
    if math.isnan(v) or v <= 0.5:
        return None
    chance = "over 99" if v >= 0.995 else str(_pct(v))
    return f"{chance}% chance of no purchase in the horizon (BG/NBD)"


ONE_PURCHASE = "only one purchase so far"
"""Said once, whichever of frequency 0, recency 0 or a missing gap gave it."""

_EXACT: dict[str, _DefaultPhrase] = {
    # RFM, lifetimes convention
    "frequency": _frequency,
    "recency": _recency,
    "T": _never,
    "monetary_value": _never,
    # RFM, marketing convention
    "days_since_last_purchase": _days("no purchase in {n} days"),
    "orders": _orders,
    "total_spend": _never,
    "avg_order_value": _never,
    # purchase behaviour
    "tenure_days": _never,
    "first_purchase_value": _never,
    "ipt_mean_days": _recency,  # missing with one purchase day; a usual gap is no reason
    "ipt_std_days": _ipt_std,
    "gap_ratio": _gap_ratio,
    "orders_trend": _trend_down("orders", "quarter"),
    "revenue_trend": _trend_down("spend", "quarter"),
    # returns
    "return_count": _positive_count("return"),
    "return_amount": _positive_money("returned goods worth {money}"),
    "return_share": _share("returned {pct}% of spend"),
    # browsing
    "sessions": _sessions,
    "days_since_last_visit": _days("no visit in {n} days", missing="no website visits on record"),
    "cart_abandonment_rate": _share("abandoned {pct}% of carts"),
    "checkout_dropoff": _share("left {pct}% of checkouts without buying"),
    "browse_to_buy": _share("only {pct}% of visits end in a purchase", below=0.2),
    "pages_per_session": _never,
    "visit_trend": _trend_down("visits", "30 days"),
    "visits_since_last_purchase": _visits_since,
    # attributes
    "signup_tenure_days": _never,
    # BTYD outputs
    "p_alive": _p_alive,
    "expected_purchases": _expected_purchases,
    "p_no_purchase": _p_no_purchase,
    "expected_spend": _never,
    "clv": _never,
}

_PATTERNS: tuple[tuple[re.Pattern[str], _DefaultPhrase], ...] = (
    (re.compile(r"orders_(?P<w>\d+)d"), _none_in_window("orders")),
    (re.compile(r"revenue_(?P<w>\d+)d"), _revenue_window),
    (re.compile(r"sessions_(?P<w>\d+)d"), _none_in_window("sessions")),
    (re.compile(r"product_views_(?P<w>\d+)d"), _none_in_window("product views")),
    (re.compile(r"searches_(?P<w>\d+)d"), _none_in_window("searches")),
    (re.compile(r"add_to_carts_(?P<w>\d+)d"), _none_in_window("items added to cart")),
    (re.compile(r"channel_share_(?P<channel>\w+)"), _never),
    (re.compile(r"attr_(?P<column>\w+)"), _never),
)

NEVER_A_REASON: frozenset[str] = frozenset(k for k, f in _EXACT.items() if f is _never)
"""Catalogue features that are descriptive facts, never phrased as a churn reason (also
``channel_share_*`` and ``attr_*``), unless a user phrase is configured for them."""


def phrase(feature: str, value: Any) -> str | None:
    """The built-in reason text of one feature value, or None when that value is no churn reason."""
    return phraser(feature, {})(value)


_WINDOW = re.compile(r"in the last \d+ days")


def family(text: str | None) -> str | None:
    """What makes two reasons the same: the text, with a window's length left out ("no searches in the last
    30 days" and "... 90 days" are said once, the stronger one)."""
    return None if text is None else _WINDOW.sub("in the last N days", text)


def readable_name(feature: str) -> str:
    """A feature name as words: ``"attr_country"`` → ``"country"``, ``"foo_30d"`` → ``"foo (last 30 days)"``."""
    name = re.sub(r"^attr_", "", feature)
    name = re.sub(r"_(\d+)d$", r" (last \1 days)", name)
    return name.replace("_", " ").strip()


def _generic(feature: str) -> Callable[[Any], str | None]:
    name = readable_name(feature)

    def phrase(v: Any) -> str:
        if _missing(v):
            return f"no {name} on record"
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            return f"{name} is {_number(float(v))}"
        return f"{name} is {v}"

    return phrase


def _user_phrase(feature: str, spec: Phrase, groups: dict[str, str]) -> Callable[[Any], str | None]:
    if callable(spec):
        return spec
    name = readable_name(feature)

    def phrase(v: Any) -> str:
        pct = _pct(v) if isinstance(v, (int, float, np.number)) else v
        try:
            return spec.format(v=v, pct=pct, name=name, **groups)
        except (ValueError, KeyError, IndexError) as exc:
            raise ValueError(
                f"phrase template {spec!r} for feature {feature!r} failed on {v!r}: {exc}"
            ) from exc

    return phrase


def phraser(feature: str, phrases: Mapping[str, Phrase]) -> Callable[[Any], str | None]:
    """The phrase function of one feature: user exact, user pattern, default exact, default pattern, generic."""
    generic = _generic(feature)
    default: Callable[[Any], str | None] = generic
    name = {"_name": readable_name(feature)}
    if feature in _EXACT:
        default = _with_groups(_EXACT[feature], name, generic)
    else:
        for pattern, func in _PATTERNS:
            match = pattern.fullmatch(feature)
            if match:
                default = _with_groups(func, {**match.groupdict(), **name}, generic)
                break
    user: Callable[[Any], str | None] | None = None
    if feature in phrases:
        user = _user_phrase(feature, phrases[feature], {})
    else:
        for key, spec in phrases.items():
            match = re.fullmatch(key, feature)
            if match:
                user = _user_phrase(feature, spec, match.groupdict())
                break
    if user is None:
        return default

    def phrase(v: Any) -> str:
        return default(v) if _missing(v) else user(v)

    return phrase


def never_phrased(feature: str, phrases: Mapping[str, Phrase]) -> bool:
    """Whether ``phraser(feature, phrases)`` says nothing (None) whatever the value: a feature whose built-in
    phrase is "never a reason" and that no user phrase (exact name or pattern) covers."""
    if feature in phrases or any(re.fullmatch(key, feature) for key in phrases):
        return False
    if feature in _EXACT:
        return _EXACT[feature] is _never
    for pattern, func in _PATTERNS:
        if pattern.fullmatch(feature):
            return func is _never
    return False


def _with_groups(
    func: _DefaultPhrase, groups: dict[str, str], generic: Callable[[Any], str | None]
) -> Callable[[Any], str | None]:
    def phrase(v: Any) -> str | None:
        if func is _never:
            return None
        if _missing(v):
            return func(math.nan, groups)
        try:
            number = float(v)
        except (TypeError, ValueError):
            return generic(v)
        return func(number, groups)

    def of_number(v: float) -> str | None:
        """``phrase`` of a float that is not NaN (the reasons phrase a million distinct numbers in one table)."""
        return None if func is _never else func(v, groups)

    phrase.of_number = of_number  # type: ignore[attr-defined]
    return phrase
