"""BTYD transaction models and Gamma-Gamma spend behind one adapter.

This is the only churnkit module that touches ``lifetimes`` (archived upstream): replacing the backend
(PyMC-Marketing, ...) means replacing this file and nothing else.

Models, all in the lifetimes RFM convention with time in **days**:

* BG/NBD — Fader, Hardie & Lee (2005a), "Counting Your Customers the Easy Way", Marketing Science 24(2).
* Pareto/NBD — Schmittlein, Morrison & Colombo (1987), Management Science 33(1); expressions from
  Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related Expressions" (note 009).
* MBG/NBD — Batislam, Denizel & Filiztekin (2007), IJRM 24(3); Wagner & Hoppe (2008) erratum.
* Gamma-Gamma spend — Fader, Hardie & Lee (2005b), "RFM and CLV: Using Iso-Value Curves", JMR 42;
  Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note 025).

Units: the fits are scale-equivariant (α and β carry the time unit, every other parameter is unit-free),
so weekly data times 7 gives α_days = 7 α_weeks. Horizons are days; a month is 30.4375 days.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import numbers
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from churnkit.errors import ConfigError, InputError, ModelError

ModelName = Literal["bgnbd", "pareto", "mbgnbd"]

REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", "frequency", "recency", "T", "monetary_value")
PREDICTION_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "p_alive",
    "expected_purchases",
    "p_no_purchase",
    "expected_spend",
    "clv",
    "expected_next_purchase_days",
)
DAYS_PER_MONTH = 30.4375
NEVER_DAYS = 1e6
"""Median waiting times beyond this (about 2,700 years) are reported as ``inf``."""

MODEL_LABELS: dict[str, str] = {"bgnbd": "BG/NBD", "pareto": "Pareto/NBD", "mbgnbd": "MBG/NBD"}
_PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "pareto": ("r", "alpha", "s", "beta"),
}
_SPEND_PARAM_NAMES = ("p", "q", "v")
# Degenerate-fit guard. Parameters are made unit-free first (α, β divided by the largest T; v by the
# mean usable spend); values outside [floor, ceiling] mean the optimiser ran off to a boundary.
_PARAM_FLOOR = 1e-8
_PARAM_CEILING = 1e6
_HESSIAN_RCOND = 1e-12  # smallest / largest Hessian eigenvalue below this: a parameter is not identified
_CHECK_HORIZONS_DAYS = (90.0, 365.0)
_PARETO_XATOL = 1e-7  # Nelder-Mead on the time-scaled parameters (all of order 1)
_PARETO_FATOL_PER_ROW = 1e-10
_PARETO_MAXITER = 10_000
_BISECTION_STEPS = 48
_QUADRATURE_NODES = 96
_SHORTEST_DAYS = 1e-6


_BOUNDARY_LR_CRITICAL = 3.841458820694124  # χ²₁ 95 % quantile: the "no dropout" test does not reject below
_BOUNDARY_DROPOUT = 1e-8  # a (BG/NBD, MBG/NBD) or s (Pareto/NBD) of a fit accepted on the NBD boundary
_BOUNDARY_B = 2.0
_NBD_GTOL = 1e-9
_SPEND_PRIOR_PURCHASES = 1.0  # weight of the population mean in the Gamma-Gamma fallback, in purchases


class ConvergenceWarning(UserWarning):
    """A fit failed or was degenerate and was redone with a larger penalizer."""


class BoundaryWarning(UserWarning):
    """A dropout parameter is on its boundary ("no dropout visible yet"): accepted, clamped and said."""


class FallbackWarning(UserWarning):
    """A fit failed for good: another model, a simpler estimate or no model at all is used instead."""


class _AllAttemptsFailed(ModelError):
    """Every penalizer failed; ``attempts`` says how."""

    def __init__(self, message: str, attempts: list[dict[str, Any]]):
        self.attempts = attempts
        super().__init__(message)


def _exception_text(exc: BaseException) -> str:
    first_line = next((s.strip() for s in str(exc).splitlines() if s.strip()), "")
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


def _attempts_text(attempts: list[dict[str, Any]]) -> str:
    return "; ".join(f"penalizer {a['penalizer']:g}: {a['reason']}" for a in attempts)


# --------------------------------------------------------------------------- lifetimes access


@contextlib.contextmanager
def _quiet(*, capture_stdout: bool = False) -> Iterator[None]:
    """Run lifetimes code without leaking its side effects.

    lifetimes resets warning filters inside its likelihoods, prints the optimiser result before raising
    (fits only: ``capture_stdout``), and its boundary terms take log(0). Filters are restored on exit;
    numpy floating-point warnings are silenced because every result is checked for finiteness.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        stack.enter_context(np.errstate(all="ignore"))
        if capture_stdout:
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _lifetimes() -> Any:
    """Import lifetimes lazily, undoing its import-time warning filters and pandas option."""
    with _quiet():
        try:
            previous = pd.get_option("mode.chained_assignment")
        except (KeyError, AttributeError):  # pandas.errors.OptionError: the option is gone
            previous = None
        import lifetimes

        if previous is not None:
            pd.set_option("mode.chained_assignment", previous)
    return lifetimes


# --------------------------------------------------------------------------- input checks


@dataclass(frozen=True)
class _RFM:
    """Validated input: the customer ids and float arrays x, t_x, T, m."""

    index: pd.Index
    customer_id: pd.Series
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray


def _validate(rfm: Any) -> _RFM:
    """Check the RFM contract; raise InputError naming the column and an offending customer."""
    if not isinstance(rfm, pd.DataFrame):
        raise InputError(f"BTYD input must be a pandas DataFrame, got {type(rfm).__name__}")
    for column in REQUIRED_COLUMNS:
        if column not in rfm.columns:
            raise InputError(
                f"BTYD input is missing column '{column}' (needs {', '.join(REQUIRED_COLUMNS)})",
                column=column,
            )
    if len(rfm) == 0:
        raise InputError("BTYD input has no rows")
    ids = rfm["customer_id"]
    missing = ids.isna().to_numpy()
    if missing.any():
        raise InputError(
            f"column 'customer_id' has {int(missing.sum())} missing values", column="customer_id"
        )
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        raise InputError(
            f"column 'customer_id' has {int(duplicated.sum())} duplicated ids "
            f"(e.g. {ids[duplicated].iloc[0]!r}); BTYD input is one row per customer",
            column="customer_id",
        )
    values: dict[str, np.ndarray] = {}
    for column in REQUIRED_COLUMNS[1:]:
        series = rfm[column]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise InputError(f"column '{column}' must be numeric, got {series.dtype}", column=column)
        values[column] = series.to_numpy(dtype=float, na_value=np.nan)
    x, t_x, T, m = (values[c] for c in REQUIRED_COLUMNS[1:])

    def require(ok: np.ndarray, column: str, what: str) -> None:
        if ok.all():
            return
        bad = np.flatnonzero(~ok)
        i = bad[0]
        raise InputError(
            f"column '{column}' {what}: {bad.size} rows, e.g. customer_id {ids.iloc[i]!r} "
            f"(frequency={x[i]:g}, recency={t_x[i]:g}, T={T[i]:g}, monetary_value={m[i]:g})",
            column=column,
        )

    for column, array in values.items():
        require(np.isfinite(array), column, "has missing or infinite values")
    require((x >= 0) & (x == np.floor(x)), "frequency", "must be a whole number >= 0 (repeat purchase days)")
    require(t_x >= 0, "recency", "must be >= 0")
    require(
        t_x <= T,
        "recency",
        "is larger than T (recency is the age at the last purchase and cannot exceed the age T at the as-of date)",
    )
    require((x > 0) | (t_x == 0), "recency", "must be 0 when frequency is 0")
    if T.max() <= 0:
        raise InputError("column 'T' is 0 for every customer: no customer has any history", column="T")
    return _RFM(index=rfm.index, customer_id=ids, x=x, t_x=t_x, T=T, m=m)


def _collapse(columns: dict[str, np.ndarray]) -> tuple[pd.DataFrame, np.ndarray]:
    """Unique rows in sorted order with their counts (``weight``), and each input row's unique-row number.

    Sorting makes the weighted fit independent of the input's row order.
    """
    grouped = pd.DataFrame(columns).groupby(list(columns), sort=True)
    codes = grouped.ngroup().to_numpy()
    unique = grouped.size().reset_index(name="weight")
    return unique, codes


def _check_settings(horizon_days: float, clv_months: int, annual_discount_rate: float) -> None:
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, numbers.Real):
        raise ConfigError(f"horizon_days must be a number of days, got {horizon_days!r}")
    if not (math.isfinite(horizon_days) and horizon_days > 0):
        raise ConfigError(f"horizon_days must be > 0, got {horizon_days!r}")
    if isinstance(clv_months, bool) or not isinstance(clv_months, numbers.Integral) or clv_months < 1:
        raise ConfigError(f"clv_months must be a whole number >= 1, got {clv_months!r}")
    if isinstance(annual_discount_rate, bool) or not isinstance(annual_discount_rate, numbers.Real):
        raise ConfigError(f"annual_discount_rate must be a number, got {annual_discount_rate!r}")
    if not (math.isfinite(annual_discount_rate) and annual_discount_rate > -1):
        raise ConfigError(f"annual_discount_rate must be > -1, got {annual_discount_rate!r}")


# --------------------------------------------------------------------------- the estimator


class BTYDModel:
    """BG/NBD, Pareto/NBD or MBG/NBD for purchases plus Gamma-Gamma for spend, fitted on an RFM table.

    Input: one row per customer with ``customer_id, frequency, recency, T, monetary_value`` in the
    lifetimes convention, in days (frequency = repeat purchase days, recency = age at the last purchase,
    T = age at the as-of date, monetary_value = mean spend of the repeat purchase days, 0 if none).

    The transaction model is fitted on the distinct (frequency, recency, T) rows with their counts as
    weights, Gamma-Gamma on the distinct (frequency, monetary_value) rows of customers with frequency > 0
    and monetary_value > 0: same likelihood, same parameters, far fewer rows.

    ``penalizer`` is the L2 coefficient on the time-scaled parameters, relative to the mean per-customer
    log-likelihood for every model (for Pareto/NBD lifetimes sums over rows, so its ``penalizer_coef`` is
    set to penalizer × distinct rows). A fit that raises, has non-finite parameters, runs off to a boundary,
    has a singular Hessian or gives non-finite predictions is first checked for the one boundary that is a
    finding, "no dropout visible yet" (the model reduces to NBD: ``_accept_boundary`` says when that is
    safe); accepted, the dropout parameter is clamped, ``fit_info_["boundary"]`` says so and a
    ``BoundaryWarning`` is emitted. Otherwise the fit is redone with the next of ``retry_penalizers``
    (a ``ConvergenceWarning`` says why); if none works, ``ModelError``. ``fit_btyd`` wraps this in a
    chain of models that never raises for a fit failure.

    Gamma-Gamma gets the same retries, penalized fits on spend divided by the mean spend (``_fit_spend``:
    the penalizer is unit-free); if every penalizer fails (e.g. q <= 1 on heavy-tailed spend) nothing stops: the
    transaction model stays, ``expected_spend`` is each customer's mean spend shrunk towards the
    population mean (``_expected_spend``), ``fit_info_["spend_fallback"] = "shrunk_mean"`` and a
    ``FallbackWarning`` says why.

    Fitted attributes: ``transaction_model_`` (the lifetimes fitter), ``spend_model_`` (lifetimes
    ``GammaGammaFitter`` or None when no customer has a usable repeat spend or Gamma-Gamma failed),
    ``spend_fallback_`` (the fallback's settings or None), ``params_`` and ``spend_params_`` (dicts, α and
    β per day), ``fit_info_`` (penalizers used, attempts, retries, converged = no retry or boundary was
    needed, boundary (str or None) and boundary_detail, spend_fallback, row counts, warnings, seconds
    per step).
    """

    def __init__(
        self,
        model: ModelName = "bgnbd",
        *,
        penalizer: float = 0.0,
        spend_penalizer: float = 0.0,
        retry_penalizers: Sequence[float] = (0.001, 0.01, 0.1),
    ) -> None:
        self.model = model
        self.penalizer = penalizer
        self.spend_penalizer = spend_penalizer
        self.retry_penalizers = retry_penalizers

    # ------------------------------------------------------------------ fit

    def fit(self, rfm: pd.DataFrame) -> BTYDModel:
        """Fit the transaction model and Gamma-Gamma on an RFM table (days); returns self."""
        self._check_params()
        started = time.perf_counter()
        data = _validate(rfm)
        label = MODEL_LABELS[self.model]
        n_repeat = int((data.x > 0).sum())
        if n_repeat == 0:
            raise ModelError(
                f"cannot fit {label}: none of the {data.x.size} customers has a repeat purchase "
                "(frequency > 0), so purchase rates and dropout are not identified"
            )
        lt = _lifetimes()
        unique, _ = _collapse({"frequency": data.x, "recency": data.t_x, "T": data.T})
        t_max = float(data.T.max())
        seconds = {"validate_and_collapse": time.perf_counter() - started}
        started = time.perf_counter()

        transaction_model, penalizer, attempts, boundary = self._fit_with_retries(
            label,
            self._penalizers(self.penalizer),
            lambda pen: self._fit_transactions(lt, unique, pen),
            lambda fitter: self._transaction_problem(fitter, unique, t_max),
            lambda fitter, pen: self._accept_boundary(lt, fitter, unique, t_max, pen),
        )

        seconds["transactions"] = time.perf_counter() - started
        started = time.perf_counter()
        usable = (data.x > 0) & (data.m > 0)
        spend_model = None
        spend_penalizer = None
        spend_fallback = None
        spend_unique_rows = 0
        messages: list[str] = []
        if usable.any():
            spend_rows, _ = _collapse({"frequency": data.x[usable], "monetary_value": data.m[usable]})
            spend_unique_rows = len(spend_rows)
            mean_spend = float(data.m[usable].mean())
            try:
                spend_model, spend_penalizer, spend_attempts, _ = self._fit_with_retries(
                    "Gamma-Gamma",
                    self._penalizers(self.spend_penalizer),
                    lambda pen: _fit_spend(lt, spend_rows, pen, mean_spend),
                    lambda fitter: _spend_problem(fitter, spend_rows, mean_spend),
                )
            except _AllAttemptsFailed as failure:
                spend_attempts = failure.attempts
                spend_fallback = _shrunk_mean_spend(data.x[usable], data.m[usable])
                message = (
                    f"Gamma-Gamma fit failed at every penalizer tried ({_attempts_text(failure.attempts)}): "
                    f"expected_spend falls back to each customer's mean spend shrunk towards the population "
                    f"mean spend per repeat purchase ({spend_fallback['population_mean']:.4g}) with the weight "
                    f"of {spend_fallback['prior_purchases']:g} purchase"
                )
                messages.append(message)
                warnings.warn(message, FallbackWarning, stacklevel=2)
            attempts += spend_attempts
        else:
            message = (
                "no customer has a repeat purchase with monetary_value > 0: Gamma-Gamma was not fitted, "
                "expected_spend and clv will be NaN"
            )
            messages.append(message)
            warnings.warn(message, UserWarning, stacklevel=2)

        seconds["spend"] = time.perf_counter() - started
        failed = [a for a in attempts if not a["ok"]]
        for part in dict.fromkeys(a["part"] for a in failed):
            used = next((a["penalizer"] for a in attempts if a["part"] == part and a["ok"]), None)
            if used is None:  # Gamma-Gamma fell back to the shrunk mean: said above
                continue
            tried = [a for a in failed if a["part"] == part]
            message = (
                f"{part} fit failed at "
                + "; ".join(f"penalizer {a['penalizer']:g} ({a['reason']})" for a in tried)
                + f"; refitted with penalizer {used:g}"
            )
            messages.append(message)
            warnings.warn(message, ConvergenceWarning, stacklevel=2)
        if boundary is not None:
            message = f"{label}: {boundary['finding']} ({boundary['detail']})"
            messages.append(message)
            warnings.warn(message, BoundaryWarning, stacklevel=2)

        self.transaction_model_ = transaction_model
        self.spend_model_ = spend_model
        self.spend_fallback_ = spend_fallback
        self.params_ = {k: float(v) for k, v in transaction_model.params_.items()}
        self.spend_params_ = (
            {} if spend_model is None else {k: float(v) for k, v in spend_model.params_.items()}
        )
        self.fit_info_ = {
            "model": self.model,
            "penalizer": penalizer,
            "spend_penalizer": spend_penalizer,
            "retries": len(failed),
            "converged": not failed and boundary is None,
            "boundary": None if boundary is None else boundary["finding"],
            "boundary_detail": boundary,
            "spend_fallback": None if spend_fallback is None else "shrunk_mean",
            "attempts": attempts,
            "n_customers": int(data.x.size),
            "n_unique_rows": len(unique),
            "n_repeat_customers": n_repeat,
            "n_spend_customers": int(usable.sum()),
            "n_spend_unique_rows": spend_unique_rows,
            "warnings": messages,
            "seconds": seconds,
        }
        return self

    def _check_params(self) -> None:
        if self.model not in _PARAM_NAMES:
            raise ConfigError(
                f"model must be one of {', '.join(map(repr, _PARAM_NAMES))}, got {self.model!r}"
            )
        for name in ("penalizer", "spend_penalizer"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
        for value in self.retry_penalizers:
            if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"retry_penalizers must be numbers > 0, got {self.retry_penalizers!r}")

    def _penalizers(self, first: float) -> list[float]:
        return [float(first), *sorted(float(p) for p in self.retry_penalizers if p > first)]

    @staticmethod
    def _fit_with_retries(
        part: str,
        penalizers: list[float],
        fit_one: Callable[[float], Any],
        problem_of: Callable[[Any], str | None],
        boundary_of: Callable[[Any, float], tuple[Any, dict[str, Any] | str]] | None = None,
    ) -> tuple[Any, float, list[dict[str, Any]], dict[str, Any] | None]:
        """Fit at each penalizer in turn until one passes the degenerate-fit checks.

        After a failed attempt, ``boundary_of(fitter or None, penalizer)`` may accept the boundary
        estimate instead: it returns (fitter, details) to accept, or (None, why not).
        Returns (fitter, penalizer, attempts, boundary details or None); ``_AllAttemptsFailed`` (a
        ``ModelError``) when nothing worked.
        """
        attempts: list[dict[str, Any]] = []
        for penalizer in penalizers:
            try:
                with _quiet(capture_stdout=True):
                    fitter = fit_one(penalizer)
                    problem = problem_of(fitter)
            except (ValueError, ArithmeticError) as exc:  # lifetimes' ConvergenceError, LinAlgError
                fitter = None
                problem = _exception_text(exc)
            if problem is None:
                attempts.append({"part": part, "penalizer": penalizer, "ok": True, "reason": None})
                return fitter, penalizer, attempts, None
            if boundary_of is not None:
                try:
                    with _quiet(capture_stdout=True):
                        accepted, details = boundary_of(fitter, penalizer)
                except (ValueError, ArithmeticError) as exc:
                    accepted, details = None, _exception_text(exc)
                if accepted is not None and isinstance(details, dict):
                    details = {"reason": problem, **details}
                    attempts.append(
                        {
                            "part": part,
                            "penalizer": penalizer,
                            "ok": True,
                            "reason": problem,
                            "boundary": True,
                        }
                    )
                    return accepted, penalizer, attempts, details
                problem = f"{problem}; boundary estimate not accepted: {details}"
            attempts.append({"part": part, "penalizer": penalizer, "ok": False, "reason": problem})
        raise _AllAttemptsFailed(
            f"{part} fit failed at every penalizer tried: "
            + "; ".join(f"penalizer {a['penalizer']:g}: {a['reason']}" for a in attempts)
            + ". Check the RFM input (time unit days, enough repeat buyers) or set a larger penalizer.",
            attempts,
        )

    def _accept_boundary(
        self, lt: Any, fitter: Any, unique: pd.DataFrame, t_max: float, penalizer: float
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
        label = MODEL_LABELS[self.model]
        if fitter is not None:
            rates = {k: float(fitter.params_[k]) for k in ("r", "alpha")}
            problem = _parameter_problem(rates, {"alpha": (t_max, "the largest T")})
            if problem:
                return None, f"the purchase rate itself is degenerate ({problem})"
        x = unique["frequency"].to_numpy()
        t_s = unique["recency"].to_numpy() / t_max
        T_s = unique["T"].to_numpy() / t_max
        weights = unique["weight"].to_numpy().astype(float)
        nbd = _fit_nbd(x, T_s, weights, penalizer)
        if isinstance(nbd, str):
            return None, f"the NBD model does not fit either ({nbd})"
        r, alpha_s, nbd_ll = nbd
        full_ll = _full_log_likelihood(lt, self.model, fitter, x, t_s, T_s, weights, penalizer, t_max)
        if not math.isfinite(full_ll):
            return None, f"the {label} log-likelihood is not finite, so the boundary cannot be checked"
        lr = 2.0 * (full_ll - nbd_ll)
        if lr > _BOUNDARY_LR_CRITICAL:
            return None, (
                f"dropout is visible (likelihood-ratio statistic {lr:.3g} against the NBD model "
                f"> {_BOUNDARY_LR_CRITICAL:g})"
            )
        if self.model == "pareto":
            clamped = {"r": r, "alpha": alpha_s * t_max, "s": _BOUNDARY_DROPOUT, "beta": t_max}
        else:
            clamped = {"r": r, "alpha": alpha_s * t_max, "a": _BOUNDARY_DROPOUT, "b": _BOUNDARY_B}
        boundary_fitter = _clamped_fitter(lt, self.model, clamped, unique, penalizer, t_max, -nbd_ll)
        problem = self._prediction_problem(boundary_fitter, unique)
        if problem:
            return None, f"the clamped model fails the prediction checks ({problem})"
        dropout = "s/β → 0" if self.model == "pareto" else "a → 0"
        return boundary_fitter, {
            "finding": f"{dropout}: no dropout visible yet; {label} reduces to NBD",
            "detail": (
                f"r = {r:.4g}, α = {alpha_s * t_max:.4g} days; likelihood-ratio statistic {max(lr, 0.0):.3g} "
                f"< {_BOUNDARY_LR_CRITICAL:g}; "
                + ", ".join(f"{k} = {clamped[k]:g}" for k in _PARAM_NAMES[self.model][2:])
                + ", so P(alive) ≈ 1"
            ),
            "lr_statistic": float(max(lr, 0.0)),
            "nbd_log_likelihood": float(nbd_ll),
            "full_log_likelihood": float(full_ll),
            "params": {k: float(v) for k, v in clamped.items()},
        }

    def _fit_transactions(self, lt: Any, unique: pd.DataFrame, penalizer: float) -> Any:
        x = unique["frequency"].to_numpy()
        t_x = unique["recency"].to_numpy()
        T = unique["T"].to_numpy()
        weights = unique["weight"].to_numpy()
        if self.model == "pareto":
            # lifetimes' Pareto/NBD objective is the weighted sum / mean weight (= n_rows × the mean
            # per customer), starts at a random point near 1 and stops at tol 1e-4: scale the penalizer
            # and tolerance to the mean, tighten it, and start at exactly 1 so fits are reproducible.
            fitter = lt.ParetoNBDFitter(penalizer_coef=penalizer * len(unique))
            return fitter.fit(
                x,
                t_x,
                T,
                weights=weights,
                initial_params=np.ones(4),
                maxiter=_PARETO_MAXITER,
                xatol=_PARETO_XATOL,
                fatol=_PARETO_FATOL_PER_ROW * len(unique),
            )
        cls = lt.BetaGeoFitter if self.model == "bgnbd" else lt.ModifiedBetaGeoFitter
        return cls(penalizer_coef=penalizer).fit(x, t_x, T, weights=weights)

    def _transaction_problem(self, fitter: Any, unique: pd.DataFrame, t_max: float) -> str | None:
        """Why a fitted transaction model is degenerate, or None."""
        params = {k: float(v) for k, v in fitter.params_.items()}
        scales = {"alpha": (t_max, "the largest T"), "beta": (t_max, "the largest T")}
        return (
            _parameter_problem(params, scales)
            or _hessian_problem(fitter)
            or self._prediction_problem(fitter, unique)
        )

    def _prediction_problem(self, fitter: Any, unique: pd.DataFrame) -> str | None:
        """Predictions on the fit rows that are not probabilities or not finite, or None."""
        x = unique["frequency"].to_numpy()
        t_x = unique["recency"].to_numpy()
        T = unique["T"].to_numpy()
        p_alive = _p_alive(fitter, x, t_x, T)
        if not np.all((p_alive >= 0) & (p_alive <= 1)):
            return "P(alive) is not a probability for some customers"
        for horizon in _CHECK_HORIZONS_DAYS:
            p_none = _p_no_purchase(self.model, fitter, horizon, x, t_x, T, p_alive)
            expected = _expected_purchases(self.model, fitter, horizon, x, t_x, T)
            if not np.all((p_none >= 0) & (p_none <= 1)):
                return f"P(no purchase in {horizon:g} days) is not a probability for some customers"
            if not np.all(np.isfinite(expected) & (expected >= 0)):
                return f"expected purchases in {horizon:g} days are not finite and >= 0 for some customers"
        return None

    # ------------------------------------------------------------------ predict

    def predict(
        self,
        rfm: pd.DataFrame,
        *,
        horizon_days: float = 90,
        clv_months: int = 12,
        annual_discount_rate: float = 0.10,
    ) -> pd.DataFrame:
        r"""Score customers at their as-of date D over the window [D, D + horizon_days).

        Returns one row per input row (same index) with:

        * ``p_alive`` — P(alive at D | x, t_x, T): BG/NBD from Fader, Hardie & Lee (2008) note 021;
          Pareto/NBD note 009 eqs. (36)-(37); MBG/NBD Batislam et al. (2007) Appendix A eq. (5).
        * ``expected_purchases`` — E[repeat purchases in the window | x, t_x, T]: BG/NBD FHL (2005a)
          eq. (10); Pareto/NBD note 009 eq. (41); MBG/NBD Wagner & Hoppe (2008).
        * ``p_no_purchase`` — P(no purchase in the window | x, t_x, T), the churn score used by the rest
          of churnkit. The event "x purchases in (0, T], the last at t_x, none in (T, T+H]" is the event
          "x purchases in (0, T+H], the last at t_x", so for every model

          .. math:: P(X(T, T+H) = 0 \mid x, t_x, T) = L(x, t_x, T + H) / L(x, t_x, T)

          with L the model's likelihood (BG/NBD FHL 2005a eq. (6); Pareto/NBD note 009 eq. (18)).
          BG/NBD and MBG/NBD: an alive customer only drops out at a purchase, so it stays alive until
          its next purchase; given alive, λ ~ Gamma(r + x, α + T), P(no purchase | λ) = e^{-λH}, hence

          .. math:: 1 - P(\text{alive}) \left(1 - \left(\frac{α+T}{α+T+H}\right)^{r+x}\right).

          Pareto/NBD: the customer can die inside the window. Given alive, λ ~ Gamma(r + x, α + T) and
          μ ~ Gamma(s, β + T) independently and P(no purchase in H | λ, μ) = μ/(λ+μ) + λ/(λ+μ) e^{-(λ+μ)H};
          the expectation is the likelihood ratio above, evaluated in closed form (eqs. (18)-(20)).
          Why not 1 - P(alive): BG/NBD gives every one-time buyer (x = 0) P(alive) = 1, so 1 - P(alive)
          ranks all of them as certain stayers whatever their age T; p_no_purchase does not.
        * ``expected_spend`` — Gamma-Gamma conditional mean spend per purchase (note 025 eq. (5)); the
          population mean p v / (q - 1) for customers without a usable spend (frequency 0 or
          monetary_value <= 0); NaN when Gamma-Gamma was not fitted.
        * ``clv`` — Σ_{m=1..clv_months} (E[N(m·30.4375 d)] - E[N((m-1)·30.4375 d)]) × expected_spend
          / (1 + i)^m with the monthly rate i = (1 + annual_discount_rate)^{1/12} - 1.
        * ``expected_next_purchase_days`` — the *median* wait from D to the next purchase: the smallest h
          with P(a purchase in [D, D+h)) ≥ 1/2; ``inf`` when the customer is more likely than not never
          to buy again (or the median exceeds NEVER_DAYS). Not the mean: E[1/λ] is infinite whenever
          r + x ≤ 1, which is every one-time buyer when r ≤ 1.
        """
        self._check_fitted()
        _check_settings(horizon_days, clv_months, annual_discount_rate)
        data = _validate(rfm)
        unique, codes = _collapse({"frequency": data.x, "recency": data.t_x, "T": data.T})
        x = unique["frequency"].to_numpy()
        t_x = unique["recency"].to_numpy()
        T = unique["T"].to_numpy()
        fitter = self.transaction_model_
        horizon = float(horizon_days)
        monthly_rate = (1.0 + float(annual_discount_rate)) ** (1.0 / 12.0) - 1.0

        with _quiet():
            p_alive = _p_alive(fitter, x, t_x, T)
            p_none = _p_no_purchase(self.model, fitter, horizon, x, t_x, T, p_alive)
            expected = _expected_purchases(self.model, fitter, horizon, x, t_x, T)
            next_days = _median_next_purchase_days(self.model, fitter, x, t_x, T, p_alive)
            cumulative = np.column_stack(
                [np.zeros_like(x)]
                + [
                    _expected_purchases(self.model, fitter, m * DAYS_PER_MONTH, x, t_x, T)
                    for m in range(1, clv_months + 1)
                ]
            )
            discount = (1.0 + monthly_rate) ** -np.arange(1, clv_months + 1, dtype=float)
            discounted_purchases = np.diff(cumulative, axis=1) @ discount
            spend = self._expected_spend(data.x, data.m)

        results = {
            "p_alive": p_alive,
            "expected_purchases": expected,
            "p_no_purchase": p_none,
            "monthly expected purchases for clv": discounted_purchases,
        }
        for name, values in results.items():
            bad = ~np.isfinite(values[codes])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ModelError(
                    f"{MODEL_LABELS[self.model]} gives non-finite {name} for {int(bad.sum())} customers "
                    f"(e.g. customer_id {data.customer_id.iloc[i]!r}: frequency={data.x[i]:g}, "
                    f"recency={data.t_x[i]:g}, T={data.T[i]:g}); refit with a larger penalizer"
                )
        return pd.DataFrame(
            {
                "customer_id": data.customer_id.to_numpy(),
                "p_alive": p_alive[codes],
                "expected_purchases": expected[codes],
                "p_no_purchase": p_none[codes],
                "expected_spend": spend,
                "clv": discounted_purchases[codes] * spend,
                "expected_next_purchase_days": next_days[codes],
            },
            index=data.index,
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "transaction_model_"):
            raise ModelError("this BTYDModel is not fitted yet: call fit(rfm) before predict")

    def _expected_spend(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Gamma-Gamma E[spend per purchase | x, m] (note 025 eq. (5)); population mean without usable spend.

        When Gamma-Gamma failed at every penalizer (``spend_fallback_``), the credibility-weighted mean
        (x m + k m̄) / (x + k): the customer's own mean spend per repeat purchase shrunk towards the
        population's m̄ (mean spend per repeat purchase over the customers with usable spend) with the
        weight of k = 1 purchase, and m̄ for customers without usable spend. It is Gamma-Gamma's own
        form (note 025 eq. (5) weighs m by p x / (p x + q - 1)) with a fixed prior weight instead of a
        fitted one.
        """
        if self.spend_model_ is None:
            fallback = getattr(self, "spend_fallback_", None)
            if fallback is None:
                return np.full(x.shape, np.nan)
            mean, k = fallback["population_mean"], fallback["prior_purchases"]
            usable = (x > 0) & (m > 0)
            return np.where(usable, (x * np.where(usable, m, 0.0) + k * mean) / (x + k), mean)
        p, q, v = (self.spend_params_[k] for k in _SPEND_PARAM_NAMES)
        spend = np.full(x.shape, p * v / (q - 1.0))
        usable = (x > 0) & (m > 0)
        if usable.any():
            spend[usable] = np.asarray(
                self.spend_model_.conditional_expected_average_profit(x[usable], m[usable]), dtype=float
            )
        return spend

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without what lifetimes binds inside ``fit`` (a lambda and a method alias)."""
        state = self.__dict__.copy()
        for key in ("transaction_model_", "spend_model_"):
            fitter = state.get(key)
            if fitter is not None and {"generate_new_data", "predict"} & set(vars(fitter)):
                fitter = copy.copy(fitter)
                vars(fitter).pop("generate_new_data", None)
                vars(fitter).pop("predict", None)
                state[key] = fitter
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        fitter = state.get("transaction_model_")
        if fitter is not None and not hasattr(fitter, "predict"):
            fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time


# --------------------------------------------------------------------------- fallback chain


@dataclass(frozen=True)
class BTYDFit:
    """What ``fit_btyd`` got: the fitted model (None when every model failed) and a JSON-ready outcome."""

    model: BTYDModel | None
    outcome: dict[str, Any]


_WARNING_ORDER: tuple[type[Warning], ...] = (
    FallbackWarning,
    BoundaryWarning,
    ConvergenceWarning,
    UserWarning,
)
_FIT_FAILURES = (ModelError, ValueError, ArithmeticError)


def fit_btyd(
    rfm: pd.DataFrame,
    *,
    model: ModelName = "bgnbd",
    penalizer: float = 0.0,
    spend_penalizer: float = 0.0,
    fallback: Sequence[ModelName] = ("bgnbd", "mbgnbd", "pareto"),
    retry_penalizers: Sequence[float] = (0.001, 0.01, 0.1),
) -> BTYDFit:
    """Fit ``model``, else the other models of ``fallback`` in order; never raise for a fit failure.

    Each model is a ``BTYDModel(...).fit(rfm)`` with its penalizer retries and boundary acceptance
    ("no dropout visible yet": see ``BTYDModel._accept_boundary``); Gamma-Gamma failures fall back to
    a shrunk mean spend inside ``fit``. The first model that fits is returned; when none does (no
    repeat buyer at all, too few customers, ...) ``model`` is None and the caller goes on without BTYD
    outputs.

    Raises only for caller mistakes: ``ConfigError`` (unknown model name, bad penalizer) and
    ``InputError`` (a table that breaks the RFM contract: missing column, recency > T, ...).

    The warnings of the individual fits are collected into ``outcome["warnings"]`` and one warning
    is emitted instead, with ``outcome["message"]`` as text: ``FallbackWarning`` when another model,
    no model or the fallback spend was used, else ``BoundaryWarning`` for an accepted boundary, else
    ``ConvergenceWarning`` for penalizer retries (others pass through unchanged).

    ``outcome`` (JSON-serialisable): ``requested``, ``model`` (the one used or None), ``penalizer``,
    ``spend_penalizer``, ``boundary`` (str or None), ``spend_fallback`` (str or None), ``fallback``
    (``[{"model", "reason"}]`` of the models tried that failed), ``params``, ``spend_params``,
    ``n_customers``, ``n_repeat_customers``, ``seconds``, ``message`` (one plain line, or None when
    nothing needs saying) and ``warnings``.
    """
    started = time.perf_counter()
    order = list(dict.fromkeys([model, *fallback]))
    for name in order:
        if name not in _PARAM_NAMES:
            raise ConfigError(f"model must be one of {', '.join(map(repr, _PARAM_NAMES))}, got {name!r}")
    BTYDModel(
        model, penalizer=penalizer, spend_penalizer=spend_penalizer, retry_penalizers=retry_penalizers
    )._check_params()
    data = _validate(rfm)  # input mistakes raise here, once, not as a fit failure of each model

    failures: list[dict[str, str]] = []
    collected: list[warnings.WarningMessage] = []
    fitted: BTYDModel | None = None
    for name in order:
        candidate = BTYDModel(
            name, penalizer=penalizer, spend_penalizer=spend_penalizer, retry_penalizers=retry_penalizers
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                candidate.fit(rfm)
            except _FIT_FAILURES as exc:
                reason = str(exc) if isinstance(exc, ModelError) else _exception_text(exc)
                failures.append({"model": name, "reason": " ".join(reason.split())})
                continue
            finally:
                collected.extend(caught)
        fitted = candidate
        break

    ours = [
        w for w in collected if issubclass(w.category, (ConvergenceWarning, BoundaryWarning, FallbackWarning))
    ]
    for w in collected:
        if w not in ours and not (fitted is not None and str(w.message) in fitted.fit_info_["warnings"]):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    info = fitted.fit_info_ if fitted is not None else {}
    parts: list[str] = []
    category: type[Warning] | None = None
    if fitted is None:
        parts.append(
            "no BTYD model could be fitted ("
            + "; ".join(f"{MODEL_LABELS[f['model']]}: {_short(f['reason'])}" for f in failures)
            + "): BTYD outputs are missing"
        )
        category = FallbackWarning
    else:
        if failures:
            parts.append(
                "; ".join(f"{MODEL_LABELS[f['model']]} failed ({_short(f['reason'])})" for f in failures)
                + f": used {MODEL_LABELS[fitted.model]} instead"
            )
            category = FallbackWarning
        parts.extend(info["warnings"])
        if category is None:
            category = next(
                (
                    c
                    for c in _WARNING_ORDER
                    for w in collected
                    if w.category is c and str(w.message) in info["warnings"]
                ),
                None,
            )
    message = " | ".join(" ".join(p.split()) for p in parts) or None
    outcome = {
        "requested": model,
        "model": None if fitted is None else fitted.model,
        "penalizer": info.get("penalizer"),
        "spend_penalizer": info.get("spend_penalizer"),
        "boundary": info.get("boundary"),
        "spend_fallback": info.get("spend_fallback"),
        "fallback": failures,
        "params": None if fitted is None else dict(fitted.params_),
        "spend_params": None if fitted is None else dict(fitted.spend_params_),
        "n_customers": int(data.x.size),
        "n_repeat_customers": int((data.x > 0).sum()),
        "seconds": time.perf_counter() - started,
        "message": message,
        "warnings": list(
            dict.fromkeys([" ".join(str(w.message).split()) for w in ours] + list(info.get("warnings", [])))
        ),
    }
    if message is not None and category is not None:
        warnings.warn(message, category, stacklevel=2)
    return BTYDFit(model=fitted, outcome=outcome)


def _short(reason: str, limit: int = 300) -> str:
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


# --------------------------------------------------------------------------- model math


def _p_alive(fitter: Any, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive at T | x, t_x, T) from lifetimes (references in ``BTYDModel.predict``)."""
    return np.asarray(fitter.conditional_probability_alive(x, t_x, T), dtype=float)


def _expected_purchases(
    model: str, fitter: Any, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """E[repeat purchases in (T, T + t] | x, t_x, T] from lifetimes, by quadrature where its 2F1 fails."""
    expected = np.asarray(
        fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T), dtype=float
    )
    broken = ~(np.isfinite(expected) & (expected >= 0))
    if model != "pareto" and broken.any():
        rows = (x[broken], t_x[broken], T[broken])
        p_alive = _p_alive(fitter, *rows)
        expected = expected.copy()
        expected[broken] = _bg_expected_purchases_by_quadrature(model, fitter, t, *rows, p_alive)
    return expected


def _bg_expected_purchases_by_quadrature(
    model: str, fitter: Any, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, p_alive: np.ndarray
) -> np.ndarray:
    """BG/NBD and MBG/NBD conditional expectation without the Gauss hypergeometric function.

    FHL (2005a) eq. (10) goes through 2F1(r+x, b+x; a+b+x-1; ·), which scipy cannot evaluate when
    a + b + x - 1 is near 0 (penalized fits shrink a and b). Given alive, a customer with rates λ, p
    makes (1 - e^{-λ p t}) / p purchases in t on average; with λ ~ Gamma(r+x, α+T) integrated out,

        E = P(alive) · E_p[(1 - ((α+T) / (α+T+p t))^{r+x}) / p],

    p ~ Beta(a, b+x) for BG/NBD and Beta(a, b+x+1) for MBG/NBD, by Gauss-Jacobi quadrature in p.
    """
    from scipy.special import roots_jacobi

    r, alpha, a, b = (float(fitter.params_[k]) for k in _PARAM_NAMES[model])
    shift = 0.0 if model == "bgnbd" else 1.0
    expected = np.empty(x.shape)
    for value in np.unique(x):
        rows = x == value
        nodes, weights = roots_jacobi(_QUADRATURE_NODES, b + value + shift - 1.0, a - 1.0)
        p = 0.5 * (1.0 + nodes)
        spread = np.multiply.outer(t / (alpha + T[rows]), p)
        bought = -np.expm1(-(r + value) * np.log1p(spread)) / p
        expected[rows] = p_alive[rows] * (bought @ (weights / weights.sum()))
    return expected


def _p_no_purchase(
    model: str,
    fitter: Any,
    horizon: float | np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    p_alive: np.ndarray,
) -> np.ndarray:
    """P(no purchase in (T, T + H] | x, t_x, T); the derivation is in ``BTYDModel.predict``."""
    if model == "pareto":
        params = [float(fitter.params_[k]) for k in _PARAM_NAMES["pareto"]]
        log_ratio = fitter._conditional_log_likelihood(params, x, t_x, T + horizon) - (
            fitter._conditional_log_likelihood(params, x, t_x, T)
        )
        return np.clip(np.exp(log_ratio), 0.0, 1.0)
    r, alpha = float(fitter.params_["r"]), float(fitter.params_["alpha"])
    stays_quiet = np.exp(-(r + x) * np.log1p(horizon / (alpha + T)))  # ((α+T)/(α+T+H))^(r+x)
    return 1.0 - p_alive * (1.0 - stays_quiet)


def _median_next_purchase_days(
    model: str, fitter: Any, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, p_alive: np.ndarray
) -> np.ndarray:
    """Smallest h with P(a purchase in (T, T + h]) >= 1/2; inf if never (or beyond NEVER_DAYS)."""
    if model == "pareto":
        never = _p_no_purchase(model, fitter, NEVER_DAYS, x, t_x, T, p_alive) >= 0.5
        days = np.full(x.shape, np.inf)
        todo = ~never
        lo = np.full(int(todo.sum()), math.log(_SHORTEST_DAYS))
        hi = np.full(lo.shape, math.log(NEVER_DAYS))
        xs, ts, Ts, ps = x[todo], t_x[todo], T[todo], p_alive[todo]
        for _ in range(_BISECTION_STEPS):  # P(no purchase) falls with h: bisect on log h
            mid = 0.5 * (lo + hi)
            later = _p_no_purchase(model, fitter, np.exp(mid), xs, ts, Ts, ps) > 0.5
            lo = np.where(later, mid, lo)
            hi = np.where(later, hi, mid)
        days[todo] = np.exp(0.5 * (lo + hi))
        return days
    # BG/NBD, MBG/NBD: P(alive) (1 - ((α+T)/(α+T+h))^(r+x)) = 1/2, solved for h.
    r, alpha = float(fitter.params_["r"]), float(fitter.params_["alpha"])
    with np.errstate(divide="ignore", invalid="ignore"):
        days = (alpha + T) * np.expm1(-np.log1p(-0.5 / p_alive) / (r + x))
    days = np.where((p_alive > 0.5) & np.isfinite(days), days, np.inf)
    return np.where(days > NEVER_DAYS, np.inf, days)


# --------------------------------------------------------------------------- degenerate-fit checks


def _parameter_problem(params: dict[str, float], scales: dict[str, tuple[float, str]]) -> str | None:
    """A non-finite parameter or one outside [floor, ceiling] once made unit-free by ``scales``."""
    for name, value in params.items():
        if not math.isfinite(value):
            return f"{name} = {value} is not finite"
        scale, scale_name = scales.get(name, (1.0, ""))
        unit_free = value / scale
        if not _PARAM_FLOOR <= unit_free <= _PARAM_CEILING:
            shown = f"{name} = {value:.3g}" + (f" ({unit_free:.3g} × {scale_name})" if scale_name else "")
            return f"{shown} ran off to a boundary (allowed {_PARAM_FLOOR:g} to {_PARAM_CEILING:g})"
    return None


def _hessian_problem(fitter: Any) -> str | None:
    hessian = getattr(fitter, "_hessian_", None)  # lifetimes keeps none for Pareto/NBD
    if hessian is None:
        return None
    hessian = np.asarray(hessian, dtype=float)
    if not np.all(np.isfinite(hessian)):
        return "the Hessian of the log-likelihood is not finite"
    eigenvalues = np.linalg.eigvalsh(0.5 * (hessian + hessian.T))
    if eigenvalues[0] <= _HESSIAN_RCOND * abs(eigenvalues[-1]):
        return "the Hessian of the log-likelihood is singular or not positive definite (a parameter is not identified)"
    return None


def _spend_problem(fitter: Any, rows: pd.DataFrame, mean_spend: float) -> str | None:
    """Why a fitted Gamma-Gamma model is degenerate, or None."""
    params = {k: float(v) for k, v in fitter.params_.items()}
    problem = _parameter_problem(params, {"v": (mean_spend, "the mean spend")}) or _hessian_problem(fitter)
    if problem:
        return problem
    if params["q"] <= 1.0:
        return f"q = {params['q']:.3g} <= 1, so the population mean spend is undefined"
    spend = np.asarray(
        fitter.conditional_expected_average_profit(
            rows["frequency"].to_numpy(), rows["monetary_value"].to_numpy()
        ),
        dtype=float,
    )
    if not np.all(np.isfinite(spend) & (spend > 0)):
        return "expected spend is not finite and positive for some customers"
    return None


# --------------------------------------------------------------------------- boundary fits


def _fit_nbd(
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
    problem = _parameter_problem({"r": r, "alpha": alpha}, {"alpha": (1.0, "the largest T")})
    if problem:
        return problem
    _, grad = objective(out.x)
    if not (out.success or np.max(np.abs(grad)) < 1e-6):
        return f"the optimiser did not converge ({out.message})"
    h_rr = weights @ (polygamma(1, r) - polygamma(1, r + x)) / total + 2 * penalizer
    h_ra = -(weights @ (1.0 / alpha - 1.0 / (alpha + T))) / total
    h_aa = weights @ (r / alpha**2 - (r + x) / (alpha + T) ** 2) / total + 2 * penalizer
    eigenvalues = np.linalg.eigvalsh(np.array([[h_rr, h_ra], [h_ra, h_aa]]))
    if not (np.all(np.isfinite(eigenvalues)) and eigenvalues[0] > _HESSIAN_RCOND * abs(eigenvalues[-1])):
        return "its Hessian is singular or not positive definite"
    ll = gammaln(r + x) - gammaln(r) + r * math.log(alpha) - (r + x) * np.log(alpha + T)
    log_likelihood = float(weights @ ll)
    if not math.isfinite(log_likelihood):
        return "its log-likelihood is not finite"
    return r, alpha, log_likelihood


def _full_log_likelihood(
    lt: Any,
    model: str,
    fitter: Any,
    x: np.ndarray,
    t_s: np.ndarray,
    T_s: np.ndarray,
    weights: np.ndarray,
    penalizer: float,
    t_max: float,
) -> float:
    """The full model's (unpenalized) log-likelihood at its best point found, on time-scaled rows.

    The failed fit's parameters when lifetimes returned some; when it raised, lifetimes' own optimiser
    is rerun from lifetimes' own start (BFGS from log-parameters 0.1; Nelder-Mead from 1 for
    Pareto/NBD) and its last point taken, converged or not.
    """
    from scipy.optimize import minimize

    cls = {"bgnbd": lt.BetaGeoFitter, "mbgnbd": lt.ModifiedBetaGeoFitter, "pareto": lt.ParetoNBDFitter}[model]
    freq = x.astype(int)
    if fitter is not None:
        params = np.array([float(fitter.params_[k]) for k in _PARAM_NAMES[model]])
        params[1] /= t_max
        if model == "pareto":
            params[3] /= t_max
    elif model == "pareto":
        out = minimize(
            cls._negative_log_likelihood,
            np.ones(4),
            args=(freq, t_s, T_s, weights, penalizer * len(x)),
            method="Nelder-Mead",
            options={"maxiter": _PARETO_MAXITER, "xatol": _PARETO_XATOL},
        )
        params = np.asarray(out.x, dtype=float)
    else:
        from autograd import value_and_grad

        out = minimize(
            value_and_grad(cls._negative_log_likelihood),
            0.1 * np.ones(4),
            jac=True,
            tol=1e-7,
            args=(freq, t_s, T_s, weights, penalizer),
        )
        params = np.exp(np.asarray(out.x, dtype=float))
    if not (np.all(np.isfinite(params)) and np.all(params > 0)):
        return -math.inf
    if model == "pareto":
        nll = float(cls._negative_log_likelihood(params, freq, t_s, T_s, weights, 0.0))
        return -nll * float(weights.mean())
    nll = float(cls._negative_log_likelihood(np.log(params), freq, t_s, T_s, weights, 0.0))
    return -nll * float(weights.sum())


def _clamped_fitter(
    lt: Any,
    model: str,
    params: dict[str, float],
    unique: pd.DataFrame,
    penalizer: float,
    t_max: float,
    negative_log_likelihood: float,
) -> Any:
    """A lifetimes fitter carrying the clamped boundary parameters, as ``fit`` would leave it."""
    if model == "pareto":
        fitter = lt.ParetoNBDFitter(penalizer_coef=penalizer * len(unique))
    else:
        cls = lt.BetaGeoFitter if model == "bgnbd" else lt.ModifiedBetaGeoFitter
        fitter = cls(penalizer_coef=penalizer)
    fitter.params_ = pd.Series({k: float(params[k]) for k in _PARAM_NAMES[model]})
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


def _fit_spend(lt: Any, rows: pd.DataFrame, penalizer: float, mean_spend: float) -> Any:
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


def _shrunk_mean_spend(x: np.ndarray, m: np.ndarray) -> dict[str, float]:
    """The Gamma-Gamma fallback's settings: m̄ = Σ x m / Σ x over customers with usable spend, k."""
    return {"population_mean": float((x @ m) / x.sum()), "prior_purchases": _SPEND_PRIOR_PURCHASES}
