"""The CLV model: expected revenue in the next H days from LightGBM, never negative.

The held-out fold, schema and training are shared with the churn model (:mod:`churnkit.models.gbm`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from churnkit.errors import DataTooShortError, ModelError
from churnkit.models.gbm import LightGBMModel
from churnkit.models.metrics import clv_metrics

__all__ = ["CLVObjective", "CLVRegressor"]

_PRIOR_FLOOR = 0.01  # a CLV prior below one cent per horizon is taken as one cent (log link)
_GINI_TIE = 0.01  # CLV "auto": Gini differences below this are a tie, decided by MAE

CLVObjective = Literal["auto", "tweedie", "two_part"]


def _first_is_better(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """Held-out CLV metrics ``a`` against ``b``: the higher normalised Gini wins; within 0.01 (or undefined),
    the lower (or equal) MAE."""
    gini_a, gini_b = a["clv_gini_norm"], b["clv_gini_norm"]
    if not (math.isnan(gini_a) or math.isnan(gini_b)) and abs(gini_a - gini_b) > _GINI_TIE:
        return gini_a > gini_b
    return a["clv_mae"] <= b["clv_mae"]


@dataclass(eq=False, kw_only=True)
class CLVRegressor(LightGBMModel):
    """Expected revenue in the next H days from LightGBM, never negative.

    ``objective``: ``"tweedie"`` (one model, Tweedie deviance with ``tweedie_variance_power``),
    ``"two_part"`` (P(revenue > 0) from a binary model times E[revenue | revenue > 0] from a Gamma
    model fitted on buyers) or ``"auto"``: fit both, keep the one with the higher normalised Gini
    on the held-out fold; when the Ginis are within 0.01 (or undefined), the lower MAE wins. The
    choice is in ``objective_`` and the held-out metrics in ``selection_scores_``.

    Negative targets (net returns) are trained as 0; held-out metrics use the targets as given.
    Fitted attributes: ``objective_``, ``boosters_`` ({"tweedie"} or {"buy", "spend"}),
    ``best_iterations_``, ``selection_scores_``, plus the schema and fold attributes of
    :class:`ChurnClassifier`.
    """

    _fitted_attribute = "objective_"

    objective: CLVObjective = "auto"
    tweedie_variance_power: float = 1.5
    prior: tuple[str, str] | None = None

    def fit(self, X: pd.DataFrame, y: ArrayLike, *, time_index: ArrayLike) -> CLVRegressor:
        """Fit on rows before the latest as-of date(s); stop early and pick the objective on the latest."""
        if self.objective not in ("auto", "tweedie", "two_part"):
            raise ValueError(f"unknown objective {self.objective!r}")
        features, revenue, train, valid = self._fit_inputs(X, y, time_index)
        target = np.maximum(revenue, 0.0)
        if not (target[train] > 0).any():
            raise DataTooShortError("no training row has any future revenue; stack more as-of dates")
        self.prior_mean_ = float(target[train].mean())
        self.prior_used_ = self._choose_prior(X, features, target, revenue, train, valid)
        init = self._prior_log(X)
        candidates = ["tweedie", "two_part"] if self.objective == "auto" else [self.objective]
        fitted: dict[str, tuple[dict[str, lgb.Booster], dict[str, int]]] = {}
        self.selection_scores_: dict[str, dict[str, float]] = {}
        for name in candidates:
            if name == "two_part" and not (target[valid] > 0).any():
                if self.objective == "two_part":
                    raise DataTooShortError(
                        "the held-out fold has no buyers: the two-part model cannot stop early"
                    )
                continue
            if name == "tweedie":
                boosters, best = self._fit_tweedie(features, target, train, valid, init)
            else:
                boosters, best = self._fit_two_part(features, target, train, valid)
            fitted[name] = (boosters, best)
            prediction = self._predict_with(
                name, boosters, features[valid], None if init is None else init[valid]
            )
            self.selection_scores_[name] = clv_metrics(revenue[valid], prediction)
        self.objective_ = self._choose(list(fitted))
        self.boosters_, self.best_iterations_ = fitted[self.objective_]
        return self

    def _choose(self, names: list[str]) -> str:
        if len(names) == 1:
            return names[0]
        a, b = (self.selection_scores_[n] for n in names)
        return names[0] if _first_is_better(a, b) else names[1]

    def _choose_prior(
        self,
        X: pd.DataFrame,
        features: np.ndarray,
        target: np.ndarray,
        revenue: np.ndarray,
        train: np.ndarray,
        valid: np.ndarray,
    ) -> tuple[str, str] | None:
        """With ``select_prior``: the Tweedie model with and without the prior, the better on the held-out fold
        (normalised Gini, ties within 0.01 by MAE, as for the objective); else ``prior`` as given."""
        self.prior_scores_: dict[str, dict[str, float]] = {}
        if self.prior is None or not self.select_prior:
            return self.prior
        for prior in (self.prior, None):
            self.prior_used_ = prior
            init = self._prior_log(X)
            boosters, _ = self._fit_tweedie(features, target, train, valid, init)
            prediction = self._predict_with(
                "tweedie", boosters, features[valid], None if init is None else init[valid]
            )
            self.prior_scores_["prior" if prior else "none"] = clv_metrics(revenue[valid], prediction)
        return (
            self.prior if _first_is_better(self.prior_scores_["prior"], self.prior_scores_["none"]) else None
        )

    def _prior_log(self, X: pd.DataFrame) -> np.ndarray | None:
        """log of the prior's H-day revenue per row (``prior`` = two columns whose product it is, e.g. BTYD's
        expected purchases and expected spend); missing values take the training mean, floors at one cent."""
        prior = getattr(self, "prior_used_", getattr(self, "prior", None))
        if prior is None:
            return None
        missing = [c for c in prior if c not in X.columns]
        if missing:
            raise ModelError(f"the CLV model's prior columns are missing: {', '.join(missing)}")
        a, b = (pd.to_numeric(X[c]).to_numpy(dtype=np.float64, na_value=np.nan) for c in prior)
        value = a * b
        value = np.where(np.isfinite(value), value, self.prior_mean_)
        return np.log(np.maximum(value, _PRIOR_FLOOR))

    def _fit_tweedie(
        self,
        features: np.ndarray,
        target: np.ndarray,
        train: np.ndarray,
        valid: np.ndarray,
        init: np.ndarray | None = None,
    ) -> tuple[dict[str, lgb.Booster], dict[str, int]]:
        params = self._lgb_params("tweedie", tweedie_variance_power=self.tweedie_variance_power)
        booster, best = self._train(params, features, target, train, valid, init)
        return {"tweedie": booster}, {"tweedie": best}

    def _fit_two_part(
        self, features: np.ndarray, target: np.ndarray, train: np.ndarray, valid: np.ndarray
    ) -> tuple[dict[str, lgb.Booster], dict[str, int]]:
        bought = target > 0
        buy, best_buy = self._train(
            self._lgb_params("binary"), features, bought.astype(np.float64), train, valid
        )
        spend, best_spend = self._train(
            self._lgb_params("gamma"), features, target, train & bought, valid & bought
        )
        return {"buy": buy, "spend": spend}, {"buy": best_buy, "spend": best_spend}

    @staticmethod
    def _predict_with(
        name: str, boosters: Mapping[str, lgb.Booster], features: np.ndarray, init: np.ndarray | None = None
    ) -> np.ndarray:
        if name == "tweedie":
            raw = boosters["tweedie"].predict(features, raw_score=True)
            prediction = np.exp(raw if init is None else raw + init)
        else:
            prediction = boosters["buy"].predict(features) * boosters["spend"].predict(features)
        return np.maximum(prediction, 0.0)

    def _boosters(self) -> list[lgb.Booster]:
        return list(self.boosters_.values())

    def predict(self, X: pd.DataFrame, *, encoded: np.ndarray | None = None) -> np.ndarray:
        """Expected revenue in the next H days per row (>= 0).

        ``encoded``: ``X`` already encoded (``_encode``), e.g. shared with the churn model of the same inputs.
        """
        self._check_fitted()
        init = self._prior_log(X)
        features = self._encode(X) if encoded is None else encoded
        return self._predict_with(self.objective_, self.boosters_, features, init)
