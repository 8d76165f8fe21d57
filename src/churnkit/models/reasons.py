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

from churnkit.models.phrases import (
    NEVER_A_REASON,
    NO_SIGNAL,
    Phrase,
    family,
    never_phrased,
    phrase,
    phraser,
    readable_name,
)
from churnkit.outputs import coded_text

__all__ = ["NEVER_A_REASON", "NO_SIGNAL", "btyd_reasons", "phrase", "readable_name", "top_reasons"]
# NEVER_A_REASON, NO_SIGNAL, phrase and readable_name are re-exported: the reasons' public vocabulary.


def _align(X: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    if X.index.equals(index):
        return X
    if X.index.is_unique and index.isin(X.index).all():
        return X.loc[index]
    raise ValueError("X must have the same rows (index) as contributions")


_EXTRA_CANDIDATES = 4
"""Candidates looked at per row beyond ``k`` in the first pass: room for identical phrases and for features
whose value is no churn reason. Rows these cannot settle go through again with four times as many."""

_CHUNK_ROWS = 100_000
"""Rows per block of the candidate search (bounded memory: one block's partial sort indices at a time)."""


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

    Vectorised: each row's top ``k + 4`` candidates are found with one partial sort (row blocks of
    ``_CHUNK_ROWS``), each feature phrases each distinct value once, and the rows the candidates cannot
    settle (ties at the cut, or too few usable phrases among them) go through the same pass again with
    four times as many candidates, until every feature is a candidate.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    values = _align(X, contributions.index)
    spec = dict(phrases or {})
    features = [str(c) for c in contributions.columns]
    phrasers = [phraser(f, spec) for f in features]
    columns = {str(c): c for c in values.columns}
    n, p = contributions.shape
    if n == 0 or p == 0:
        return pd.Series([NO_SIGNAL] * n, index=contributions.index, name="top_reasons", dtype="str")
    if all(dtype == np.float64 for dtype in contributions.dtypes):
        contrib = contributions.to_numpy()  # no copy for a single float block; NaN stays NaN
    else:
        contrib = contributions.to_numpy(dtype=np.float64, na_value=np.nan)
    cached: dict[int, np.ndarray] = {}

    def column(j: int) -> np.ndarray:
        if j not in cached:
            f = features[j]
            cached[j] = values[columns[f]].to_numpy() if f in columns else np.full(n, None, dtype=object)
        return cached[j]

    # a feature never phrased (e.g. T, total_spend) is skipped wherever it ranks: it is no candidate at all
    silent = np.array([never_phrased(f, spec) for f in features], dtype=bool)
    texts = _Texts()
    chosen = np.full((n, k), -1, dtype=np.int64)  # per row, the numbers of its reasons' texts; -1: none
    rows = np.arange(n)
    m = min(p, k + _EXTRA_CANDIDATES)
    while len(rows):
        kept, unsettled = _reasons_pass(
            contrib, silent, rows, m, k, min_contribution, phrasers, column, texts
        )
        done = ~unsettled
        chosen[rows[done]] = kept[done]
        rows = rows[unsettled]
        m = min(p, 4 * m)  # with every feature a candidate (m = p) each row is settled
    return pd.Series(_joined(chosen, texts.texts), index=contributions.index, name="top_reasons")


class _Texts:
    """The distinct reason texts met so far, numbered in the order met, with the number of each one's family
    (what makes two reasons the same, `family`), worked out once per text."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.families: list[int] = []
        self._numbers: dict[str, int] = {}
        self._family_numbers: dict[str | None, int] = {}

    def number(self, text: str | None) -> int:
        """The number of ``text`` (-1 for no text)."""
        if text is None:
            return -1
        i = self._numbers.get(text)
        if i is None:
            i = self._numbers[text] = len(self.texts)
            self.texts.append(text)
            self.families.append(self._family_numbers.setdefault(family(text), len(self._family_numbers)))
        return i


def _candidates(
    contrib: np.ndarray, silent: np.ndarray, rows: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``contrib[rows]`` (NaN and the ``silent`` columns as -inf): the ``m`` largest columns as a
    stable sort orders them (larger contribution first, then lower column index), and the largest
    contribution of the rest."""
    n, p = len(rows), contrib.shape[1]
    cand = np.empty((n, m), dtype=np.int64)
    next_best = np.full(n, -np.inf)
    contiguous = len(rows) == contrib.shape[0]  # every row, in order: slice blocks instead of copying
    for a in range(0, n, _CHUNK_ROWS):
        b = min(n, a + _CHUNK_ROWS)
        block = contrib[a:b] if contiguous else contrib[rows[a:b]]
        block = np.where(np.isnan(block) | silent, -np.inf, block)
        here = np.arange(b - a)[:, None]
        if m < p:  # one partial sort: the m largest first, then the largest of the rest at position m
            part = np.argpartition(-block, m, axis=1)
            top, next_best[a:b] = part[:, :m], block[here[:, 0], part[:, m]]
        else:
            top = np.broadcast_to(np.arange(p), (b - a, p))
        order = np.lexsort((top, -block[here, top]), axis=1)
        cand[a:b] = top[here, order]
    return cand, next_best


def _reasons_pass(
    contrib: np.ndarray,
    silent: np.ndarray,
    rows: np.ndarray,
    m: int,
    k: int,
    min_contribution: float,
    phrasers: list[Callable[[Any], str | None]],
    column: Callable[[int], np.ndarray],
    texts: _Texts,
) -> tuple[np.ndarray, np.ndarray]:
    """The reasons of ``rows`` from their top ``m`` candidates (their texts' numbers, `_kept_numbers`), and
    which rows those cannot settle."""
    n = len(rows)
    cand, next_best = _candidates(contrib, silent, rows, m)
    picked = contrib[rows[:, None], cand]
    picked = np.where(np.isnan(picked) | silent[cand], -np.inf, picked)
    valid = picked > min_contribution  # a prefix of each row, as the candidates are sorted

    numbers = np.full(n * m, -1, dtype=np.int64)  # the text's number; -1: no text
    positions = np.flatnonzero(valid)  # row-major: row by row
    of_feature = cand.ravel()[positions]
    if contrib.shape[1] <= np.iinfo(np.int16).max:  # a stable sort of 16-bit keys is a radix sort: 10x faster
        of_feature = of_feature.astype(np.int16)
    by_feature = positions[np.argsort(of_feature, kind="stable")]  # still row order inside
    features_of = cand.ravel()[by_feature]
    starts = np.flatnonzero(np.r_[True, features_of[1:] != features_of[:-1]]) if len(by_feature) else []
    ends = [*starts[1:], len(by_feature)] if len(by_feature) else []
    for a, b in zip(starts, ends, strict=True):
        where = by_feature[a:b]
        j = features_of[a]
        numbers[where] = _phrase_values(phrasers[j], column(j)[rows[where // m]], texts)
    numbers = numbers.reshape(n, m)
    # a value that is no churn reason (no text) is skipped; a phrase of a family already given is a repeat
    valid &= numbers >= 0
    families = np.asarray([*texts.families, -1], dtype=np.int64)  # number -1 (no text) picks the last entry
    keep = valid & ~_repeats(np.where(valid, families[numbers], -1 - np.arange(m)))
    keep &= np.cumsum(keep, axis=1) <= k

    # rows the candidates cannot settle: a tie at the cut, or too few distinct phrases among them
    last = picked[:, -1] > min_contribution
    unsettled = last & (next_best >= picked[:, -1])
    unsettled |= (keep.sum(axis=1) < k) & last & (next_best > min_contribution)
    return _kept_numbers(numbers, keep, k), unsettled


def _repeats(keys: np.ndarray) -> np.ndarray:
    """Per row, the entries whose key an earlier entry of the row already has."""
    order = np.argsort(keys, axis=1, kind="stable")  # equal keys stay in column order
    ranked = np.take_along_axis(keys, order, axis=1)
    repeat = np.zeros(keys.shape, dtype=bool)
    np.put_along_axis(repeat, order[:, 1:], ranked[:, 1:] == ranked[:, :-1], axis=1)
    return repeat


def _kept_numbers(numbers: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """Per row, the kept entries (at most k, in column order), then -1 up to k columns."""
    n, m = numbers.shape
    slots = np.argsort(~keep, axis=1, kind="stable")[:, : min(k, m)]  # kept columns first, in order
    kept = np.take_along_axis(numbers, slots, axis=1)
    kept[np.arange(slots.shape[1]) >= keep.sum(axis=1)[:, None]] = -1
    if kept.shape[1] < k:
        kept = np.hstack([kept, np.full((n, k - kept.shape[1]), -1, dtype=kept.dtype)])
    return kept


def _joined(chosen: np.ndarray, texts: list[str]) -> pd.api.extensions.ExtensionArray:
    """Each row's texts (numbers in ``chosen``, -1 for none) joined by "; ", or NO_SIGNAL, as a ``str`` array.

    Rows with the same reasons share one joined string: the distinct combinations are numbered (`_combinations`),
    each joined once, and the column is built from those in Arrow.
    """
    combination, first = _combinations(chosen)
    joined = ["; ".join([texts[i] for i in row if i >= 0]) or NO_SIGNAL for row in chosen[first].tolist()]
    return coded_text(joined, combination)


def _combinations(chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The number of each row's combination of values (numbered in the order met) and each combination's first
    row: the columns folded in one at a time, each fold one hash factorisation of a 64-bit key."""
    n = chosen.shape[0]
    width = int(chosen.max(initial=-1)) + 2  # values -1 … max, shifted to 0 … width - 1
    code = np.zeros(n, dtype=np.int64)
    if n and width > np.iinfo(np.int64).max // n:  # the folded key could overflow: sort the rows instead
        _, first, code = np.unique(chosen, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        return np.argsort(order)[code.ravel()], first[order]
    for i in range(chosen.shape[1]):
        code = pd.factorize(code * width + (chosen[:, i] + 1))[0]
    # numbered in the order met: a row starts a combination where its number exceeds every earlier one
    first = np.flatnonzero(np.r_[True, code[1:] > np.maximum.accumulate(code)[:-1]]) if n else code
    return code, first


def _phrase_values(phraser: Callable[[Any], str | None], vals: np.ndarray, texts: _Texts) -> np.ndarray:
    """The number (`_Texts`) of each value's phrase, calling the phraser once per distinct value (missing
    values phrased as they are)."""
    codes, uniques = pd.factorize(vals, use_na_sentinel=True)
    of_number = getattr(phraser, "of_number", None)  # a built-in phrase: no missing-value test per number
    if of_number is not None and isinstance(uniques, np.ndarray) and uniques.dtype.kind in "fiu":
        numbers = [texts.number(of_number(u)) for u in uniques.astype(np.float64).tolist()]
    else:
        numbers = [texts.number(phraser(u)) for u in _python_scalars(uniques)]
    missing = codes == -1
    if missing.any():
        first = vals[np.argmax(missing)]
        numbers.append(texts.number(phraser(first.item() if isinstance(first, np.generic) else first)))
    else:
        numbers.append(-1)
    return np.asarray(numbers, dtype=np.int64)[codes]  # code -1 (missing) picks the last entry


def _python_scalars(uniques: Any) -> list[Any]:
    """Distinct values as the Python objects a row-by-row pass would hand the phraser."""
    if isinstance(uniques, np.ndarray):
        return uniques.tolist()
    return list(np.asarray(uniques, dtype=object))


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
