"""BG/NBD — Fader, Hardie & Lee (2005a), "Counting Your Customers the Easy Way", Marketing Science 24(2).

lifetimes' ``BetaGeoFitter`` with the expected purchases repaired by quadrature where its 2F1 fails, the
closed-form P(no purchase in H) and median wait, and the "a → 0" NBD boundary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from churnkit.models.btyd.boundary import BOUNDARY_B, BOUNDARY_DROPOUT, ScaledRows
from churnkit.models.btyd.transactions import NEVER_DAYS, Array, TransactionModel

_QUADRATURE_NODES = 96


class BGNBDModel(TransactionModel):
    """BG/NBD purchases: λ ~ Gamma(r, α) per day, dropout after each purchase with p ~ Beta(a, b)."""

    name = "bgnbd"
    label = "BG/NBD"
    param_names = ("r", "alpha", "a", "b")
    dropout = "a → 0"
    _fitter_name = "BetaGeoFitter"
    _beta_shift = 0.0
    """p given x purchases ~ Beta(a, b + x + shift): 0 for BG/NBD, 1 for MBG/NBD."""

    def _clamped_params(self, r: float, alpha: float, t_max: float) -> dict[str, float]:
        return {"r": r, "alpha": alpha, "a": BOUNDARY_DROPOUT, "b": BOUNDARY_B}

    def _best_point(self, cls: Any, rows: ScaledRows, penalizer: float) -> Array:
        """lifetimes' own BFGS from log-parameters 0.1."""
        from autograd import value_and_grad
        from scipy.optimize import minimize

        out = minimize(
            value_and_grad(cls._negative_log_likelihood),
            0.1 * np.ones(4),
            jac=True,
            tol=1e-7,
            args=(*rows, penalizer),
        )
        return np.exp(np.asarray(out.x, dtype=float))

    def _log_likelihood(self, cls: Any, params: Array, rows: ScaledRows) -> float:
        return -float(cls._negative_log_likelihood(np.log(params), *rows, 0.0)) * float(rows.weights.sum())

    def _expected_purchases(self, fitter: Any, t: float, x: Array, t_x: Array, T: Array) -> Array:
        """FHL (2005a) eq. (10) from lifetimes, by quadrature where its 2F1 fails."""
        expected = super()._expected_purchases(fitter, t, x, t_x, T)
        broken = ~(np.isfinite(expected) & (expected >= 0))
        if broken.any():
            rows = (x[broken], t_x[broken], T[broken])
            p_alive = self._p_alive(fitter, *rows)
            expected = expected.copy()
            expected[broken] = self._expected_purchases_by_quadrature(fitter, t, *rows, p_alive)
        return expected

    def _expected_purchases_by_quadrature(
        self, fitter: Any, t: float, x: Array, t_x: Array, T: Array, p_alive: Array
    ) -> Array:
        """BG/NBD and MBG/NBD conditional expectation without the Gauss hypergeometric function.

        FHL (2005a) eq. (10) goes through 2F1(r+x, b+x; a+b+x-1; ·), which scipy cannot evaluate when
        a + b + x - 1 is near 0 (penalized fits shrink a and b). Given alive, a customer with rates λ, p
        makes (1 - e^{-λ p t}) / p purchases in t on average; with λ ~ Gamma(r+x, α+T) integrated out,

            E = P(alive) · E_p[(1 - ((α+T) / (α+T+p t))^{r+x}) / p],

        p ~ Beta(a, b+x) for BG/NBD and Beta(a, b+x+1) for MBG/NBD, by Gauss-Jacobi quadrature in p.
        """
        from scipy.special import roots_jacobi

        r, alpha, a, b = (float(fitter.params_[k]) for k in self.param_names)
        expected = np.empty(x.shape)
        for value in np.unique(x):
            rows = x == value
            nodes, weights = roots_jacobi(_QUADRATURE_NODES, b + value + self._beta_shift - 1.0, a - 1.0)
            p = 0.5 * (1.0 + nodes)
            spread = np.multiply.outer(t / (alpha + T[rows]), p)
            bought = -np.expm1(-(r + value) * np.log1p(spread)) / p
            expected[rows] = p_alive[rows] * (bought @ (weights / weights.sum()))
        return expected

    def _p_no_purchase(
        self, fitter: Any, horizon: Any, x: Array, t_x: Array, T: Array, p_alive: Array
    ) -> Array:
        """1 - P(alive) (1 - ((α+T)/(α+T+H))^(r+x)): an alive customer stays alive until its next purchase."""
        r, alpha = float(fitter.params_["r"]), float(fitter.params_["alpha"])
        stays_quiet = np.exp(-(r + x) * np.log1p(horizon / (alpha + T)))  # ((α+T)/(α+T+H))^(r+x)
        return 1.0 - p_alive * (1.0 - stays_quiet)

    def _median_next_purchase_days(
        self, fitter: Any, x: Array, t_x: Array, T: Array, p_alive: Array
    ) -> Array:
        """P(alive) (1 - ((α+T)/(α+T+h))^(r+x)) = 1/2, solved for h."""
        r, alpha = float(fitter.params_["r"]), float(fitter.params_["alpha"])
        with np.errstate(divide="ignore", invalid="ignore"):
            days = (alpha + T) * np.expm1(-np.log1p(-0.5 / p_alive) / (r + x))
        days = np.where((p_alive > 0.5) & np.isfinite(days), days, np.inf)
        return np.where(days > NEVER_DAYS, np.inf, days)
