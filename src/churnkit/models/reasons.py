"""Per-customer churn reasons: the features pushing the risk up, as short phrases a marketer reads.

:func:`top_reasons` takes per-feature contributions to the churn log-odds (from
:meth:`churnkit.models.churn.ChurnClassifier.contributions`) and the feature values, keeps the
features with the largest positive contributions and phrases each with its value, e.g.
``"no purchase in 120 days; spend down 60% on the previous quarter; only one purchase so far"``.

A reason is given only when it *raises* this customer's risk and reads as a churn reason:

- the feature's contribution is positive (above ``min_contribution``);
- its value lies on the side that means risk. Each feature of the catalogue
  (``churnkit.features.catalogue``) has one phrase here, and the phrase says nothing (``None``) on the
  other side: a current gap shorter than the usual one, spend up on the previous quarter, several
  sessions last month are not churn reasons, so they are skipped and the next feature fills the place;
- descriptive facts that are no reason on their own (age of the account, first purchase value, signup
  date, channel shares, customer attributes) are never phrased.

Numbers are rounded for reading: days and counts whole, money to cents, shares as whole percentages,
the current gap to one decimal ("2.5× the usual"), expected purchases to one decimal ("only 0.4
purchases expected", "almost no purchase expected" below 0.05). Trends are (recent − prior) /
(recent + prior) over 90 days (30 for visits) in the catalogue and are phrased as the percentage change
recent / prior − 1. The BTYD-only reasons (:func:`btyd_reasons`) use the same phrases.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NEVER_A_REASON", "NO_SIGNAL", "btyd_reasons", "phrase", "readable_name", "top_reasons"]

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
    return _phraser(feature, {})(value)


_WINDOW = re.compile(r"in the last \d+ days")


def _family(text: str | None) -> str | None:
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


def _phraser(feature: str, phrases: Mapping[str, Phrase]) -> Callable[[Any], str | None]:
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

    valid &= texts != None  # noqa: E711 (elementwise): a value that is no churn reason is skipped
    families = np.array([_family(t) for t in texts.ravel()], dtype=object).reshape(n, m)
    dup = np.zeros((n, m), dtype=bool)
    for t in range(1, m):
        for s in range(t):
            dup[:, t] |= valid[:, t] & valid[:, s] & (families[:, t] == families[:, s])
    keep = valid & ~dup
    keep &= np.cumsum(keep, axis=1) <= k

    # rows the candidates cannot settle: a tie at the cut, or too few distinct phrases among them
    unsettled = (picked[:, -1] > min_contribution) & (next_best >= picked[:, -1])
    unsettled |= (keep.sum(axis=1) < k) & (picked[:, -1] > min_contribution) & (next_best > min_contribution)

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


def _phrase_values(phraser: Callable[[Any], str | None], vals: np.ndarray) -> np.ndarray:
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
    phrasers: list[Callable[[Any], str | None]],
    k: int,
    min_contribution: float,
) -> str:
    """One row, feature by feature: the reference the vectorised path must match."""
    chosen: list[str] = []
    seen: set[str | None] = set()
    for j in np.argsort(-contrib, kind="stable"):
        if contrib[j] <= min_contribution or len(chosen) == k:
            break
        value = row_values[j]
        text = phrasers[j](value.item() if isinstance(value, np.generic) else value)
        if text is not None and _family(text) not in seen:
            chosen.append(text)
            seen.add(_family(text))
    return "; ".join(chosen) if chosen else NO_SIGNAL


BTYD_RULES: tuple[tuple[str, Callable[[pd.Series], pd.Series]], ...] = (
    ("days_since_last_purchase", lambda v: v >= 60),
    ("frequency", lambda v: v == 0),
    ("p_alive", lambda v: v < 0.5),
)
"""Reasons without a boosted model, strongest first: (feature, when it is a reason)."""


def btyd_reasons(frame: pd.DataFrame, *, k: int = 3) -> pd.Series:
    """Reasons for BTYD-only scores, with the same phrases as :func:`top_reasons`.

    ``frame`` holds ``days_since_last_purchase``, ``frequency`` and ``p_alive`` (those present are used):
    no purchase in 60 days or more, a single purchase so far, and a BG/NBD P(alive) below 50 %.
    """
    X = pd.DataFrame(index=frame.index)
    weights = {}
    for rank, (feature, rule) in enumerate(BTYD_RULES):
        if feature not in frame.columns:
            continue
        values = pd.to_numeric(frame[feature], errors="coerce")
        X[feature] = values
        weights[feature] = np.where(
            rule(values).fillna(False).to_numpy(dtype=bool), len(BTYD_RULES) - rank, np.nan
        )
    return top_reasons(pd.DataFrame(weights, index=frame.index), X, k=k)
