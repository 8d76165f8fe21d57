"""The base of the BTYD transaction models (BG/NBD, MBG/NBD, Pareto/NBD): fitting, checks, predictions on arrays.

Each model class wraps one lifetimes fitter and says what differs: the fitter, how its penalizer and optimiser
are set, the boundary it reduces to ("no dropout visible yet"), P(no purchase in H) and the median wait.
Time is in days; the fits are scale-equivariant (α and β carry the time unit, the other parameters are unit-free).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from churnkit.errors import ModelError
from churnkit.models.btyd.backend import _lifetimes
from churnkit.models.btyd.boundary import ScaledRows, accept_boundary
from churnkit.models.btyd.fitting import LifetimesEstimator, check_fitted, degenerate_fit
from churnkit.models.btyd.rfm import collapse_transactions, rows, validate

Array = np.ndarray
NEVER_DAYS = 1e6
"""Median waiting times beyond this (about 2,700 years) are reported as ``inf``."""
_CHECK_HORIZONS_DAYS = (90.0, 365.0)
# The parameters that carry the time unit (per day); the others are unit-free.
_TIME_PARAMS = ("alpha", "beta")


class TransactionModel(LifetimesEstimator, ABC):
    """One BTYD purchase model fitted on distinct (frequency, recency, T) rows weighted by their counts.

    ``penalizer`` is the L2 coefficient on the time-scaled parameters, relative to the mean per-customer
    log-likelihood. A fit that raises, has non-finite parameters, runs off to a boundary, has a singular
    Hessian or gives non-finite predictions is first checked for the "no dropout visible yet" boundary
    (``boundary.accept_boundary``), then redone at the next of ``retry_penalizers``; ``ModelError`` when
    nothing works. The façade (``BTYDModel``) says what happened in warnings; this class records it.

    Fitted attributes: ``fitter_`` (the lifetimes fitter), ``params_`` (α and β per day), ``penalizer_``
    (the one used), ``attempts_`` (one record per penalizer tried) and ``boundary_`` (the accepted boundary's
    details, or None).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]
    dropout: ClassVar[str]
    """How the dropout vanishes on the NBD boundary, e.g. "a → 0"."""
    _fitter_name: ClassVar[str]

    # ------------------------------------------------------------------ fit

    def fit(self, rfm: pd.DataFrame) -> TransactionModel:
        """Fit on an RFM table (lifetimes convention, days); returns self."""
        self._check_params()
        data = validate(rfm)
        unique, _ = collapse_transactions(data)
        return self._fit_rows(_lifetimes(), unique, float(data.T.max()))

    def _fit_rows(self, lt: Any, unique: pd.DataFrame, t_max: float) -> TransactionModel:
        """Fit on collapsed rows (``weight`` = customers per row); ``t_max`` is the largest T."""
        if not (unique["frequency"] > 0).any():
            raise ModelError(
                f"cannot fit {self.label}: none of the {int(unique['weight'].sum())} customers has a repeat "
                "purchase (frequency > 0), so purchase rates and dropout are not identified"
            )
        self.boundary_ = self._fit_with_retries(
            lambda pen: self._fit_lifetimes(lt, unique, pen),
            lambda fitter: self._fit_problem(fitter, unique, t_max),
            lambda fitter, pen: accept_boundary(self, lt, fitter, unique, t_max, pen),
        )
        return self

    def _new_fitter(self, lt: Any, penalizer: float, n_rows: int) -> Any:
        return getattr(lt, self._fitter_name)(penalizer_coef=self._penalizer_coef(penalizer, n_rows))

    def _penalizer_coef(self, penalizer: float, n_rows: int) -> float:
        """lifetimes' ``penalizer_coef`` for ``penalizer`` relative to the mean per-customer log-likelihood."""
        return penalizer

    def _fit_options(self, n_rows: int) -> dict[str, Any]:
        """Extra keyword arguments of the lifetimes fitter's ``fit``."""
        return {}

    def _fit_lifetimes(self, lt: Any, unique: pd.DataFrame, penalizer: float) -> Any:
        x, t_x, T = rows(unique)
        fitter = self._new_fitter(lt, penalizer, len(unique))
        return fitter.fit(x, t_x, T, weights=unique["weight"].to_numpy(), **self._fit_options(len(unique)))

    def _fit_problem(self, fitter: Any, unique: pd.DataFrame, t_max: float) -> str | None:
        """Why a fitted transaction model is degenerate, or None."""
        scales = dict.fromkeys(_TIME_PARAMS, (t_max, "the largest T"))
        return degenerate_fit(fitter, scales) or self._prediction_problem(fitter, unique)

    def _prediction_problem(self, fitter: Any, unique: pd.DataFrame) -> str | None:
        """Predictions on the fit rows that are not probabilities or not finite, or None."""
        x, t_x, T = rows(unique)
        p_alive = self._p_alive(fitter, x, t_x, T)
        if not np.all((p_alive >= 0) & (p_alive <= 1)):
            return "P(alive) is not a probability for some customers"
        for horizon in _CHECK_HORIZONS_DAYS:
            p_none = self._p_no_purchase(fitter, horizon, x, t_x, T, p_alive)
            expected = self._expected_purchases(fitter, horizon, x, t_x, T)
            if not np.all((p_none >= 0) & (p_none <= 1)):
                return f"P(no purchase in {horizon:g} days) is not a probability for some customers"
            if not np.all(np.isfinite(expected) & (expected >= 0)):
                return f"expected purchases in {horizon:g} days are not finite and >= 0 for some customers"
        return None

    # ------------------------------------------------------------------ the NBD boundary (boundary.py)

    @abstractmethod
    def _clamped_params(self, r: float, alpha: float, t_max: float) -> dict[str, float]:
        """The parameters of a fit accepted on the NBD boundary: the NBD's r and α, the dropout clamped."""

    def _clamped_fitter(
        self,
        lt: Any,
        params: dict[str, float],
        unique: pd.DataFrame,
        penalizer: float,
        t_max: float,
        negative_log_likelihood: float,
    ) -> Any:
        """A lifetimes fitter carrying the clamped boundary parameters, as ``fit`` would leave it."""
        fitter = self._new_fitter(lt, penalizer, len(unique))
        fitter.params_ = pd.Series({k: float(params[k]) for k in self.param_names})
        fitter._scale = 1.0 / t_max
        fitter._negative_log_likelihood_ = negative_log_likelihood
        fitter._hessian_ = None
        fitter.data = pd.DataFrame(
            {
                "frequency": unique["frequency"].to_numpy().astype(int),
                "recency": unique["recency"].to_numpy(),
                "T": unique["T"].to_numpy(),
                "weights": unique["weight"].to_numpy(),
            }
        )
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
        return fitter

    def _full_log_likelihood(
        self, lt: Any, fitter: Any, rows: ScaledRows, penalizer: float, t_max: float
    ) -> float:
        """The full model's (unpenalized) log-likelihood at its best point found, on time-scaled rows.

        The failed fit's parameters when lifetimes returned some; when it raised, lifetimes' own optimiser
        is rerun from lifetimes' own start (``_best_point``) and its last point taken, converged or not.
        """
        cls = getattr(lt, self._fitter_name)
        if fitter is not None:
            params = np.array([float(fitter.params_[k]) for k in self.param_names])
            params /= [t_max if k in _TIME_PARAMS else 1.0 for k in self.param_names]
        else:
            params = self._best_point(cls, rows, penalizer)
        if not (np.all(np.isfinite(params)) and np.all(params > 0)):
            return -math.inf
        return self._log_likelihood(cls, params, rows)

    @abstractmethod
    def _best_point(self, cls: Any, rows: ScaledRows, penalizer: float) -> Array:
        """lifetimes' optimiser's last point on time-scaled rows (parameters, not their logs)."""

    @abstractmethod
    def _log_likelihood(self, cls: Any, params: Array, rows: ScaledRows) -> float:
        """The weighted, unpenalized log-likelihood of time-scaled rows at ``params``."""

    # ------------------------------------------------------------------ model math on arrays

    def p_alive(self, x: Array, t_x: Array, T: Array) -> Array:
        """P(alive at T | x, t_x, T) (references in ``BTYDModel.predict``)."""
        check_fitted(self)
        return self._p_alive(self.fitter_, x, t_x, T)

    def expected_purchases(self, t: float, x: Array, t_x: Array, T: Array) -> Array:
        """E[repeat purchases in (T, T + t] | x, t_x, T]."""
        check_fitted(self)
        return self._expected_purchases(self.fitter_, t, x, t_x, T)

    def p_no_purchase(self, horizon: float | Array, x: Array, t_x: Array, T: Array, p_alive: Array) -> Array:
        """P(no purchase in (T, T + H] | x, t_x, T); the derivation is in ``BTYDModel.predict``."""
        check_fitted(self)
        return self._p_no_purchase(self.fitter_, horizon, x, t_x, T, p_alive)

    def median_next_purchase_days(self, x: Array, t_x: Array, T: Array, p_alive: Array) -> Array:
        """Smallest h with P(a purchase in (T, T + h]) >= 1/2; inf if never (or beyond NEVER_DAYS)."""
        check_fitted(self)
        return self._median_next_purchase_days(self.fitter_, x, t_x, T, p_alive)

    @staticmethod
    def _p_alive(fitter: Any, x: Array, t_x: Array, T: Array) -> Array:
        return np.asarray(fitter.conditional_probability_alive(x, t_x, T), dtype=float)

    def _expected_purchases(self, fitter: Any, t: float, x: Array, t_x: Array, T: Array) -> Array:
        return np.asarray(
            fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T), dtype=float
        )

    @abstractmethod
    def _p_no_purchase(
        self, fitter: Any, horizon: Any, x: Array, t_x: Array, T: Array, p_alive: Array
    ) -> Array:
        """P(no purchase in (T, T + H] | x, t_x, T) with ``fitter``'s parameters."""

    @abstractmethod
    def _median_next_purchase_days(
        self, fitter: Any, x: Array, t_x: Array, T: Array, p_alive: Array
    ) -> Array:
        """The median wait to the next purchase with ``fitter``'s parameters."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        fitter = state.get("fitter_")
        if fitter is not None and not hasattr(fitter, "predict"):
            fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
