"""Probability calibration of the churn model's raw log-odds: Platt scaling, isotonic regression, the choice.

The churn model (:mod:`churnkit.models.churn`) calibrates on its held-out fold. ``"auto"`` compares isotonic
regression and Platt scaling by stratified k-fold cross-fitting on that fold (k = 5, fewer for tiny folds) and
keeps the lower out-of-fold Brier score (differences under 1e-4 go to the lower log-loss). The recency baseline
(:mod:`churnkit.models.baselines`) uses :class:`SigmoidCalibrator` with a non-negative slope.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from churnkit.errors import ChurnkitWarning, NotFittedError

__all__ = [
    "PROB_FLOOR",
    "CalibrationMethod",
    "CalibrationWarning",
    "SigmoidCalibrator",
    "best_calibrated_brier",
    "compare_calibrations",
    "fit_calibration",
]

PROB_FLOOR = 1e-6  # calibrated probabilities stay in [1e-6, 1 - 1e-6]: no "0 % churn risk"
_BRIER_TIE = 1e-4  # calibration "auto": Brier differences below this are a tie, decided by log-loss

CalibrationMethod = Literal["auto", "isotonic", "sigmoid", "none"]


class CalibrationWarning(ChurnkitWarning):
    """The held-out fold cannot support the requested calibration; a simpler one was used."""


class SigmoidCalibrator:
    """Platt scaling: P(y = 1 | s) = 1 / (1 + exp(-(coef_ * s + intercept_))).

    Fitted by maximum likelihood on Platt's smoothed targets (N+ + 1) / (N+ + 2) and
    1 / (N- + 2) (Platt 1999, "Probabilistic outputs for support vector machines"), which keeps the slope finite on separable data. With
    ``increasing=True`` the slope is constrained to be non-negative, so the mapping is monotone.
    """

    def __init__(self, *, increasing: bool = False):
        self.increasing = increasing

    def fit(self, scores: ArrayLike, y: ArrayLike) -> SigmoidCalibrator:
        s = np.asarray(scores, dtype=np.float64)
        label = np.asarray(y, dtype=np.float64)
        n_pos = label.sum()
        n_neg = label.size - n_pos
        target = np.where(label > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        mean, std = s.mean(), s.std()
        std = std if std > 0 else 1.0
        z = (s - mean) / std

        def loss_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
            m = w[0] * z + w[1]
            loss = np.mean(np.logaddexp(0.0, m) - target * m)
            r = expit(m) - target
            return float(loss), np.array([np.mean(r * z), np.mean(r)])

        prior = target.mean()
        start = np.array([0.0, math.log(prior / (1 - prior))])
        bounds = [(0.0, None), (None, None)] if self.increasing else None
        result = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B", bounds=bounds)
        slope, offset = result.x
        self.coef_ = float(slope / std)
        self.intercept_ = float(offset - slope * mean / std)
        return self

    def predict(self, scores: ArrayLike) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise NotFittedError("This SigmoidCalibrator is not fitted yet; call fit first.")
        return expit(self.coef_ * np.asarray(scores, dtype=np.float64) + self.intercept_)


def _isotonic() -> IsotonicRegression:
    return IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")


def brier_logloss(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Brier score and log-loss (probabilities clipped to ``PROB_FLOOR``) of predictions ``p`` for labels ``y``."""
    clipped = np.clip(p, PROB_FLOOR, 1 - PROB_FLOOR)
    logloss = -np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped))
    return {"brier": float(np.mean((p - y) ** 2)), "logloss": float(logloss)}


def compare_calibrations(
    margin: np.ndarray, y: np.ndarray, n_splits: int, *, random_state: int
) -> dict[str, dict[str, float]]:
    """Out-of-fold Brier and log-loss of each calibration method on the held-out fold."""
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    oof = {"isotonic": np.empty_like(margin), "sigmoid": np.empty_like(margin)}
    for fit_idx, eval_idx in folds.split(margin.reshape(-1, 1), y):
        iso = _isotonic().fit(margin[fit_idx], y[fit_idx])
        sig = SigmoidCalibrator().fit(margin[fit_idx], y[fit_idx])
        oof["isotonic"][eval_idx] = iso.predict(margin[eval_idx])
        oof["sigmoid"][eval_idx] = sig.predict(margin[eval_idx])
    scores = {name: brier_logloss(y, p) for name, p in oof.items()}
    scores["none"] = brier_logloss(y, expit(margin))
    return scores


def best_calibrated_brier(margin: np.ndarray, y: np.ndarray, *, random_state: int) -> float:
    """Out-of-fold Brier score of the best calibration on the held-out fold (how the churn prior is chosen)."""
    n_minority = int(min(y.sum(), y.size - y.sum()))
    if n_minority < 2:
        return brier_logloss(y, expit(margin))["brier"]
    scores = compare_calibrations(margin, y, min(5, n_minority), random_state=random_state)
    return min(v["brier"] for v in scores.values())


def fit_calibration(
    method: CalibrationMethod, margin: np.ndarray, y: np.ndarray, *, random_state: int
) -> tuple[str, IsotonicRegression | SigmoidCalibrator | None, dict[str, dict[str, float]]]:
    """(method used, fitted calibrator or None, the measurements behind an ``"auto"`` choice).

    A held-out fold with one churn class only cannot calibrate: :class:`CalibrationWarning` and ``"none"``.
    """
    scores: dict[str, dict[str, float]] = {}
    n_pos = int(y.sum())
    n_minority = min(n_pos, y.size - n_pos)
    if method != "none" and n_minority == 0:
        warnings.warn(
            "the held-out fold has only one churn class; probabilities are left uncalibrated",
            CalibrationWarning,
            stacklevel=4,
        )
        method = "none"
    if method == "auto":
        n_splits = min(5, n_minority)
        if n_splits >= 2:
            scores = compare_calibrations(margin, y, n_splits, random_state=random_state)
            iso, sig = scores["isotonic"], scores["sigmoid"]
            if abs(iso["brier"] - sig["brier"]) > _BRIER_TIE:
                method = "isotonic" if iso["brier"] < sig["brier"] else "sigmoid"
            else:
                method = "isotonic" if iso["logloss"] < sig["logloss"] else "sigmoid"
        else:
            method = "sigmoid"  # too few minority rows to compare; Platt has two parameters
    calibrator: IsotonicRegression | SigmoidCalibrator | None = None
    if method == "isotonic":
        calibrator = _isotonic().fit(margin, y)
    elif method == "sigmoid":
        calibrator = SigmoidCalibrator().fit(margin, y)
    return method, calibrator, scores
