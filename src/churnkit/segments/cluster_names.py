"""Readable cluster names from how each cluster sits against the whole base (see ``docs/segments.md``).

A trait is named only when the cluster's mean percentile is far from the middle and its raw mean lies on the
same side of the base's mean; recency always enters a name when it stands out; colliding names get more traits,
then a comparative, then a number.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = [
    "ALWAYS_NAMED",
    "DIMENSIONS",
    "LAPSED_DAYS",
    "MAX_TRAITS",
    "RECENT_DAYS",
    "STRONG",
    "name_clusters",
]

STRONG = 0.15
"""A cluster trait is named when its mean percentile is at least this far from the base's 0.5."""
MAX_TRAITS = 2
"""Traits in a name before disambiguation adds more (a strong recency trait is always added)."""
ALWAYS_NAMED = ("recency",)
"""Dimensions named whenever they are a trait, on top of the MAX_TRAITS strongest."""
LAPSED_DAYS = 180
"""A cluster whose median days since the last purchase is at least this is "lapsed", whatever the base."""
RECENT_DAYS = 90
"""A cluster is "recent" only if its median days since the last purchase is at most this (and below the base)."""

# Naming dimensions: (key, candidate columns, word when high, word when low, kind).
# kind "adj" words go before the noun, "noun" words are the noun phrases.
DIMENSIONS: tuple[tuple[str, tuple[str, ...], str, str, str], ...] = (
    ("value", ("total_spend", "monetary_value", "revenue_90d"), "high-spend", "low-spend", "adj"),
    ("frequency", ("orders", "frequency", "orders_90d"), "frequent buyers", "rare buyers", "noun"),
    ("recency", ("days_since_last_purchase",), "lapsed", "recent", "adj"),
    (
        "browsing",
        ("sessions_90d", "product_views_90d", "add_to_carts_90d"),
        "frequent browsers",
        "rare browsers",
        "noun",
    ),
    ("tenure", ("T",), "long-standing", "new", "adj"),
    ("abandonment", ("cart_abandonment_rate",), "cart abandoners", "checkout finishers", "noun"),
    ("conversion", ("browse_to_buy",), "high-converting", "low-converting", "adj"),
    ("visit_recency", ("days_since_last_visit",), "dormant", "active", "adj"),
)
_ADJ_ORDER = ("recency", "visit_recency", "tenure", "value", "conversion")
# Comparative suffixes used to tell two clusters with the same name apart: (higher, lower).
_COMPARATIVES = {
    "value": ("higher spend", "lower spend"),
    "frequency": ("more orders", "fewer orders"),
    "recency": ("less recent", "more recent"),
    "browsing": ("more browsing", "less browsing"),
    "tenure": ("longer-standing", "newer"),
    "abandonment": ("more abandonment", "less abandonment"),
    "conversion": ("higher conversion", "lower conversion"),
    "visit_recency": ("less recent visits", "more recent visits"),
}


def _trait_words(key: str, level: str) -> tuple[str, str]:
    for dim_key, _, high, low, kind in DIMENSIONS:
        if dim_key == key:
            return (high if level == "high" else low), kind
    # A clustering feature outside the known dimensions, e.g. "high basket size".
    return f"{level} {key.replace('_', ' ')}", "noun"


def _compose(traits: Sequence[tuple[str, str]]) -> str:
    """Build a name from (dimension, level) traits: adjectives, then noun phrases."""
    words = {key: _trait_words(key, level) for key, level in traits}
    adjs = [words[k][0] for k in _ADJ_ORDER if k in words and words[k][1] == "adj"]
    # Noun order is canonical: known dimensions in their declared order, then other columns by name.
    order = [d[0] for d in DIMENSIONS]
    noun_keys = sorted(
        (k for k in words if words[k][1] == "noun"),
        key=lambda k: (order.index(k) if k in order else len(order), k),
    )
    nouns = [words[k][0] for k in noun_keys]
    if not traits:
        return "average customers"
    if not nouns:
        nouns = ["customers"]
    return " ".join([*adjs, nouns[0]]) + "".join(f", {n}" for n in nouns[1:])


def _first(traits: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """The n strongest traits, plus any ALWAYS_NAMED trait further down."""
    return traits[:n] + [t for t in traits[n:] if t[0] in ALWAYS_NAMED]


def name_clusters(
    percentiles: pd.DataFrame,
    sides: pd.DataFrame | None = None,
    recency_days: pd.Series | None = None,
) -> dict[int, str]:
    """Distinct readable names from each cluster's mean percentile per dimension (rows = cluster ids).

    A dimension is a trait when its mean percentile is >= 0.5 + STRONG (high) or <= 0.5 - STRONG (low)
    and, when ``sides`` is given (sign of the cluster's mean minus the base's mean, same shape), the mean
    agrees (> 0 for high, < 0 for low). The MAX_TRAITS strongest traits, plus a recency trait wherever it
    ranks, make the name (ties broken by column order). Colliding names get more traits, then a comparative
    suffix for a pair, then " #2", " #3", ... in cluster-id order. With ``recency_days`` (each cluster's
    median days since the last purchase), recency also reads in absolute terms: "lapsed" from LAPSED_DAYS
    on, and "recent" only up to RECENT_DAYS, so a base of mostly long-gone customers does not make a
    cluster that last bought a year ago "recent".
    """
    ranked: dict[int, list[tuple[str, str]]] = {}
    for cid, row in percentiles.iterrows():
        strength = (row - 0.5).abs().fillna(0.0)
        order = sorted(range(len(row)), key=lambda i: (-round(float(strength.iloc[i]), 12), i))
        traits = []
        for i in order:
            if strength.iloc[i] < STRONG:
                continue
            key, level = str(row.index[i]), "high" if row.iloc[i] > 0.5 else "low"
            if sides is not None and key in sides.columns:
                side = sides.loc[cid, key]
                if not (side > 0 if level == "high" else side < 0):
                    continue
            traits.append((key, level))
        if recency_days is not None and "recency" in row.index and cid in recency_days.index:
            days = recency_days.loc[cid]
            traits = [t for t in traits if not (t == ("recency", "low") and not days <= RECENT_DAYS)]
            if days >= LAPSED_DAYS and ("recency", "high") not in traits:
                traits.append(("recency", "high"))  # named by _first, without displacing a trait
        ranked[int(cid)] = traits
    n_traits = dict.fromkeys(ranked, MAX_TRAITS)
    names = {cid: _compose(_first(traits, MAX_TRAITS)) for cid, traits in ranked.items()}

    def collisions() -> list[list[int]]:
        groups: dict[str, list[int]] = {}
        for cid in sorted(names):
            groups.setdefault(names[cid], []).append(cid)
        return [g for g in groups.values() if len(g) > 1]

    # 1) add further traits to colliding clusters while any of them has more to give
    while True:
        grew = False
        for group in collisions():
            for cid in group:
                if n_traits[cid] < len(ranked[cid]):
                    n_traits[cid] += 1
                    names[cid] = _compose(_first(ranked[cid], n_traits[cid]))
                    grew = True
        if not grew:
            break
    # 2) a pair that still collides: compare along the dimension where they differ most
    for group in collisions():
        if len(group) != 2:
            continue
        spread = (percentiles.loc[group[0]] - percentiles.loc[group[1]]).abs().fillna(0.0)
        if spread.max() < 0.02:
            continue
        # prefer a dimension the name does not already state: "recent buyers (less recent)" contradicts itself
        named = {key for key, _ in _first(ranked[group[0]], n_traits[group[0]])}
        unnamed = spread[[c for c in spread.index if c not in named]]
        key = str(unnamed.idxmax() if len(unnamed) and unnamed.max() >= 0.02 else spread.idxmax())
        hi, lo = _COMPARATIVES.get(key, (f"higher {key.replace('_', ' ')}", f"lower {key.replace('_', ' ')}"))
        of_two = " of the two" if key in named else ""
        first_higher = percentiles.loc[group[0], key] > percentiles.loc[group[1], key]
        base = names[group[0]]
        names[group[0]] = f"{base} ({hi if first_higher else lo}{of_two})"
        names[group[1]] = f"{base} ({lo if first_higher else hi}{of_two})"
    # 3) anything left: number the later clusters
    while groups := collisions():
        for group in groups:
            for i, cid in enumerate(group[1:], start=2):
                names[cid] = f"{names[cid]} #{i}"
    return names
