"""Gamma-Gamma spend — Fader, Hardie & Lee (2005b), "RFM and CLV: Using Iso-Value Curves", JMR 42;
Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note 025).

lifetimes' ``GammaGammaFitter`` fitted on the distinct (frequency, monetary_value) rows of the customers with a
usable spend (frequency > 0 and monetary_value > 0), and the shrunk-mean spend used when it fails for good.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnkit.errors import ModelError
from churnkit.models.btyd.backend import _lifetimes
from churnkit.models.btyd.fitting import LifetimesEstimator, check_fitted, degenerate_fit
from churnkit.models.btyd.rfm import RFM, collapse, validate

_SPEND_PARAM_NAMES = ("p", "q", "v")
_SPEND_PRIOR_PURCHASES = 1.0  # weight of the population mean in the Gamma-Gamma fallback, in purchases


def spend_rows(data: RFM) -> tuple[pd.DataFrame, float] | None:
    """The distinct (frequency, monetary_value) rows of usable spends with their ``weight``, and the mean spend."""
    usable = (data.x > 0) & (data.m > 0)
    if not usable.any():
        return None
    unique, _ = collapse({"frequency": data.x[usable], "monetary_value": data.m[usable]})
    return unique, float(data.m[usable].mean())


class GammaGammaModel(LifetimesEstimator):
    """Gamma-Gamma spend per purchase, with penalizer retries as for the transaction models.

    A penalized fit is done on spend divided by the mean spend (``_fit_lifetimes``), so the penalizer is
    unit-free. Fitted attributes: ``fitter_`` (lifetimes' ``GammaGammaFitter``), ``params_`` (p, q, v in
    money), ``penalizer_`` and ``attempts_``.
    """

    label = "Gamma-Gamma"

    def fit(self, rfm: pd.DataFrame) -> GammaGammaModel:
        """Fit on an RFM table; returns self. ``ModelError`` when no customer has a usable spend."""
        self._check_params()
        found = spend_rows(validate(rfm))
        if found is None:
            raise ModelError(
                "cannot fit Gamma-Gamma: no customer has a repeat purchase with monetary_value > 0"
            )
        return self._fit_rows(_lifetimes(), *found)

    def _fit_rows(self, lt: Any, rows: pd.DataFrame, mean_spend: float) -> GammaGammaModel:
        self._fit_with_retries(
            lambda pen: self._fit_lifetimes(lt, rows, pen, mean_spend),
            lambda fitter: self._fit_problem(fitter, rows, mean_spend),
        )
        return self

    @staticmethod
    def _fit_lifetimes(lt: Any, rows: pd.DataFrame, penalizer: float, mean_spend: float) -> Any:
        """Gamma-Gamma, penalized on spend divided by the mean spend, v scaled back to money.

        The model is scale-equivariant (m → m / c gives v → v / c, p and q unchanged), so the MLE is the
        same; lifetimes' L2 penalizer acts on v in money units, and on a wholesaler's spend (v in the
        hundreds) penalizer 0.001 swamps the likelihood and the fit fails to converge. Unit-free, the
        penalizer means the same on every shop, as for the transaction models (time-scaled there).
        Unpenalized, the data are left as they are: the same MLE, bit for bit lifetimes' own fit.
        """
        scale = mean_spend if penalizer > 0 else 1.0
        m = rows["monetary_value"].to_numpy() / scale
        fitter = lt.GammaGammaFitter(penalizer_coef=penalizer).fit(
            rows["frequency"].to_numpy(), m, weights=rows["weight"].to_numpy()
        )
        fitter.params_["v"] = fitter.params_["v"] * scale
        fitter.data["monetary_value"] = rows["monetary_value"].to_numpy()
        return fitter

    @staticmethod
    def _fit_problem(fitter: Any, rows: pd.DataFrame, mean_spend: float) -> str | None:
        """Why a fitted Gamma-Gamma model is degenerate, or None."""
        problem = degenerate_fit(fitter, {"v": (mean_spend, "the mean spend")})
        if problem:
            return problem
        q = float(fitter.params_["q"])
        if q <= 1.0:
            return f"q = {q:.3g} <= 1, so the population mean spend is undefined"
        spend = np.asarray(
            fitter.conditional_expected_average_profit(
                rows["frequency"].to_numpy(), rows["monetary_value"].to_numpy()
            ),
            dtype=float,
        )
        if not np.all(np.isfinite(spend) & (spend > 0)):
            return "expected spend is not finite and positive for some customers"
        return None

    def expected_spend(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """E[spend per purchase | x, m] (note 025 eq. (5)); p v / (q - 1) for customers without usable spend."""
        check_fitted(self)
        p, q, v = (self.params_[k] for k in _SPEND_PARAM_NAMES)
        spend = np.full(x.shape, p * v / (q - 1.0))
        usable = (x > 0) & (m > 0)
        if usable.any():
            spend[usable] = np.asarray(
                self.fitter_.conditional_expected_average_profit(x[usable], m[usable]), dtype=float
            )
        return spend


def shrunk_mean_settings(x: np.ndarray, m: np.ndarray) -> dict[str, float]:
    """The Gamma-Gamma fallback's settings: m̄ = Σ x m / Σ x over customers with usable spend, k."""
    return {"population_mean": float((x @ m) / x.sum()), "prior_purchases": _SPEND_PRIOR_PURCHASES}


def shrunk_mean_spend(settings: dict[str, float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The spend when Gamma-Gamma failed at every penalizer: the credibility-weighted mean (x m + k m̄) / (x + k).

    The customer's own mean spend per repeat purchase shrunk towards the population's m̄ (mean spend per
    repeat purchase over the customers with usable spend) with the weight of k = 1 purchase, and m̄ for
    customers without usable spend. It is Gamma-Gamma's own form (note 025 eq. (5) weighs m by
    p x / (p x + q - 1)) with a fixed prior weight instead of a fitted one.
    """
    mean, k = settings["population_mean"], settings["prior_purchases"]
    usable = (x > 0) & (m > 0)
    return np.where(usable, (x * np.where(usable, m, 0.0) + k * mean) / (x + k), mean)
