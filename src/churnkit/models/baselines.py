"""The recency baseline every backtest reports beside the models (metric prefix ``baseline_recency_``).

Churn: the longer since the last purchase, the likelier the churn. The score is a logistic curve
in log(1 + days_since_last_purchase) with a non-negative slope, fitted on the training rows, so it
ranks customers exactly as recency does and its Brier score and ECE compare fairly with the
calibrated models. CLV: the historical spend rate carried forward,
revenue in the last 365 days × H / 365.

The BTYD baseline (``baseline_btyd_``) needs no class here: it is the BG/NBD model's own
``p_no_purchase`` and H-day CLV, passed straight to :mod:`churnkit.models.metrics`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from churnkit.errors import InputError, NotFittedError
from churnkit.models.calibration import SigmoidCalibrator

__all__ = ["RecencyBaseline"]


def _column(features: pd.DataFrame, name: str) -> np.ndarray:
    if name not in features.columns:
        raise InputError(f"the recency baseline needs the feature column {name!r}", column=name)
    try:
        return pd.to_numeric(features[name]).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(f"feature column {name!r} must be numeric", column=name) from exc


class RecencyBaseline:
    """P(churn) as a monotone function of days since the last purchase; CLV as the past spend rate.

    ``fit`` learns ``calibrator_`` (a :class:`SigmoidCalibrator` on log(1 + days), slope >= 0) and
    ``base_rate_`` (the training churn rate, given to rows without a last purchase date).
    """

    def __init__(
        self,
        *,
        recency_column: str = "days_since_last_purchase",
        spend_column: str = "revenue_365d",
        spend_window_days: int = 365,
    ):
        self.recency_column = recency_column
        self.spend_column = spend_column
        self.spend_window_days = spend_window_days

    def _log_days(self, features: pd.DataFrame) -> np.ndarray:
        return np.log1p(np.clip(_column(features, self.recency_column), 0.0, None))

    def fit(self, features: pd.DataFrame, y_churn: ArrayLike) -> RecencyBaseline:
        """Fit the recency-to-probability curve on the training rows."""
        score = self._log_days(features)
        label = (
            y_churn.to_numpy(dtype=np.float64, na_value=np.nan)
            if isinstance(y_churn, pd.Series)
            else np.asarray(y_churn, dtype=np.float64).reshape(-1)
        )
        if label.size != score.size:
            raise InputError(f"y_churn has {label.size} rows, features have {score.size}")
        if not np.all((label == 0) | (label == 1)):
            raise InputError("churn labels must be 0 or 1 (no missing values)", column="churned")
        known = ~np.isnan(score)
        if not known.any():
            raise InputError(
                f"feature column {self.recency_column!r} has no values", column=self.recency_column
            )
        self.base_rate_ = float(label.mean())
        self.calibrator_ = SigmoidCalibrator(increasing=True).fit(score[known], label[known])
        return self

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """P(churn) per row: non-decreasing in days since the last purchase."""
        if not hasattr(self, "calibrator_"):
            raise NotFittedError("This RecencyBaseline is not fitted yet; call fit first.")
        score = self._log_days(features)
        known = ~np.isnan(score)
        out = np.full(score.size, self.base_rate_)
        out[known] = self.calibrator_.predict(score[known])
        return out

    def predict_clv(self, features: pd.DataFrame, *, horizon_days: int = 90) -> np.ndarray:
        """Revenue expected in the next ``horizon_days``: spend of the last window × H / window, >= 0.

        Needs no fit. Missing or net-negative past revenue counts as 0.
        """
        if horizon_days <= 0:
            raise ValueError("horizon_days must be positive")
        spend = np.nan_to_num(_column(features, self.spend_column), nan=0.0)
        return np.clip(spend, 0.0, None) * horizon_days / self.spend_window_days
