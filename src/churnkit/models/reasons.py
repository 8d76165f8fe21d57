"""Per-customer churn reasons: the features pushing the risk up, as short phrases.

:func:`top_reasons` takes per-feature contributions to the churn log-odds (from
:meth:`churnkit.models.boosting.ChurnClassifier.contributions`) and the feature values, keeps the
features with the largest positive contributions and phrases each with its value, e.g.
``"no visit in 45 days; spend down 60% on the previous quarter; only one purchase so far"``.

Phrases follow the feature catalogue (``churnkit.features.catalogue``): trends are
(recent − prior) / (recent + prior) over 90 days (30 for visits) and are phrased as the percentage
change recent / prior − 1; shares and rates are fractions in [0, 1].
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NO_SIGNAL", "readable_name", "top_reasons"]

NO_SIGNAL = "no strong risk signal"
"""The reason given to a customer without any feature pushing the churn risk up."""

Phrase = Callable[[Any], str] | str
"""A user phrase: a callable of the value, or a template with ``{v}``, ``{pct}``, ``{name}`` and the
named groups of a pattern key (e.g. ``{w}`` for ``r"sessions_(?P<w>\\d+)d"``)."""

_DefaultPhrase = Callable[[float, dict[str, str]], str]


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


def _trend_phrase(what: str, period: str, missing: str) -> _DefaultPhrase:
    def phrase(v: float, groups: dict[str, str]) -> str:
        if math.isnan(v):
            return missing
        if v <= -1:
            return f"no {what} in the last {period} (some in the {period} before)"
        if v >= 1:
            return f"no {what} in the {period} before the last"
        if v == 0:
            return f"{what} flat on the previous {period}"
        change = _change(v)
        direction = "down" if change < 0 else "up"
        return f"{what} {direction} {_pct(change)}% on the previous {period}"

    return phrase


def _simple(template: str, missing: str | None = None) -> _DefaultPhrase:
    def phrase(v: float, groups: dict[str, str]) -> str:
        if math.isnan(v):
            return missing or f"no {groups.get('_name', 'value')} on record"
        return template.format(v=v, pct=_pct(v), n=_number(v), money=_money(v), **groups)

    return phrase


def _windowed_count(noun: str, plural: str | None = None) -> _DefaultPhrase:
    def phrase(v: float, groups: dict[str, str]) -> str:
        if math.isnan(v) or v == 0:
            return f"no {plural or noun + 's'} in {_window(groups)}"
        return f"{_count(v, noun, plural)} in {_window(groups)}"

    return phrase


def _frequency(v: float, groups: dict[str, str]) -> str:
    if math.isnan(v) or v == 0:
        return "only one purchase so far"
    return f"{_count(v + 1, 'purchase day')} so far"


def _orders(v: float, groups: dict[str, str]) -> str:
    if math.isnan(v) or v <= 1:
        return "only one order so far"
    return f"{_count(v, 'order')} so far"


def _recency(v: float, groups: dict[str, str]) -> str:
    if math.isnan(v) or v == 0:
        return "no repeat purchase so far"
    return f"last repeat purchase {v:.0f} days after the first"


def _revenue_window(v: float, groups: dict[str, str]) -> str:
    if math.isnan(v) or v == 0:
        return f"no spend in {_window(groups)}"
    if v < 0:
        return f"returns exceeded purchases in {_window(groups)}"
    return f"spent {_money(v)} in {_window(groups)}"


def _returns(v: float, groups: dict[str, str]) -> str:
    if math.isnan(v) or v == 0:
        return "no returns"
    return _count(v, "return")


def _visits_since(v: float, groups: dict[str, str]) -> str:
    if math.isnan(v) or v == 0:
        return "no visits since the last purchase"
    return f"{_count(v, 'visit')} since the last purchase without buying"


def _sessions(v: float, groups: dict[str, str]) -> str:
    if math.isnan(v) or v == 0:
        return "no website visits"
    return f"{_count(v, 'session')} in total"


_ONE_PURCHASE_DAY = "only one purchase so far"  # same text as frequency 0, so it is given once

_EXACT: dict[str, _DefaultPhrase] = {
    # RFM, lifetimes convention
    "frequency": _frequency,
    "recency": _recency,
    "T": _simple("first purchase {v:.0f} days ago"),
    "monetary_value": _simple("average repeat purchase {money}"),
    # RFM, marketing convention
    "days_since_last_purchase": _simple("no purchase in {v:.0f} days"),
    "orders": _orders,
    "total_spend": _simple("total spend {money}"),
    "avg_order_value": _simple("average order {money}"),
    # purchase behaviour
    "tenure_days": _simple("customer for {v:.0f} days"),
    "first_purchase_value": _simple("first purchase worth {money}"),
    "first_order_value": _simple("first order worth {money}"),
    "ipt_mean_days": _simple("usually {v:.0f} days between purchases", _ONE_PURCHASE_DAY),
    "ipt_std_days": _simple(
        "irregular buying (gaps vary by ±{v:.0f} days)", "too few purchases for a rhythm"
    ),
    "gap_ratio": _simple("current gap {v:.1f}× the usual time between purchases", _ONE_PURCHASE_DAY),
    "orders_trend": _trend_phrase("orders", "quarter", "no order trend"),
    "revenue_trend": _trend_phrase("spend", "quarter", "no spend trend"),
    # returns
    "return_count": _returns,
    "return_amount": _simple("returned goods worth {money}"),
    "return_share": _simple("returned {pct}% of spend", "no spend to return"),
    # browsing
    "sessions": _sessions,
    "days_since_last_visit": _simple("no visit in {v:.0f} days", "no website visits on record"),
    "cart_abandonment_rate": _simple("abandoned {pct}% of carts", "no carts on record"),
    "checkout_dropoff": _simple("left {pct}% of checkouts without buying", "no checkouts on record"),
    "browse_to_buy": _simple("only {pct}% of visits end in a purchase", "no website visits on record"),
    "pages_per_session": _simple("{v:.1f} pages per session", "no website visits on record"),
    "visit_trend": _trend_phrase("visits", "30 days", "no visit trend"),
    "visits_since_last_purchase": _visits_since,
    # attributes
    "signup_tenure_days": _simple("signed up {v:.0f} days ago", "no signup date on record"),
    # BTYD outputs
    "p_alive": _simple("BG/NBD P(alive) only {pct}%"),
    "expected_purchases": _simple("only {v:.1f} purchases expected (BG/NBD)"),
    "p_no_purchase": _simple("{pct}% chance of no purchase (BG/NBD)"),
    "expected_spend": _simple("expected spend per purchase {money}"),
    "clv": _simple("predicted lifetime value {money}"),
}

_PATTERNS: tuple[tuple[re.Pattern[str], _DefaultPhrase], ...] = (
    (re.compile(r"orders_(?P<w>\d+)d"), _windowed_count("order")),
    (re.compile(r"revenue_(?P<w>\d+)d"), _revenue_window),
    (re.compile(r"sessions_(?P<w>\d+)d"), _windowed_count("session")),
    (re.compile(r"product_views_(?P<w>\d+)d"), _windowed_count("product view")),
    (re.compile(r"searches_(?P<w>\d+)d"), _windowed_count("search", "searches")),
    (re.compile(r"add_to_carts_(?P<w>\d+)d"), _windowed_count("item added to cart", "items added to cart")),
    (re.compile(r"channel_share_(?P<channel>\w+)"), _simple("{pct}% of orders via {channel}")),
)


def readable_name(feature: str) -> str:
    """A feature name as words: ``"attr_country"`` → ``"country"``, ``"foo_30d"`` → ``"foo (last 30 days)"``."""
    name = re.sub(r"^attr_", "", feature)
    name = re.sub(r"_(\d+)d$", r" (last \1 days)", name)
    return name.replace("_", " ").strip()


def _generic(feature: str) -> Callable[[Any], str]:
    name = readable_name(feature)

    def phrase(v: Any) -> str:
        if _missing(v):
            return f"no {name} on record"
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            return f"{name} is {_number(float(v))}"
        return f"{name} is {v}"

    return phrase


def _user_phrase(feature: str, spec: Phrase, groups: dict[str, str]) -> Callable[[Any], str]:
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


def _phraser(feature: str, phrases: Mapping[str, Phrase]) -> Callable[[Any], str]:
    """The phrase function of one feature: user exact, user pattern, default exact, default pattern, generic."""
    generic = _generic(feature)
    default: Callable[[Any], str] = generic
    name = {"_name": readable_name(feature)}
    if feature in _EXACT:
        default = _with_groups(_EXACT[feature], name, generic)
    else:
        for pattern, func in _PATTERNS:
            match = pattern.fullmatch(feature)
            if match:
                default = _with_groups(func, {**match.groupdict(), **name}, generic)
                break
    user: Callable[[Any], str] | None = None
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


def _with_groups(
    func: _DefaultPhrase, groups: dict[str, str], generic: Callable[[Any], str]
) -> Callable[[Any], str]:
    def phrase(v: Any) -> str:
        if _missing(v):
            return func(math.nan, groups)
        try:
            number = float(v)
        except (TypeError, ValueError):
            return generic(v)
        return func(number, groups)

    return phrase


def _align(X: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    if X.index.equals(index):
        return X
    if X.index.is_unique and index.isin(X.index).all():
        return X.loc[index]
    raise ValueError("X must have the same rows (index) as contributions")


_EXTRA_CANDIDATES = 4
"""Candidates looked at per row beyond ``k``: room for identical phrases (at most a few features share one)."""


def top_reasons(
    contributions: pd.DataFrame,
    X: pd.DataFrame,
    *,
    k: int = 3,
    phrases: Mapping[str, Phrase] | None = None,
    min_contribution: float = 0.0,
) -> pd.Series:
    """The ``k`` features pushing each customer's churn risk up most, as phrases joined by ``"; "``.

    ``contributions``: one column per feature (log-odds contributions, positive = more risk), rows as
    in ``X``, which holds the feature values. Only contributions above ``min_contribution`` count;
    rows without any get :data:`NO_SIGNAL`. Identical phrases (e.g. from ``frequency`` = 0 and a
    missing ``ipt_mean_days``) are given once, and the next feature fills the place. Ties in
    contribution go to the feature that comes first in ``contributions``.

    ``phrases`` adds or overrides phrases, keyed by exact feature name or by a regular expression
    that must match the whole name. A value is a callable of the feature value or a template with
    ``{v}`` (the value), ``{pct}`` (round(|v| × 100)), ``{name}`` (readable name) and the pattern's
    named groups. Missing values always use the built-in phrase. Features without any phrase read
    ``"<readable name> is <value>"``.

    Vectorised: each row's top ``k + 4`` candidates are found with one partial sort, each feature
    phrases each distinct value once, and only rows the candidates cannot settle (ties at the cut, or
    more identical phrases than the spare candidates) go through the row-by-row path.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    values = _align(X, contributions.index)
    spec = dict(phrases or {})
    features = [str(c) for c in contributions.columns]
    phrasers = [_phraser(f, spec) for f in features]
    columns = {str(c): c for c in values.columns}
    contrib = contributions.to_numpy(dtype=np.float64, na_value=np.nan)
    contrib = np.where(np.isnan(contrib), -np.inf, contrib)
    n, p = contrib.shape
    if n == 0 or p == 0:
        return pd.Series([NO_SIGNAL] * n, index=contributions.index, name="top_reasons", dtype="str")

    def column(j: int) -> np.ndarray:
        f = features[j]
        return values[columns[f]].to_numpy() if f in columns else np.full(n, None, dtype=object)

    m = min(p, k + _EXTRA_CANDIDATES)
    rows = np.arange(n)[:, None]
    if m < p:  # one partial sort: the m largest first, then the largest of the rest at position m
        part = np.argpartition(-contrib, m, axis=1)
        cand, next_best = part[:, :m], contrib[np.arange(n), part[:, m]]
    else:
        cand, next_best = np.broadcast_to(np.arange(p), (n, p)), np.full(n, -np.inf)
    # order the candidates as a stable sort would: larger contribution first, then lower column index
    order = np.lexsort((cand, -contrib[rows, cand]), axis=1)
    cand = cand[rows, order]
    picked = contrib[rows, cand]
    valid = picked > min_contribution  # a prefix of each row, as the candidates are sorted

    texts = np.full(n * m, None, dtype=object)
    positions = np.flatnonzero(valid)  # row-major: row by row
    by_feature = positions[np.argsort(cand.ravel()[positions], kind="stable")]  # still row order inside
    features_of = cand.ravel()[by_feature]
    starts = np.flatnonzero(np.r_[True, features_of[1:] != features_of[:-1]])
    for a, b in zip(starts, [*starts[1:], len(by_feature)], strict=True):
        where = by_feature[a:b]
        texts[where] = _phrase_values(phrasers[features_of[a]], column(features_of[a])[where // m])
    texts = texts.reshape(n, m)

    dup = np.zeros((n, m), dtype=bool)
    for t in range(1, m):
        for s in range(t):
            dup[:, t] |= valid[:, t] & (texts[:, t] == texts[:, s])
    keep = valid & ~dup
    keep &= np.cumsum(keep, axis=1) <= k

    # rows the candidates cannot settle: a tie at the cut, or too few distinct phrases among them
    unsettled = (picked[:, -1] > min_contribution) & (next_best >= picked[:, -1])
    unsettled |= (keep.sum(axis=1) < k) & valid[:, -1] & (next_best > min_contribution)

    out = _join_kept(texts, keep, k)
    if unsettled.any():
        value_columns = [column(j) for j in range(p)]
        for i in np.nonzero(unsettled)[0]:
            out[i] = _row_reasons(contrib[i], [c[i] for c in value_columns], phrasers, k, min_contribution)
    return pd.Series(out, index=contributions.index, name="top_reasons", dtype="str")


def _join_kept(texts: np.ndarray, keep: np.ndarray, k: int) -> list[str]:
    """Per row, the kept texts (at most k, in column order) joined by "; ", or NO_SIGNAL."""
    n = texts.shape[0]
    count = keep.sum(axis=1)
    slots = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept columns first, in order
    out = np.full(n, NO_SIGNAL, dtype=object)
    first = count >= 1
    out[first] = texts[first, slots[first, 0]]
    for i in range(1, min(k, texts.shape[1])):
        more = count > i
        out[more] = out[more] + "; " + texts[more, slots[more, i]]
    return out.tolist()


def _phrase_values(phraser: Callable[[Any], str], vals: np.ndarray) -> np.ndarray:
    """Phrase each value, calling the phraser once per distinct value (missing values phrased as they are)."""
    codes, uniques = pd.factorize(vals, use_na_sentinel=True)
    texts = np.array([phraser(u) for u in _python_scalars(uniques)] + [None], dtype=object)
    out = texts[codes]  # code -1 (missing) picks the trailing None
    missing = codes == -1
    if missing.any():
        first = vals[np.argmax(missing)]
        out[missing] = phraser(first.item() if isinstance(first, np.generic) else first)
    return out


def _python_scalars(uniques: Any) -> list[Any]:
    """Distinct values as the Python objects a row-by-row pass would hand the phraser."""
    if isinstance(uniques, np.ndarray):
        return uniques.tolist()
    return list(np.asarray(uniques, dtype=object))


def _row_reasons(
    contrib: np.ndarray,
    row_values: list[Any],
    phrasers: list[Callable[[Any], str]],
    k: int,
    min_contribution: float,
) -> str:
    """One row, feature by feature: the reference the vectorised path must match."""
    chosen: list[str] = []
    for j in np.argsort(-contrib, kind="stable"):
        if contrib[j] <= min_contribution or len(chosen) == k:
            break
        value = row_values[j]
        text = phrasers[j](value.item() if isinstance(value, np.generic) else value)
        if text not in chosen:
            chosen.append(text)
    return "; ".join(chosen) if chosen else NO_SIGNAL
