"""What every BTYD model class shares: penalizer retries, degenerate-fit checks, the fitted check, the warnings.

A lifetimes fit is tried at the configured penalizer, then at each larger one of ``retry_penalizers``, until one
passes the degenerate-fit checks (``fit_with_retries``). The warnings are the ones the façade and ``fit_btyd``
emit about those attempts.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from churnkit.errors import ChurnkitWarning, ConfigError, ModelError, NotFittedError
from churnkit.models.btyd.backend import _quiet, picklable

# Degenerate-fit guard. Parameters are made unit-free first (α, β divided by the largest T; v by the
# mean usable spend); values outside [floor, ceiling] mean the optimiser ran off to a boundary.
_PARAM_FLOOR = 1e-8
_PARAM_CEILING = 1e6
_HESSIAN_RCOND = 1e-12  # smallest / largest Hessian eigenvalue below this: a parameter is not identified
DEFAULT_RETRY_PENALIZERS: tuple[float, ...] = (0.001, 0.01, 0.1)


class ConvergenceWarning(ChurnkitWarning):
    """A fit failed or was degenerate and was redone with a larger penalizer."""


class BoundaryWarning(ChurnkitWarning):
    """A dropout parameter is on its boundary ("no dropout visible yet"): accepted, clamped and said."""


class FallbackWarning(ChurnkitWarning):
    """A fit failed for good: another model, a simpler estimate or no model at all is used instead."""


class _AllAttemptsFailed(ModelError):
    """Every penalizer failed; ``attempts`` says how."""

    def __init__(self, message: str, attempts: list[dict[str, Any]]):
        self.attempts = attempts
        super().__init__(message)


def check_fitted(estimator: object) -> None:
    """The one "not fitted" check of the BTYD models: ``NotFittedError`` until ``fit`` has set ``_`` attributes."""
    if not any(name.endswith("_") and not name.startswith("__") for name in vars(estimator)):
        raise NotFittedError(f"This {type(estimator).__name__} is not fitted yet: call fit(rfm) first")


def check_penalizer(name: str, value: Any) -> None:
    if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a number >= 0, got {value!r}")


def check_retry_penalizers(values: Sequence[float]) -> None:
    for value in values:
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"retry_penalizers must be numbers > 0, got {values!r}")


class LifetimesEstimator:
    """Base of the model classes: parameters stored as given, their checks, the penalizers to try, pickling.

    Fitted state ends with ``_``; ``fitter_`` is the lifetimes fitter.
    """

    label: str = ""

    def __init__(
        self, *, penalizer: float = 0.0, retry_penalizers: Sequence[float] = DEFAULT_RETRY_PENALIZERS
    ):
        self.penalizer = penalizer
        self.retry_penalizers = retry_penalizers

    def _check_params(self) -> None:
        check_penalizer("penalizer", self.penalizer)
        check_retry_penalizers(self.retry_penalizers)

    def _penalizers(self) -> list[float]:
        """The configured penalizer, then each larger retry penalizer in increasing order."""
        first = self.penalizer
        return [float(first), *sorted(float(p) for p in self.retry_penalizers if p > first)]

    def _fit_with_retries(
        self,
        fit_one: Callable[[float], Any],
        problem_of: Callable[[Any], str | None],
        boundary_of: Callable[[Any, float], tuple[Any, dict[str, Any] | str]] | None = None,
    ) -> dict[str, Any] | None:
        """``fit_with_retries`` over this estimator's penalizers, keeping what was learned.

        Returns the accepted boundary's details, or None.
        """
        fitter, penalizer, attempts, boundary = fit_with_retries(
            self.label, self._penalizers(), fit_one, problem_of, boundary_of
        )
        self.fitter_ = fitter
        self.params_ = fitted_params(fitter)
        self.penalizer_ = penalizer
        self.attempts_ = attempts
        return boundary

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(penalizer={self.penalizer!r}, retry_penalizers={self.retry_penalizers!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without what lifetimes binds inside ``fit`` (a lambda and a method alias)."""
        state = self.__dict__.copy()
        if "fitter_" in state:
            state["fitter_"] = picklable(state["fitter_"])
        return state


def exception_text(exc: BaseException) -> str:
    """The exception's type and the first non-empty line of its message."""
    first_line = next((s.strip() for s in str(exc).splitlines() if s.strip()), "")
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


def attempts_text(attempts: list[dict[str, Any]]) -> str:
    return "; ".join(f"penalizer {a['penalizer']:g}: {a['reason']}" for a in attempts)


def fit_with_retries(
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
            problem = exception_text(exc)
        if problem is None:
            attempts.append({"part": part, "penalizer": penalizer, "ok": True, "reason": None})
            return fitter, penalizer, attempts, None
        if boundary_of is not None:
            try:
                with _quiet(capture_stdout=True):
                    accepted, details = boundary_of(fitter, penalizer)
            except (ValueError, ArithmeticError) as exc:
                accepted, details = None, exception_text(exc)
            if accepted is not None and isinstance(details, dict):
                details = {"reason": problem, **details}
                attempts.append(
                    {"part": part, "penalizer": penalizer, "ok": True, "reason": problem, "boundary": True}
                )
                return accepted, penalizer, attempts, details
            problem = f"{problem}; boundary estimate not accepted: {details}"
        attempts.append({"part": part, "penalizer": penalizer, "ok": False, "reason": problem})
    raise _AllAttemptsFailed(
        f"{part} fit failed at every penalizer tried: "
        + attempts_text(attempts)
        + ". Check the RFM input (time unit days, enough repeat buyers) or set a larger penalizer.",
        attempts,
    )


def parameter_problem(params: dict[str, float], scales: dict[str, tuple[float, str]]) -> str | None:
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


def positive_definite(eigenvalues: np.ndarray) -> bool:
    """Whether a symmetric matrix with these (ascending) eigenvalues is well-conditioned positive definite."""
    return bool(np.all(np.isfinite(eigenvalues)) and eigenvalues[0] > _HESSIAN_RCOND * abs(eigenvalues[-1]))


def hessian_problem(fitter: Any) -> str | None:
    hessian = getattr(fitter, "_hessian_", None)  # lifetimes keeps none for Pareto/NBD
    if hessian is None:
        return None
    hessian = np.asarray(hessian, dtype=float)
    if not np.all(np.isfinite(hessian)):
        return "the Hessian of the log-likelihood is not finite"
    if not positive_definite(np.linalg.eigvalsh(0.5 * (hessian + hessian.T))):
        return "the Hessian of the log-likelihood is singular or not positive definite (a parameter is not identified)"
    return None


def degenerate_fit(fitter: Any, scales: dict[str, tuple[float, str]]) -> str | None:
    """Why a lifetimes fit is degenerate (``parameter_problem``, ``hessian_problem``), or None."""
    return parameter_problem(fitted_params(fitter), scales) or hessian_problem(fitter)


def fitted_params(fitter: Any) -> dict[str, float]:
    """A lifetimes fitter's parameters as plain floats."""
    return {k: float(v) for k, v in fitter.params_.items()}
