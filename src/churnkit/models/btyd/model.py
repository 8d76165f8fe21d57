"""The BTYD façade: one transaction model (BG/NBD, MBG/NBD or Pareto/NBD) plus Gamma-Gamma spend on an RFM table.

``BTYDModel`` is what the pipeline fits and scores with; ``fit_btyd`` (fallback.py) wraps it in a chain of models.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from churnkit.errors import ConfigError, ModelError
from churnkit.models.btyd.backend import _lifetimes, _quiet
from churnkit.models.btyd.bgnbd import BGNBDModel
from churnkit.models.btyd.fitting import (
    DEFAULT_RETRY_PENALIZERS,
    BoundaryWarning,
    ConvergenceWarning,
    FallbackWarning,
    _AllAttemptsFailed,
    attempts_text,
    check_fitted,
    check_penalizer,
    check_retry_penalizers,
)
from churnkit.models.btyd.gamma_gamma import (
    GammaGammaModel,
    shrunk_mean_settings,
    shrunk_mean_spend,
    spend_rows,
)
from churnkit.models.btyd.mbgnbd import MBGNBDModel
from churnkit.models.btyd.pareto import ParetoNBDModel
from churnkit.models.btyd.rfm import RFM, check_settings, collapse_transactions, rows, validate
from churnkit.models.btyd.transactions import TransactionModel

ModelName = Literal["bgnbd", "pareto", "mbgnbd"]

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

TRANSACTION_MODELS: dict[str, type[TransactionModel]] = {
    cls.name: cls for cls in (BGNBDModel, MBGNBDModel, ParetoNBDModel)
}
MODEL_LABELS: dict[str, str] = {name: cls.label for name, cls in TRANSACTION_MODELS.items()}


def check_model_name(name: Any) -> None:
    if name not in TRANSACTION_MODELS:
        raise ConfigError(f"model must be one of {', '.join(map(repr, TRANSACTION_MODELS))}, got {name!r}")


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
    finding, "no dropout visible yet" (the model reduces to NBD: ``boundary.accept_boundary`` says when
    that is safe); accepted, the dropout parameter is clamped, ``fit_info_["boundary"]`` says so and a
    ``BoundaryWarning`` is emitted. Otherwise the fit is redone with the next of ``retry_penalizers``
    (a ``ConvergenceWarning`` says why); if none works, ``ModelError``. ``fit_btyd`` wraps this in a
    chain of models that never raises for a fit failure.

    Gamma-Gamma gets the same retries, penalized fits on spend divided by the mean spend (``GammaGammaModel``:
    the penalizer is unit-free); if every penalizer fails (e.g. q <= 1 on heavy-tailed spend) nothing stops: the
    transaction model stays, ``expected_spend`` is each customer's mean spend shrunk towards the
    population mean (``gamma_gamma.shrunk_mean_spend``), ``fit_info_["spend_fallback"] = "shrunk_mean"`` and a
    ``FallbackWarning`` says why.

    Fitted attributes: ``transactions_`` (the fitted ``BGNBDModel``, ``MBGNBDModel`` or ``ParetoNBDModel``),
    ``spend_`` (the fitted ``GammaGammaModel``, or None when no customer has a usable repeat spend or
    Gamma-Gamma failed), ``spend_fallback_`` (the fallback's settings or None), ``params_`` and
    ``spend_params_`` (dicts, α and β per day), ``fit_info_`` (penalizers used, attempts, retries,
    converged = no retry or boundary was needed, boundary (str or None) and boundary_detail,
    spend_fallback, row counts, warnings, seconds per step). ``transaction_model_`` and ``spend_model_``
    are their lifetimes fitters (or None).
    """

    def __init__(
        self,
        model: ModelName = "bgnbd",
        *,
        penalizer: float = 0.0,
        spend_penalizer: float = 0.0,
        retry_penalizers: Sequence[float] = DEFAULT_RETRY_PENALIZERS,
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
        data = validate(rfm)
        lt = _lifetimes()
        unique, _ = collapse_transactions(data)
        seconds = {"validate_and_collapse": time.perf_counter() - started}
        started = time.perf_counter()
        transactions = TRANSACTION_MODELS[self.model](
            penalizer=self.penalizer, retry_penalizers=self.retry_penalizers
        )
        transactions._fit_rows(lt, unique, float(data.T.max()))
        seconds["transactions"] = time.perf_counter() - started
        started = time.perf_counter()
        messages: list[str] = []
        found = spend_rows(data)
        spend, spend_fallback, spend_attempts = self._fit_spend(lt, found, data, messages)
        seconds["spend"] = time.perf_counter() - started

        attempts = [*transactions.attempts_, *spend_attempts]
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
        boundary = transactions.boundary_
        if boundary is not None:
            message = f"{transactions.label}: {boundary['finding']} ({boundary['detail']})"
            messages.append(message)
            warnings.warn(message, BoundaryWarning, stacklevel=2)

        usable = (data.x > 0) & (data.m > 0)
        self.transactions_ = transactions
        self.spend_ = spend
        self.spend_fallback_ = spend_fallback
        self.params_ = dict(transactions.params_)
        self.spend_params_ = {} if spend is None else dict(spend.params_)
        self.fit_info_ = {
            "model": self.model,
            "penalizer": transactions.penalizer_,
            "spend_penalizer": None if spend is None else spend.penalizer_,
            "retries": len(failed),
            "converged": not failed and boundary is None,
            "boundary": None if boundary is None else boundary["finding"],
            "boundary_detail": boundary,
            "spend_fallback": None if spend_fallback is None else "shrunk_mean",
            "attempts": attempts,
            "n_customers": int(data.x.size),
            "n_unique_rows": len(unique),
            "n_repeat_customers": int((data.x > 0).sum()),
            "n_spend_customers": int(usable.sum()),
            "n_spend_unique_rows": 0 if found is None else len(found[0]),
            "warnings": messages,
            "seconds": seconds,
        }
        return self

    def _fit_spend(
        self, lt: Any, found: tuple[pd.DataFrame, float] | None, data: RFM, messages: list[str]
    ) -> tuple[GammaGammaModel | None, dict[str, float] | None, list[dict[str, Any]]]:
        """Gamma-Gamma on ``spend_rows(data)``, else the shrunk-mean fallback, else nothing.

        Returns (model, fallback settings, attempts); what is said is appended to ``messages`` and warned.
        """
        if found is None:
            message = (
                "no customer has a repeat purchase with monetary_value > 0: Gamma-Gamma was not fitted, "
                "expected_spend and clv will be NaN"
            )
            messages.append(message)
            warnings.warn(message, UserWarning, stacklevel=3)
            return None, None, []
        spend = GammaGammaModel(penalizer=self.spend_penalizer, retry_penalizers=self.retry_penalizers)
        try:
            spend._fit_rows(lt, *found)
        except _AllAttemptsFailed as failure:
            usable = (data.x > 0) & (data.m > 0)
            fallback = shrunk_mean_settings(data.x[usable], data.m[usable])
            message = (
                f"Gamma-Gamma fit failed at every penalizer tried ({attempts_text(failure.attempts)}): "
                f"expected_spend falls back to each customer's mean spend shrunk towards the population "
                f"mean spend per repeat purchase ({fallback['population_mean']:.4g}) with the weight "
                f"of {fallback['prior_purchases']:g} purchase"
            )
            messages.append(message)
            warnings.warn(message, FallbackWarning, stacklevel=3)
            return None, fallback, failure.attempts
        return spend, None, spend.attempts_

    def _check_params(self) -> None:
        check_model_name(self.model)
        check_penalizer("penalizer", self.penalizer)
        check_penalizer("spend_penalizer", self.spend_penalizer)
        check_retry_penalizers(self.retry_penalizers)

    @property
    def transaction_model_(self) -> Any:
        """The lifetimes fitter of the transaction model."""
        check_fitted(self)
        return self.transactions_.fitter_

    @property
    def spend_model_(self) -> Any:
        """lifetimes' ``GammaGammaFitter``, or None when Gamma-Gamma was not fitted or failed."""
        check_fitted(self)
        return None if self.spend_ is None else self.spend_.fitter_

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
        check_fitted(self)
        check_settings(horizon_days, clv_months, annual_discount_rate)
        data = validate(rfm)
        unique, codes = collapse_transactions(data)
        x, t_x, T = rows(unique)
        model = self.transactions_
        horizon = float(horizon_days)
        monthly_rate = (1.0 + float(annual_discount_rate)) ** (1.0 / 12.0) - 1.0

        with _quiet():
            p_alive = model.p_alive(x, t_x, T)
            p_none = model.p_no_purchase(horizon, x, t_x, T, p_alive)
            expected = model.expected_purchases(horizon, x, t_x, T)
            next_days = model.median_next_purchase_days(x, t_x, T, p_alive)
            cumulative = np.column_stack(
                [np.zeros_like(x)]
                + [model.expected_purchases(m * DAYS_PER_MONTH, x, t_x, T) for m in range(1, clv_months + 1)]
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

    def _expected_spend(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Gamma-Gamma's expected spend, the shrunk mean when it failed (``spend_fallback_``), else NaN."""
        if self.spend_ is not None:
            return self.spend_.expected_spend(x, m)
        if self.spend_fallback_ is None:
            return np.full(x.shape, np.nan)
        return shrunk_mean_spend(self.spend_fallback_, x, m)

    def __setstate__(self, state: dict[str, Any]) -> None:
        if (
            "transaction_model_" in state
        ):  # pickled before the BTYD package split: the lifetimes fitters themselves
            state = _from_single_class_state(state)
        self.__dict__.update(state)


def _from_single_class_state(state: dict[str, Any]) -> dict[str, Any]:
    """A ``BTYDModel`` state pickled by churnkit's single-class ``btyd.py``, in today's layout."""
    state = dict(state)
    info = state.get("fit_info_", {})
    attempts = info.get("attempts", [])
    transactions = TRANSACTION_MODELS[state["model"]](
        penalizer=state["penalizer"], retry_penalizers=state["retry_penalizers"]
    )
    transactions.__setstate__(
        {
            "fitter_": state.pop("transaction_model_"),
            "params_": dict(state["params_"]),
            "penalizer_": info.get("penalizer"),
            "attempts_": [a for a in attempts if a["part"] == transactions.label],
            "boundary_": info.get("boundary_detail"),
        }
    )
    spend_fitter = state.pop("spend_model_", None)
    spend = None
    if spend_fitter is not None:
        spend = GammaGammaModel(
            penalizer=state["spend_penalizer"], retry_penalizers=state["retry_penalizers"]
        )
        spend.__dict__.update(
            fitter_=spend_fitter,
            params_=dict(state["spend_params_"]),
            penalizer_=info.get("spend_penalizer"),
            attempts_=[a for a in attempts if a["part"] == spend.label],
        )
    state.update(transactions_=transactions, spend_=spend)
    state.setdefault("spend_fallback_", None)
    return state
