"""RFM scores (marketing convention) and the named RFM segments.

Scores are quantiles over the customer base at D: R from ``days_since_last_purchase`` (scored
inversely, most recent = highest), F from ``orders``, M from ``total_spend``. Tied customers always
share a score: each customer is placed by the middle of its tie group's percentile span (average rank),
so ``score = floor(bins * (rank_avg - 0.5) / n) + 1``. Everyone tied (e.g. every customer has one order)
gets the middle score. See ``docs/segments.md`` for the segment map and worked examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from churnkit.errors import ConfigError, InputError

RECENCY_COL = "days_since_last_purchase"
FREQUENCY_COL = "orders"
MONETARY_COL = "total_spend"

UNMATCHED_SEGMENT = "Other"
"""Label for customers that no rule of a (custom) segment map matches."""

MAP_SCALE = 5
"""Segment maps are written on the 1–5 score scale whatever ``bins`` is."""

DEFAULT_SEGMENT_MAP: list[dict[str, Any]] = [
    {
        "name": "Champions",
        "r": [4, 5],
        "fm": [4, 5],
        "description": "Bought recently, buy often and spend the most.",
    },
    {
        "name": "Loyal",
        "r": [3, 5],
        "fm": [3, 5],
        "description": "Buy regularly and spend well; respond to loyalty programmes.",
    },
    {
        "name": "Potential Loyalist",
        "r": [4, 5],
        "fm": [2, 3],
        "description": "Recent customers with average frequency and spend.",
    },
    {
        "name": "New Customers",
        "r": [5, 5],
        "fm": [1, 2],
        "description": "Bought very recently, but rarely and for little so far.",
    },
    {
        "name": "Promising",
        "r": [4, 4],
        "fm": [1, 2],
        "description": "Fairly recent shoppers who have not bought much yet.",
    },
    {
        "name": "Need Attention",
        "r": [3, 3],
        "fm": [2, 3],
        "description": "Average recency, frequency and spend; may slip without a nudge.",
    },
    {
        "name": "About to Sleep",
        "r": [3, 3],
        "fm": [1, 2],
        "description": "Average recency, low frequency and spend; lost without reactivation.",
    },
    {
        "name": "Can't Lose Them",
        "r": [1, 1],
        "fm": [4, 5],
        "description": "Used to buy often and spend the most, but have not come back for a long time.",
    },
    {
        "name": "At Risk",
        "r": [1, 2],
        "fm": [3, 5],
        "description": "Bought often and spent well, but long ago.",
    },
    {
        "name": "Hibernating",
        "r": [2, 2],
        "fm": [1, 3],
        "description": "Last purchase long ago, few orders, low spend.",
    },
    {
        "name": "Lost",
        "r": [1, 1],
        "fm": [1, 3],
        "description": "Lowest recency, frequency and spend.",
    },
]
"""The classic 11-segment map on R score vs the average of F and M scores.

Each rule has a ``name``, closed ranges ``r`` and ``fm`` (on the 1–5 scale) and an optional
``description``. Rules are tried in order and the first match wins, so a boundary belongs to the
earlier rule. Override with a list of dicts of the same shape (e.g. from the YAML config).
"""

SEGMENT_ORDER: tuple[str, ...] = tuple(rule["name"] for rule in DEFAULT_SEGMENT_MAP)
"""Default segment names from best to worst, for ordering tables and plots."""

_RULE_KEYS = {"name", "r", "fm", "description"}


def _require_columns(features: pd.DataFrame, columns: Iterable[str]) -> None:
    if not isinstance(features, pd.DataFrame):
        raise InputError(f"Expected a pandas DataFrame of features, got {type(features).__name__}")
    for col in columns:
        if col not in features.columns:
            raise InputError(f"Required column {col} missing from the features table", column=col)


def _check_bins(bins: int) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 2 <= bins <= 9:
        raise ConfigError(f"bins must be a whole number from 2 to 9, got {bins!r}")
    return int(bins)


def quantile_scores(values: pd.Series, *, bins: int = 5, ascending: bool = True) -> pd.Series:
    """Score ``values`` 1..bins by average-rank quantiles; ties share a score.

    ``ascending=False`` scores small values highest (used for recency in days).
    """
    bins = _check_bins(bins)
    n = len(values)
    if n == 0:
        return pd.Series([], index=values.index, dtype="int64")
    # Average ranks of tie groups are multiples of 0.5, so 2 * rank is an exact integer.
    twice_rank = np.rint(2 * values.rank(method="average", ascending=ascending).to_numpy()).astype("int64")
    scores = (bins * (twice_rank - 1)) // (2 * n) + 1
    return pd.Series(scores, index=values.index, dtype="int64")


def _numeric_column(features: pd.DataFrame, col: str) -> pd.Series:
    values = pd.to_numeric(features[col], errors="coerce")
    bad = values.isna() & ~features[col].isna()
    if bad.any():
        raise InputError(f"Column {col} must be numeric ({int(bad.sum())} non-numeric values)", column=col)
    if values.isna().any():
        raise InputError(
            f"Column {col} has {int(values.isna().sum())} missing values; every customer in the base "
            "needs a value to be scored",
            column=col,
        )
    return values.astype("float64")


def rfm_scores(
    features: pd.DataFrame,
    *,
    bins: int = 5,
    recency_col: str = RECENCY_COL,
    frequency_col: str = FREQUENCY_COL,
    monetary_col: str = MONETARY_COL,
) -> pd.DataFrame:
    """R, F and M scores 1..bins over the base, and the ``rfm_score`` string (e.g. ``"545"``).

    One row per customer is expected; the input index is kept.
    """
    bins = _check_bins(bins)
    cols = {"r_score": recency_col, "f_score": frequency_col, "m_score": monetary_col}
    _require_columns(features, ["customer_id", *cols.values()])
    dup = features["customer_id"].duplicated()
    if dup.any():
        raise InputError(
            f"RFM scores need one row per customer; {int(dup.sum())} duplicate customer_id values "
            "(filter a stacked training table to one as-of date first)",
            column="customer_id",
        )
    out = pd.DataFrame({"customer_id": features["customer_id"]}, index=features.index)
    for score, col in cols.items():
        values = _numeric_column(features, col)
        out[score] = quantile_scores(values, bins=bins, ascending=col != recency_col)
    out["rfm_score"] = out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    return out


def _as_range(rule_name: str, key: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ConfigError(f"Segment rule {rule_name!r}: {key} must be a [low, high] pair, got {value!r}")
    try:
        lo, hi = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise ConfigError(
            f"Segment rule {rule_name!r}: {key} bounds must be numbers, got {value!r}"
        ) from None
    if not (1 <= lo <= hi <= MAP_SCALE):
        raise ConfigError(
            f"Segment rule {rule_name!r}: {key} must satisfy 1 <= low <= high <= {MAP_SCALE}, got {value!r}"
        )
    return lo, hi


def validate_segment_map(segment_map: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check a segment map and return it as a list of normalised rules; raises ``ConfigError``."""
    if isinstance(segment_map, (str, bytes, Mapping)) or not isinstance(segment_map, Iterable):
        raise ConfigError("The segment map must be a list of rules, each with name, r and fm")
    rules: list[dict[str, Any]] = []
    for i, rule in enumerate(segment_map):
        if not isinstance(rule, Mapping):
            raise ConfigError(f"Segment rule {i + 1} must be a mapping with name, r and fm, got {rule!r}")
        unknown = set(rule) - _RULE_KEYS
        if unknown:
            raise ConfigError(
                f"Segment rule {i + 1} has unknown keys {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}"
            )
        name = rule.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"Segment rule {i + 1} needs a non-empty name")
        for key in ("r", "fm"):
            if key not in rule:
                raise ConfigError(f"Segment rule {name!r} needs an {key} range")
        rules.append(
            {"name": name, "r": _as_range(name, "r", rule["r"]), "fm": _as_range(name, "fm", rule["fm"])}
        )
    if not rules:
        raise ConfigError("The segment map has no rules")
    return rules


def _to_map_scale(scores: pd.Series, bins: int) -> np.ndarray:
    """Rescale scores 1..bins onto 1..5 and round half up, so maps always use the 1–5 scale."""
    values = scores.to_numpy(dtype="float64")
    if bins == MAP_SCALE:
        return values
    return np.floor(1 + (values - 1) * (MAP_SCALE - 1) / (bins - 1) + 0.5)


def assign_segments(
    r: pd.Series,
    f: pd.Series,
    m: pd.Series,
    *,
    segment_map: Iterable[Mapping[str, Any]] | None = None,
    bins: int = 5,
) -> pd.Series:
    """Name each customer from its R, F, M scores; first matching rule wins, else ``"Other"``."""
    bins = _check_bins(bins)
    rules = validate_segment_map(DEFAULT_SEGMENT_MAP if segment_map is None else segment_map)
    r5 = _to_map_scale(r, bins)
    fm5 = (_to_map_scale(f, bins) + _to_map_scale(m, bins)) / 2
    conditions = [
        (r5 >= rule["r"][0]) & (r5 <= rule["r"][1]) & (fm5 >= rule["fm"][0]) & (fm5 <= rule["fm"][1])
        for rule in rules
    ]
    names = np.select(conditions, [rule["name"] for rule in rules], default=UNMATCHED_SEGMENT)
    return pd.Series(names, index=r.index, dtype="str", name="rfm_segment")


def rfm_segments(
    features: pd.DataFrame,
    *,
    segment_map: Iterable[Mapping[str, Any]] | None = None,
    bins: int = 5,
    recency_col: str = RECENCY_COL,
    frequency_col: str = FREQUENCY_COL,
    monetary_col: str = MONETARY_COL,
) -> pd.DataFrame:
    """RFM scores plus ``rfm_segment`` named by ``segment_map`` (default: ``DEFAULT_SEGMENT_MAP``)."""
    if segment_map is not None:
        validate_segment_map(segment_map)  # fail on a bad config before touching the data
    out = rfm_scores(
        features, bins=bins, recency_col=recency_col, frequency_col=frequency_col, monetary_col=monetary_col
    )
    out["rfm_segment"] = assign_segments(
        out["r_score"], out["f_score"], out["m_score"], segment_map=segment_map, bins=bins
    )
    return out


class _ScoreSteps:
    """The score step function of one column, learned from a reference base.

    A value x scores ``floor(bins * p) + 1`` (at most ``bins``) with ``p = (#ref < x + #ref == x / 2) / n``,
    the mid-rank percentile of ``quantile_scores``; only reference values where the score changes are kept.
    """

    def __init__(self, reference: np.ndarray, bins: int):
        values, counts = np.unique(reference, return_counts=True)
        n = len(reference)
        less = np.concatenate([[0], np.cumsum(counts)])  # customers below values[i]; n at the end
        at = (bins * (2 * less[:-1] + counts)) // (2 * n) + 1  # score of x == values[i]
        gap = np.minimum((bins * less) // n + 1, bins)  # x just below values[i]; last: above them all
        keep = ~((gap[:-1] == at) & (at == gap[1:]))
        self.values = values[keep]
        self.at = at[keep].astype("int64")
        self.gap = np.append(gap[:-1][keep], gap[-1]).astype("int64")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.values, x, side="left")
        inside = idx < len(self.values)
        exact = np.zeros(len(x), dtype=bool)
        exact[inside] = self.values[idx[inside]] == x[inside]
        return np.where(exact, self.at[np.minimum(idx, len(self.at) - 1)], self.gap[idx])


@dataclass(eq=False, repr=False, kw_only=True)  # parameters stored as given; BaseEstimator keeps its repr
class RFMScorer(BaseEstimator):
    """RFM scores and segments with quantile cut points learned on the base at D.

    ``transform`` scores each row against the fitted base, so a whole base, one customer or a Spark
    partition get the same scores; on the fitted base it equals ``rfm_segments``. A value between the
    fitted ones takes the percentile of the fitted customers below it.
    """

    bins: int = 5
    segment_map: Iterable[Mapping[str, Any]] | None = None
    recency_col: str = RECENCY_COL
    frequency_col: str = FREQUENCY_COL
    monetary_col: str = MONETARY_COL

    def _columns(self) -> dict[str, str]:
        return {"r_score": self.recency_col, "f_score": self.frequency_col, "m_score": self.monetary_col}

    def fit(self, features: pd.DataFrame) -> RFMScorer:
        """Learn the score steps of R, F and M from the base at D (one row per customer)."""
        bins = _check_bins(self.bins)
        rules = validate_segment_map(DEFAULT_SEGMENT_MAP if self.segment_map is None else self.segment_map)
        # the batch function's checks: columns, one row per customer, numbers, no missing values
        rfm_scores(
            features,
            bins=bins,
            recency_col=self.recency_col,
            frequency_col=self.frequency_col,
            monetary_col=self.monetary_col,
        )
        if len(features) == 0:
            raise InputError("Cannot fit RFM scores on an empty customer base")
        self.segment_map_ = rules
        self.steps_ = {
            score: _ScoreSteps(self._oriented(score, _numeric_column(features, col).to_numpy()), bins)
            for score, col in self._columns().items()
        }
        self.n_customers_ = len(features)
        return self

    @staticmethod
    def _oriented(score: str, values: np.ndarray) -> np.ndarray:
        return -values if score == "r_score" else values  # recency: fewer days = higher score

    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """``customer_id, r_score, f_score, m_score, rfm_score, rfm_segment`` per row; index kept."""
        check_is_fitted(self, "steps_")
        _require_columns(features, ["customer_id", *self._columns().values()])
        out = pd.DataFrame({"customer_id": features["customer_id"]}, index=features.index)
        for score, col in self._columns().items():
            values = self._oriented(score, _numeric_column(features, col).to_numpy())
            out[score] = pd.Series(self.steps_[score](values), index=features.index, dtype="int64")
        out["rfm_score"] = (
            out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
        )
        out["rfm_segment"] = assign_segments(
            out["r_score"], out["f_score"], out["m_score"], segment_map=self.segment_map_, bins=self.bins
        )
        return out

    def fit_transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """``fit`` then ``transform`` on the same base (equals ``rfm_segments``)."""
        return self.fit(features).transform(features)
