"""Per-customer churn reasons: the features pushing the risk up, as short phrases a marketer reads.

:func:`top_reasons` takes per-feature contributions to the churn log-odds (from
:meth:`churnkit.models.churn.ChurnClassifier.contributions`, the maths in :mod:`churnkit.models.attribution`)
and the feature values, keeps the features with the largest positive contributions and phrases each with its
value (:mod:`churnkit.models.phrases`, the one source of the phrases), e.g.
``"no purchase in 120 days; spend down 60% on the previous quarter; only one purchase so far"``.

A reason is given only when it *raises* this customer's risk and reads as a churn reason: the feature's
contribution is positive (above ``min_contribution``) and its phrase says something for the value (else the
next feature fills the place). The BTYD-only reasons (:func:`btyd_reasons`) use the same phrases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from churnkit.models.phrases import NEVER_A_REASON, NO_SIGNAL, Phrase, family, phrase, phraser, readable_name

__all__ = ["NEVER_A_REASON", "NO_SIGNAL", "btyd_reasons", "phrase", "readable_name", "top_reasons"]
# NEVER_A_REASON, NO_SIGNAL, phrase and readable_name are re-exported: the reasons' public vocabulary.


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
    phrasers = [phraser(f, spec) for f in features]
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
    families = np.array([family(t) for t in texts.ravel()], dtype=object).reshape(n, m)
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
        if text is not None and family(text) not in seen:
            chosen.append(text)
            seen.add(family(text))
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
