"""Backtest metrics under the names every MLflow run uses (docs/design.md, "Tracking").

Churn metrics take the 0/1 label ``churned`` and a probability of churn; CLV metrics take the
realised H-day revenue and a prediction of it. Every function is pure and accepts arrays or
pandas Series (aligned by position). Metrics that are undefined on the given data, e.g. an AUC
when only one class is present, come back as NaN instead of raising, so a run on a quiet shop still
logs every name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "BASELINE_PREFIXES",
    "CHURN_METRICS",
    "CLV_METRICS",
    "METRICS",
    "METRIC_NAMES",
    "SPLIT_SUFFIXES",
    "Metric",
    "churn_metrics",
    "clv_metrics",
    "expected_calibration_error",
    "lift_at",
    "normalized_gini",
]


@dataclass(frozen=True)
class Metric:
    """One backtest metric: its logged name, display label, one-line meaning and direction."""

    name: str
    label: str
    description: str
    higher_is_better: bool


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "churn_auc",
            "Churn AUC",
            "Chance a churner is ranked riskier than a non-churner (0.5 = coin flip).",
            True,
        ),
        Metric(
            "churn_pr_auc",
            "Churn PR-AUC",
            "Precision over all list sizes; a random list scores the churn rate.",
            True,
        ),
        Metric(
            "churn_brier",
            "Churn Brier score",
            "Mean squared gap between probability and outcome (0 = perfect).",
            False,
        ),
        Metric(
            "churn_logloss", "Churn log-loss", "Penalises probabilities that were confident and wrong.", False
        ),
        Metric(
            "churn_ece",
            "Calibration error (ECE)",
            "Average gap between predicted and observed churn rate over 10 bins.",
            False,
        ),
        Metric(
            "churn_lift_top10",
            "Lift in top 10%",
            "Churn rate of the riskiest 10% ÷ overall churn rate (1 = random).",
            True,
        ),
        Metric(
            "clv_mae", "CLV mean absolute error", "Average miss of predicted revenue per customer.", False
        ),
        Metric(
            "clv_rmse", "CLV root mean squared error", "Like the MAE, but large misses weigh more.", False
        ),
        Metric(
            "clv_spearman",
            "CLV rank correlation",
            "Spearman correlation of predicted and actual revenue (1 = same order).",
            True,
        ),
        Metric(
            "clv_gini_norm",
            "CLV normalised Gini",
            "How well the ranking puts revenue at the top, relative to a perfect ranking (0 = random).",
            True,
        ),
    )
}
"""The registry: every metric name a run logs (before prefix and suffix), in table order (docs/design.md, "Tracking")."""

METRIC_NAMES: tuple[str, ...] = tuple(METRICS)
"""The ten metric names, churn first, then CLV."""

CHURN_METRICS: tuple[str, ...] = tuple(n for n in METRIC_NAMES if n.startswith("churn_"))
"""Keys returned by :func:`churn_metrics` (before the prefix)."""

CLV_METRICS: tuple[str, ...] = tuple(n for n in METRIC_NAMES if n.startswith("clv_"))
"""Keys returned by :func:`clv_metrics` (before the prefix)."""

BASELINE_PREFIXES: dict[str, str] = {
    "baseline_recency": "baseline_recency_",
    "baseline_btyd": "baseline_btyd_",
}
"""Prefix of each baseline's copy of the metric names (the model's own names have none)."""

SPLIT_SUFFIXES: dict[str, str] = {
    "": "All customers",
    "_one_time": "One-time buyers",
    "_repeat": "Repeat buyers",
}
"""Suffix of the metric names computed on one customer group, and the group's display name."""


_EPS = float(np.finfo(np.float64).eps)  # probability clipping for log-loss, as scikit-learn does
_P_SLACK = 1e-9  # rounding error allowed outside [0, 1] (e.g. 1 - P(alive) from the BTYD formulas)


def _vector(name: str, values: ArrayLike) -> np.ndarray:
    """Return ``values`` as a finite 1-D float array or raise a ValueError naming it."""
    if hasattr(values, "to_numpy"):
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)  # pandas, incl. nullable dtypes
    else:
        arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _pair(name_a: str, a: ArrayLike, name_b: str, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = _vector(name_a, a), _vector(name_b, b)
    if x.shape != y.shape:
        raise ValueError(f"{name_a} and {name_b} have different lengths ({x.size} and {y.size})")
    return x, y


def _labels_and_probs(y_true: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y, prob = _pair("y_true", y_true, "p", p)
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y_true must contain only 0 and 1")
    if prob.min() < -_P_SLACK or prob.max() > 1 + _P_SLACK:
        raise ValueError("p must be probabilities in [0, 1]")
    return y, np.clip(prob, 0.0, 1.0)


def expected_calibration_error(y_true: ArrayLike, p: ArrayLike, *, n_bins: int = 10) -> float:
    """Expected calibration error over ``n_bins`` equal-width probability bins.

    ECE = sum over non-empty bins b of (n_b / n) * |mean(y in b) - mean(p in b)|. Bins are
    [0, 1/n_bins), ..., [1 - 1/n_bins, 1]; a point on an inner edge goes to the upper bin, as in
    ``sklearn.calibration.calibration_curve(strategy="uniform")``, so the ECE matches the
    reliability plot. Equal-width (not equal-mass) bins keep the same bins for every model and run,
    so ECEs stay comparable between a model and its baselines.
    """
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    y, prob = _labels_and_probs(y_true, p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], prob, side="right")
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    sum_p = np.bincount(bins, weights=prob, minlength=n_bins)
    return float(np.abs(sum_y - sum_p).sum() / y.size)


def lift_at(y_true: ArrayLike, p: ArrayLike, *, share: float = 0.10) -> float:
    """Churn rate among the ``share`` of rows with the highest ``p``, divided by the overall rate.

    The top group has ceil(share * n) rows. Rows tied with the cut-off score count fractionally
    (the expectation over random tie-breaking), so a constant score has a lift of exactly 1.
    NaN when nobody churned.
    """
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    y, prob = _labels_and_probs(y_true, p)
    base_rate = y.mean()
    if base_rate == 0:
        return math.nan
    k = math.ceil(share * y.size)
    order = np.argsort(-prob, kind="stable")
    cutoff = prob[order[k - 1]]
    above = prob > cutoff
    tied = prob == cutoff
    n_above = int(above.sum())
    take_from_tied = (k - n_above) / tied.sum()
    top_churners = y[above].sum() + take_from_tied * y[tied].sum()
    return float(top_churners / k / base_rate)


def _gini(actual: np.ndarray, pred: np.ndarray) -> float:
    """Un-normalised Gini of ``actual`` ordered by decreasing ``pred`` (ties share their mean)."""
    order = np.argsort(-pred, kind="stable")
    a, s = actual[order], pred[order]
    # Replace each block of tied predictions by its mean actual: the expectation over random
    # orderings within the block, which keeps the score independent of row order.
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    sizes = np.diff(np.r_[starts, s.size])
    a = np.repeat(np.add.reduceat(a, starts) / sizes, sizes)
    n = a.size
    cum_share = np.cumsum(a) / a.sum()
    return float((cum_share.sum() - (n + 1) / 2) / n)


def normalized_gini(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalised Gini: Gini of the actuals ordered by prediction / Gini of the actuals ordered by themselves.

    The insurance / Kaggle ("Porto Seguro", "Liberty Mutual") definition: sort rows by decreasing
    prediction, accumulate the share of total actual value, and measure the area between that curve
    and the diagonal; divide by the same area for the ideal ordering. 1 = perfect ranking,
    0 = random (or constant) ranking, -1 = reversed. Only the order of ``y_pred`` matters; tied
    predictions share their mean actual. NaN when the actuals are all equal or their total is not
    positive.
    """
    actual, pred = _pair("y_true", y_true, "y_pred", y_pred)
    if actual.sum() <= 0 or np.all(actual == actual[0]):
        return math.nan
    return _gini(actual, pred) / _gini(actual, actual)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def churn_metrics(y_true: ArrayLike, p: ArrayLike, *, prefix: str = "") -> dict[str, float]:
    """All churn metrics for labels ``y_true`` (1 = churned) and churn probabilities ``p``.

    Keys (each preceded by ``prefix``, e.g. ``"baseline_recency_"``):
    ``churn_auc`` (ROC AUC), ``churn_pr_auc`` (average precision, the step-wise area under the
    precision-recall curve), ``churn_brier``, ``churn_logloss`` (p clipped to [eps, 1 - eps]),
    ``churn_ece`` (10 equal-width bins, :func:`expected_calibration_error`) and
    ``churn_lift_top10`` (:func:`lift_at` with share 0.1). AUC and PR-AUC are NaN when only one
    class is present; the lift is NaN when nobody churned.
    """
    y, prob = _labels_and_probs(y_true, p)
    both_classes = 0 < y.sum() < y.size
    clipped = np.clip(prob, _EPS, 1 - _EPS)
    logloss = -np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped))
    values = {
        "churn_auc": float(roc_auc_score(y, prob)) if both_classes else math.nan,
        "churn_pr_auc": float(average_precision_score(y, prob)) if both_classes else math.nan,
        "churn_brier": float(np.mean((prob - y) ** 2)),
        "churn_logloss": float(logloss),
        "churn_ece": expected_calibration_error(y, prob),
        "churn_lift_top10": lift_at(y, prob, share=0.10),
    }
    return {prefix + name: value for name, value in values.items()}


def clv_metrics(y_true: ArrayLike, y_pred: ArrayLike, *, prefix: str = "") -> dict[str, float]:
    """All CLV metrics for realised H-day revenue ``y_true`` and predictions ``y_pred``.

    Keys (each preceded by ``prefix``): ``clv_mae``, ``clv_rmse``, ``clv_spearman`` (rank
    correlation, NaN if either side is constant) and ``clv_gini_norm`` (:func:`normalized_gini`).
    """
    actual, pred = _pair("y_true", y_true, "y_pred", y_pred)
    err = pred - actual
    values = {
        "clv_mae": float(np.mean(np.abs(err))),
        "clv_rmse": float(np.sqrt(np.mean(err**2))),
        "clv_spearman": _spearman(actual, pred),
        "clv_gini_norm": normalized_gini(actual, pred),
    }
    return {prefix + name: value for name, value in values.items()}
