"""Pareto/NBD — Schmittlein, Morrison & Colombo (1987), Management Science 33(1).

Expressions from Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related Expressions"
(note 009). lifetimes' ``ParetoNBDFitter`` with a reproducible start and tolerance, P(no purchase in H) as a
likelihood ratio, the median wait by bisection and the "s/β → 0" NBD boundary.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from churnkit.models.btyd.boundary import BOUNDARY_DROPOUT, ScaledRows
from churnkit.models.btyd.transactions import NEVER_DAYS, Array, TransactionModel

_PARETO_XATOL = 1e-7  # Nelder-Mead on the time-scaled parameters (all of order 1)
_PARETO_FATOL_PER_ROW = 1e-10
_PARETO_MAXITER = 10_000
_BISECTION_STEPS = 48
_SHORTEST_DAYS = 1e-6


class ParetoNBDModel(TransactionModel):
    """Pareto/NBD purchases: λ ~ Gamma(r, α) and lifetime rate μ ~ Gamma(s, β), per day."""

    name = "pareto"
    label = "Pareto/NBD"
    param_names = ("r", "alpha", "s", "beta")
    dropout = "s/β → 0"
    _fitter_name = "ParetoNBDFitter"

    def _penalizer_coef(self, penalizer: float, n_rows: int) -> float:
        # lifetimes' Pareto/NBD objective is the weighted sum / mean weight (= n_rows × the mean per customer).
        return penalizer * n_rows

    def _fit_options(self, n_rows: int) -> dict[str, Any]:
        # lifetimes starts at a random point near 1 and stops at tol 1e-4: scale the tolerance to the
        # objective, tighten it, and start at exactly 1 so fits are reproducible.
        return {
            "initial_params": np.ones(4),
            "maxiter": _PARETO_MAXITER,
            "xatol": _PARETO_XATOL,
            "fatol": _PARETO_FATOL_PER_ROW * n_rows,
        }

    def _clamped_params(self, r: float, alpha: float, t_max: float) -> dict[str, float]:
        return {"r": r, "alpha": alpha, "s": BOUNDARY_DROPOUT, "beta": t_max}

    def _best_point(self, cls: Any, rows: ScaledRows, penalizer: float) -> Array:
        """lifetimes' own Nelder-Mead from parameters 1."""
        from scipy.optimize import minimize

        options = {"maxiter": _PARETO_MAXITER, "xatol": _PARETO_XATOL}
        penalizer_coef = self._penalizer_coef(penalizer, len(rows.freq))
        out = minimize(
            cls._negative_log_likelihood,
            np.ones(4),
            args=(*rows, penalizer_coef),
            method="Nelder-Mead",
            options=options,
        )
        return np.asarray(out.x, dtype=float)

    def _log_likelihood(self, cls: Any, params: Array, rows: ScaledRows) -> float:
        return -float(cls._negative_log_likelihood(params, *rows, 0.0)) * float(rows.weights.mean())

    def _p_no_purchase(
        self, fitter: Any, horizon: Any, x: Array, t_x: Array, T: Array, p_alive: Array
    ) -> Array:
        """L(x, t_x, T + H) / L(x, t_x, T), note 009 eqs. (18)-(20): the customer can die inside the window."""
        params = [float(fitter.params_[k]) for k in self.param_names]
        log_ratio = fitter._conditional_log_likelihood(params, x, t_x, T + horizon) - (
            fitter._conditional_log_likelihood(params, x, t_x, T)
        )
        return np.clip(np.exp(log_ratio), 0.0, 1.0)

    def _median_next_purchase_days(
        self, fitter: Any, x: Array, t_x: Array, T: Array, p_alive: Array
    ) -> Array:
        """Bisection on log h: P(no purchase in h) falls with h."""
        never = self._p_no_purchase(fitter, NEVER_DAYS, x, t_x, T, p_alive) >= 0.5
        days = np.full(x.shape, np.inf)
        todo = ~never
        lo = np.full(int(todo.sum()), math.log(_SHORTEST_DAYS))
        hi = np.full(lo.shape, math.log(NEVER_DAYS))
        xs, ts, Ts, ps = x[todo], t_x[todo], T[todo], p_alive[todo]
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            later = self._p_no_purchase(fitter, np.exp(mid), xs, ts, Ts, ps) > 0.5
            lo = np.where(later, mid, lo)
            hi = np.where(later, hi, mid)
        days[todo] = np.exp(0.5 * (lo + hi))
        return days
