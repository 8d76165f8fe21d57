"""The churn model: calibrated P(churn in the next H days) from a LightGBM binary model.

Optionally it starts from a prior (BG/NBD's P(no purchase in H) as the initial log-odds; the trees learn
corrections to it). The held-out fold, schema and training are shared with the CLV model
(:mod:`churnkit.models.gbm`); calibration is :mod:`churnkit.models.calibration`, attribution
:mod:`churnkit.models.attribution`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import expit

from churnkit.errors import DataTooShortError, InputError, ModelError
from churnkit.models.attribution import ContributionMethod, tree_contributions
from churnkit.models.calibration import (
    PROB_FLOOR,
    CalibrationMethod,
    best_calibrated_brier,
    fit_calibration,
)
from churnkit.models.gbm import LightGBMModel

__all__ = ["ChurnClassifier"]

_PRIOR_CLIP = 1e-4  # prior probabilities are clipped to [1e-4, 1 - 1e-4] before taking log-odds


@dataclass(eq=False, kw_only=True)
class ChurnClassifier(LightGBMModel):
    """Calibrated P(churn in the next H days) from a LightGBM binary model.

    ``calibration="auto"`` compares isotonic regression and Platt scaling on the held-out fold
    (:func:`churnkit.models.calibration.fit_calibration`); the chosen calibrator is then fitted on the
    whole held-out fold. The choice is in ``calibration_`` and the measurements in
    ``calibration_scores_``. Calibrators map the raw log-odds of the booster.

    Fitted attributes: ``booster_``, ``best_iteration_``, ``calibrator_`` (None for "none"),
    ``calibration_``, ``calibration_scores_``, ``feature_names_``, ``categorical_features_``,
    ``categories_``, ``valid_start_`` (first held-out as-of date), ``train_end_``, ``n_train_``,
    ``n_valid_``.
    """

    _fitted_attribute = "calibration_"

    calibration: CalibrationMethod = "auto"
    prior: str | None = None

    def fit(self, X: pd.DataFrame, y: ArrayLike, *, time_index: ArrayLike) -> ChurnClassifier:
        """Fit on rows before the latest as-of date(s); stop early and calibrate on the latest."""
        if self.calibration not in ("auto", "isotonic", "sigmoid", "none"):
            raise ValueError(f"unknown calibration {self.calibration!r}")
        features, label, train, valid = self._fit_inputs(X, y, time_index)
        if not np.all((label == 0) | (label == 1)):
            raise InputError("churn labels must be 0 or 1", column="churned")
        if label[train].min() == label[train].max():
            raise DataTooShortError(
                "the training rows contain only one class of the churn label; stack more as-of dates"
            )
        self.prior_rate_ = float(label[train].mean())
        candidates = [self.prior, None] if (self.prior is not None and self.select_prior) else [self.prior]
        self.prior_scores_: dict[str, float] = {}
        fits = []
        for prior in candidates:
            self.prior_used_ = prior
            init = self._prior_margin(X)
            booster, best = self._train(self._lgb_params("binary"), features, label, train, valid, init)
            margin = booster.predict(features[valid], raw_score=True) + (0.0 if init is None else init[valid])
            score = (
                best_calibrated_brier(margin, label[valid], random_state=self.random_state)
                if len(candidates) > 1
                else 0.0
            )
            self.prior_scores_[prior or "none"] = score
            fits.append((score, prior, booster, best, margin))
        _, self.prior_used_, booster, best, margin = min(fits, key=lambda f: f[0])  # first wins a tie
        self.booster_ = booster
        self.best_iteration_ = best
        self._fit_calibration(margin, label[valid])
        return self

    def _prior_margin(self, X: pd.DataFrame) -> np.ndarray | None:
        """The prior's log-odds per row (``prior`` names a probability column, e.g. BG/NBD's p_no_purchase).

        Missing prior values (a snapshot where every BTYD fit failed) take the training churn rate.
        """
        prior = getattr(self, "prior_used_", getattr(self, "prior", None))
        if prior is None:
            return None
        if prior not in X.columns:
            raise ModelError(f"the churn model's prior column {prior!r} is missing")
        p = pd.to_numeric(X[prior]).to_numpy(dtype=np.float64, na_value=np.nan)
        p = np.where(np.isfinite(p), p, self.prior_rate_)
        p = np.clip(p, _PRIOR_CLIP, 1 - _PRIOR_CLIP)
        return np.log(p) - np.log1p(-p)

    def _margin(self, X: pd.DataFrame) -> np.ndarray:
        """Raw log-odds: the trees' output plus the prior's."""
        raw = self.booster_.predict(self._encode(X), raw_score=True)
        init = self._prior_margin(X)
        return raw if init is None else raw + init

    def _fit_calibration(self, margin: np.ndarray, y: np.ndarray) -> None:
        self.calibration_, self.calibrator_, self.calibration_scores_ = fit_calibration(
            self.calibration, margin, y, random_state=self.random_state
        )

    def _boosters(self) -> list[lgb.Booster]:
        return [self.booster_]

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated P(churn): the sigmoid of the log-odds (trees plus prior)."""
        self._check_fitted()
        return expit(self._margin(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(churn) per row (1-D, unlike scikit-learn's two columns)."""
        self._check_fitted()
        return self.probability(self._margin(X))

    def probability(self, margin: ArrayLike) -> np.ndarray:
        """Calibrated P(churn) from raw log-odds, e.g. the row sums of ``contributions(include_bias=True)``."""
        self._check_fitted()
        margin = np.asarray(margin, dtype=np.float64)
        if self.calibrator_ is None:
            return expit(margin)
        return np.clip(self.calibrator_.predict(margin), PROB_FLOOR, 1 - PROB_FLOOR)

    def contributions(
        self, X: pd.DataFrame, *, include_bias: bool = False, method: ContributionMethod = "shap"
    ) -> pd.DataFrame:
        """Per-feature contributions to the raw log-odds of churn; positive values push the risk up.

        ``method``: ``"shap"`` (TreeSHAP) or ``"path"`` (Saabas), see :mod:`churnkit.models.attribution`.
        Per row, either set of contributions plus the bias (the column ``"bias"`` with
        ``include_bias=True``) sums to the uncalibrated log-odds. Calibration is monotone, so it never
        reverses a contribution's direction.
        """
        values, columns = self.contribution_values(X, method=method)
        frame = pd.DataFrame(values, index=X.index, columns=columns, copy=False)
        return frame if include_bias else frame.drop(columns="bias")

    def contribution_values(
        self, X: pd.DataFrame, *, method: ContributionMethod = "shap", encoded: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """:meth:`contributions` with the bias as an array (rows × columns, the bias last) and its column names.

        ``encoded``: ``X`` already encoded (``_encode``), to share one encoding with the CLV model.
        """
        self._check_fitted()
        if method not in ("shap", "path"):
            raise ValueError(f"method must be 'shap' or 'path', got {method!r}")
        values = tree_contributions(
            self.booster_, self._encode(X) if encoded is None else encoded, method=method
        )
        columns = [*self.feature_names_, "bias"]
        init = self._prior_margin(X)
        if init is not None:  # the prior's log-odds is credited to its own column, around the training rate's
            rate = float(np.clip(self.prior_rate_, _PRIOR_CLIP, 1 - _PRIOR_CLIP))
            centre = math.log(rate) - math.log1p(-rate)
            prior = self.prior_used_
            if prior not in columns:
                values = np.insert(values, len(columns) - 1, 0.0, axis=1)
                columns.insert(len(columns) - 1, prior)
            values[:, columns.index(prior)] += init - centre
            values[:, -1] += centre
        return values, columns

    @staticmethod
    def margin_of(values: np.ndarray) -> np.ndarray:
        """Row sums of :meth:`contribution_values` (the raw log-odds), added column by column from the first.

        The order of the additions is fixed (not numpy's pairwise sum, which depends on the memory layout),
        so the probabilities do not move in the last bits with the array's layout.
        """
        total = values[:, 0].copy()
        for j in range(1, values.shape[1]):
            total += values[:, j]
        return total
