"""The one boundary that is a finding, not a failure: "no dropout visible yet" (the NBD model).

Every BTYD transaction model here nests the NBD model (Ehrenberg 1959; FHL 2005a §2). On a short history of
frequent buyers the maximum-likelihood estimate sits where the dropout vanishes; ``accept_boundary`` says when
that is safe and builds the clamped model. docs/btyd.md explains it for users.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from churnkit.models.btyd.fitting import parameter_problem, positive_definite
from churnkit.models.btyd.rfm import rows

if TYPE_CHECKING:
    from churnkit.models.btyd.transactions import TransactionModel

_BOUNDARY_LR_CRITICAL = 3.841458820694124  # χ²₁ 95 % quantile: the "no dropout" test does not reject below
BOUNDARY_DROPOUT = 1e-8  # a (BG/NBD, MBG/NBD) or s (Pareto/NBD) of a fit accepted on the NBD boundary
BOUNDARY_B = 2.0
_NBD_GTOL = 1e-9


class ScaledRows(NamedTuple):
    """Collapsed fit rows with time divided by the largest T, in the argument order of lifetimes' likelihoods."""

    freq: np.ndarray
    t_s: np.ndarray
    T_s: np.ndarray
    weights: np.ndarray


def accept_boundary(
    model: TransactionModel, lt: Any, fitter: Any, unique: pd.DataFrame, t_max: float, penalizer: float
) -> tuple[Any, dict[str, Any] | str]:
    """Accept "no dropout visible yet" as the fit: the nested NBD model with the dropout clamped.

    Which boundary is safe. Every model here nests the NBD model (Ehrenberg 1959; FHL 2005a §2):
    BG/NBD and MBG/NBD as E[p] = a / (a + b) → 0 (a → 0 or b → ∞), Pareto/NBD as E[μ] = s / β → 0,
    and the likelihood tends to the NBD likelihood Γ(r+x) α^r / (Γ(r) (α+T)^(r+x)), finite and
    independent of t_x. On a short history of frequent buyers nobody has gone quiet for long, the
    MLE sits on that boundary and the optimiser either stops there (a = 4e-17) or fails to converge
    (log a → -∞, flat direction, singular Hessian). That is a finding, not a failure, when

    1. the failed fit's r and α (if it got that far) are inside the allowed range: a purchase rate
       off to a boundary (r, α → ∞: no rate heterogeneity; r → 0) is a real failure, not this one;
    2. the NBD model itself fits at the same penalizer: converged, finite log-likelihood, r and α
       unit-free inside [floor, ceiling], positive-definite Hessian of its two parameters;
    3. dropout is not visible: the full model's best log-likelihood (the failed fit's, or the
       optimiser's best point when lifetimes raised) beats the NBD's by less than χ²₁(0.95) / 2,
       i.e. the likelihood-ratio test of "no dropout" does not reject. A clearly better full fit
       on the boundary (e.g. a, b → 0 together: a point mass of immediate dropouts) is not
       accepted, nor is a full log-likelihood that is not finite;
    4. the clamped model passes the same prediction checks as any fit (P(alive) and P(no
       purchase) are probabilities, expected purchases finite and >= 0).

    The clamped parameters are the NBD's r and α with a = 1e-8, b = 2 (BG/NBD, MBG/NBD) or
    s = 1e-8, β = the largest T (Pareto/NBD): at most a 1e-8-sized dropout, so P(alive) ≈ 1 and
    the expected purchases are the NBD's (r + x) / (α + T) × horizon to about 1e-6. b (and β) are
    not identified at the boundary; b = 2 keeps eq. (10)'s 2F1 away from its pole at a + b + x - 1 = 0.
    Returns (fitter, details) or (None, why not).
    """
    label = model.label
    if fitter is not None:
        rates = {k: float(fitter.params_[k]) for k in ("r", "alpha")}
        problem = parameter_problem(rates, {"alpha": (t_max, "the largest T")})
        if problem:
            return None, f"the purchase rate itself is degenerate ({problem})"
    x, t_x, T = rows(unique)
    t_s, T_s = t_x / t_max, T / t_max
    weights = unique["weight"].to_numpy().astype(float)
    nbd = fit_nbd(x, T_s, weights, penalizer)
    if isinstance(nbd, str):
        return None, f"the NBD model does not fit either ({nbd})"
    r, alpha_s, nbd_ll = nbd
    scaled = ScaledRows(x.astype(int), t_s, T_s, weights)
    full_ll = model._full_log_likelihood(lt, fitter, scaled, penalizer, t_max)
    if not math.isfinite(full_ll):
        return None, f"the {label} log-likelihood is not finite, so the boundary cannot be checked"
    lr = 2.0 * (full_ll - nbd_ll)
    if lr > _BOUNDARY_LR_CRITICAL:
        return None, (
            f"dropout is visible (likelihood-ratio statistic {lr:.3g} against the NBD model "
            f"> {_BOUNDARY_LR_CRITICAL:g})"
        )
    clamped = model._clamped_params(r, alpha_s * t_max, t_max)
    boundary_fitter = model._clamped_fitter(lt, clamped, unique, penalizer, t_max, -nbd_ll)
    problem = model._prediction_problem(boundary_fitter, unique)
    if problem:
        return None, f"the clamped model fails the prediction checks ({problem})"
    return boundary_fitter, {
        "finding": f"{model.dropout}: no dropout visible yet; {label} reduces to NBD",
        "detail": (
            f"r = {r:.4g}, α = {alpha_s * t_max:.4g} days; likelihood-ratio statistic {max(lr, 0.0):.3g} "
            f"< {_BOUNDARY_LR_CRITICAL:g}; "
            + ", ".join(f"{k} = {clamped[k]:g}" for k in model.param_names[2:])
            + ", so P(alive) ≈ 1"
        ),
        "lr_statistic": float(max(lr, 0.0)),
        "nbd_log_likelihood": float(nbd_ll),
        "full_log_likelihood": float(full_ll),
        "params": {k: float(v) for k, v in clamped.items()},
    }


def fit_nbd(
    x: np.ndarray, T: np.ndarray, weights: np.ndarray, penalizer: float
) -> tuple[float, float, float] | str:
    """MLE of the NBD model (Ehrenberg 1959) on time-scaled rows: (r, α, log-likelihood) or why it failed.

    λ ~ Gamma(r, α), purchases Poisson(λ) over (0, T]; the likelihood of x purchases at given times
    is Γ(r+x) α^r / (Γ(r) (α+T)^(r+x)) — the limit of BG/NBD's FHL (2005a) eq. (6) as a → 0 and of
    Pareto/NBD's note 009 eq. (18) as s → 0. The objective is lifetimes' (mean per customer plus
    penalizer × (r² + α²)), minimised over log r, log α with the analytic gradient.
    """
    from scipy.optimize import minimize
    from scipy.special import digamma, gammaln, polygamma

    total = weights.sum()

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha = np.exp(log_params)
        ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)
        d_r = digamma(r + x) - digamma(r) + np.log(alpha) - np.log(alpha + T)
        d_alpha = r / alpha - (r + x) / (alpha + T)
        value = -(weights @ ll) / total + penalizer * (r * r + alpha * alpha)
        grad = np.array(
            [
                (-(weights @ d_r) / total + 2 * penalizer * r) * r,
                (-(weights @ d_alpha) / total + 2 * penalizer * alpha) * alpha,
            ]
        )
        return float(value), grad

    out = minimize(objective, np.zeros(2), jac=True, method="BFGS", options={"gtol": _NBD_GTOL})
    r, alpha = (float(v) for v in np.exp(out.x))
    problem = parameter_problem({"r": r, "alpha": alpha}, {"alpha": (1.0, "the largest T")})
    if problem:
        return problem
    _, grad = objective(out.x)
    if not (out.success or np.max(np.abs(grad)) < 1e-6):
        return f"the optimiser did not converge ({out.message})"
    h_rr = weights @ (polygamma(1, r) - polygamma(1, r + x)) / total + 2 * penalizer
    h_ra = -(weights @ (1.0 / alpha - 1.0 / (alpha + T))) / total
    h_aa = weights @ (r / alpha**2 - (r + x) / (alpha + T) ** 2) / total + 2 * penalizer
    if not positive_definite(np.linalg.eigvalsh(np.array([[h_rr, h_ra], [h_ra, h_aa]]))):
        return "its Hessian is singular or not positive definite"
    ll = gammaln(r + x) - gammaln(r) + r * math.log(alpha) - (r + x) * np.log(alpha + T)
    log_likelihood = float(weights @ ll)
    if not math.isfinite(log_likelihood):
        return "its log-likelihood is not finite"
    return r, alpha, log_likelihood
