"""Gradient-boosted churn and CLV models (LightGBM) with a time-based held-out fold.

Both models take the training table's feature columns (numeric, possibly NaN, and string
attributes such as country) plus ``time_index``, the row's as-of date. The latest as-of date(s) form
the held-out fold: LightGBM stops early on it, the churn model fits its calibration on it and the CLV
model chooses its objective on it. A table with a single as-of date (a short history) holds out a seeded
quarter of its rows instead (``holdout_ = "random"``). The models are *not* refitted on all rows afterwards: the
calibrator was fitted on the held-out scores of exactly this booster, and a refit would change the
score distribution under it (and would have to guess a number of rounds). The price is that the
latest snapshot only tunes, it does not grow trees.

Training is bit-for-bit reproducible: every booster runs with ``deterministic=True,
force_col_wise=True`` and ``seed=random_state``, on one thread below 200,000 rows and two above. Fitted models pickle (the boosters
are stored as LightGBM model strings, trimmed to the best iteration).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pandas.api import types as ptypes
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from churnkit.errors import DataTooShortError, InputError, ModelError
from churnkit.models.metrics import clv_metrics

__all__ = [
    "DEFAULT_PARAMS",
    "CLVRegressor",
    "CalibrationWarning",
    "ChurnClassifier",
    "SigmoidCalibrator",
    "random_holdout",
    "time_holdout",
]

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
}
"""LightGBM parameters used unless ``params`` overrides them: modest trees for tables of thousands
to millions of customers, row and column subsampling, a little L2."""

SMALL_DATA_ROWS = 200_000
"""Training sets smaller than this train on one thread (see `_train`)."""

_REPRODUCIBLE: dict[str, Any] = {
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 2,
    "verbose": -1,
}

_NOT_FEATURES = frozenset({"customer_id", "as_of", "churned", "future_revenue"})
"""Key and label columns of the training table; in X they would be an id or a leak."""

_PRIOR_CLIP = 1e-4  # prior probabilities are clipped to [1e-4, 1 - 1e-4] before taking log-odds
_PRIOR_FLOOR = 0.01  # a CLV prior below one cent per horizon is taken as one cent (log link)
_PROB_FLOOR = 1e-6  # calibrated probabilities stay in [1e-6, 1 - 1e-6]: no "0 % churn risk"
_BRIER_TIE = 1e-4  # calibration "auto": Brier differences below this are a tie, decided by log-loss
_GINI_TIE = 0.01  # CLV "auto": Gini differences below this are a tie, decided by MAE

CalibrationMethod = Literal["auto", "isotonic", "sigmoid", "none"]
CLVObjective = Literal["auto", "tweedie", "two_part"]
ContributionMethod = Literal["shap", "path"]


class CalibrationWarning(UserWarning):
    """The held-out fold cannot support the requested calibration; a simpler one was used."""


def _as_dates(time_index: ArrayLike, n_rows: int) -> pd.DatetimeIndex:
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(np.asarray(time_index)))
    except (TypeError, ValueError) as exc:
        raise InputError(f"time_index cannot be read as dates: {exc}", column="as_of") from exc
    if len(dates) != n_rows:
        raise InputError(f"time_index has {len(dates)} rows, X has {n_rows}", column="as_of")
    if dates.hasnans:
        raise InputError("time_index contains missing as-of dates", column="as_of")
    return dates


def time_holdout(
    time_index: ArrayLike, *, n_valid_dates: int = 1, gap_days: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, valid) that hold out the latest ``n_valid_dates`` as-of dates.

    Training rows are those with as_of <= first held-out date - ``gap_days`` (strictly earlier when
    ``gap_days`` is 0). Set ``gap_days`` to the horizon for a purged split in which no training
    label window overlaps the held-out rows' windows. Raises :class:`DataTooShortError` when no
    training rows remain.
    """
    if n_valid_dates < 1:
        raise ValueError("n_valid_dates must be at least 1")
    if gap_days < 0:
        raise ValueError("gap_days must be non-negative")
    dates = _as_dates(time_index, len(time_index))  # type: ignore[arg-type]
    distinct = dates.unique().sort_values()
    if len(distinct) <= n_valid_dates:
        raise DataTooShortError(
            f"a time-based held-out fold needs more than {n_valid_dates} distinct as-of date(s); "
            f"the training table has {len(distinct)}: stack more as-of dates"
        )
    valid_start = distinct[-n_valid_dates]
    valid = np.asarray(dates >= valid_start)
    train = np.asarray(dates <= valid_start - pd.Timedelta(days=gap_days)) if gap_days else ~valid
    if not train.any():
        raise DataTooShortError(
            f"no training rows are {gap_days} days or more before the held-out as-of date "
            f"{valid_start.date()}: stack earlier as-of dates or lower gap_days"
        )
    return train, valid


RANDOM_HOLDOUT_SHARE = 0.25
"""Share of rows held out for early stopping and calibration when the table has one as-of date."""


def random_holdout(n_rows: int, *, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, valid) holding out a seeded ``RANDOM_HOLDOUT_SHARE`` of the rows.

    Used only when the training table has a single as-of date, so there is no later date to hold out: the
    rows are different customers of the same snapshot, and each customer is in one mask only.
    """
    if n_rows < 8:
        raise DataTooShortError(f"only {n_rows} training rows: too few to hold any out")
    rng = np.random.default_rng(random_state)
    valid = np.zeros(n_rows, dtype=bool)
    valid[rng.permutation(n_rows)[: max(2, round(RANDOM_HOLDOUT_SHARE * n_rows))]] = True
    return ~valid, valid


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


def _category_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Codes of ``values`` among the training ``levels``; missing and unseen values become NaN."""
    present = values.notna().to_numpy()
    codes = np.full(len(values), np.nan)
    text = values[present].to_numpy(dtype=object)
    if not isinstance(values.dtype, pd.StringDtype) and not all(type(v) is str for v in text):
        text = values[present].astype(object).map(str).to_numpy(dtype=object)
    found = pd.Index(levels, dtype=object).get_indexer(text).astype(np.float64)
    found[found < 0] = np.nan
    codes[present] = found
    return codes


def _brier_logloss(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    clipped = np.clip(p, _PROB_FLOOR, 1 - _PROB_FLOOR)
    logloss = -np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped))
    return {"brier": float(np.mean((p - y) ** 2)), "logloss": float(logloss)}


class _LightGBMModel:
    """Schema learning, encoding and early-stopped training shared by the two models."""

    params: dict[str, Any] | None
    early_stopping_rounds: int | None
    num_boost_round: int
    random_state: int
    n_valid_dates: int
    gap_days: int

    def _learn_schema(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise InputError("X must be a pandas DataFrame of feature columns")
        if X.shape[1] == 0 or X.shape[0] == 0:
            raise InputError("X has no rows or no feature columns")
        if X.columns.has_duplicates:
            dup = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
            raise InputError(f"X has duplicated columns: {', '.join(dup)}")
        names: list[str] = []
        categories: dict[str, list[str]] = {}
        for col in X.columns:
            name = str(col)
            if name in _NOT_FEATURES:
                raise InputError(
                    f"column {name!r} is a key or label of the training table, not a feature: drop it from X",
                    column=name,
                )
            dtype = X[col].dtype
            if isinstance(dtype, pd.CategoricalDtype) or (
                not ptypes.is_numeric_dtype(dtype)
                and (ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype))
            ):
                levels = {str(v) for v in X[col].dropna().unique()}
                categories[name] = sorted(levels)
            elif not ptypes.is_numeric_dtype(dtype):
                raise InputError(
                    f"feature column {name!r} has type {dtype}; features must be numeric or text",
                    column=name,
                )
            names.append(name)
        self.feature_names_ = names
        self.categorical_features_ = [n for n in names if n in categories]
        self.categories_ = categories
        self.n_features_in_ = len(names)

    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        """The feature matrix in training column order, categories coded as at training time."""
        if not isinstance(X, pd.DataFrame):
            raise ModelError("X must be a pandas DataFrame with the training feature columns")
        columns = {str(c): c for c in X.columns}
        missing = [n for n in self.feature_names_ if n not in columns]
        if missing:
            raise ModelError(f"the model needs feature columns that X lacks: {', '.join(missing)}")
        out = np.empty((len(X), len(self.feature_names_)), dtype=np.float64)
        for j, name in enumerate(self.feature_names_):
            values = X[columns[name]]
            if name in self.categories_:
                out[:, j] = _category_codes(values, self.categories_[name])
                continue
            if not ptypes.is_numeric_dtype(values.dtype):
                try:
                    values = pd.to_numeric(values)
                except (TypeError, ValueError) as exc:
                    raise ModelError(f"feature column {name!r} must be numeric, as in training") from exc
            out[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    _fitted_attribute = "feature_names_"  # set last by fit

    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attribute):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit first.")

    def _lgb_params(self, objective: str, **extra: Any) -> dict[str, Any]:
        return {
            **DEFAULT_PARAMS,
            **_REPRODUCIBLE,
            **(self.params or {}),
            **extra,
            "objective": objective,
            "seed": self.random_state,
        }

    def _train(
        self,
        params: Mapping[str, Any],
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_valid: np.ndarray,
        y_valid: np.ndarray,
        init_train: np.ndarray | None = None,
        init_valid: np.ndarray | None = None,
    ) -> tuple[lgb.Booster, int]:
        """Train with early stopping on the held-out rows; return the booster cut at its best round.

        ``init_*``: a prior's raw score per row (the trees learn corrections to it)."""
        categorical = [self.feature_names_.index(n) for n in self.categorical_features_]
        if "num_threads" not in (self.params or {}):
            # One thread below SMALL_DATA_ROWS: as fast there, and OpenMP barriers make two threads
            # many times slower when the cores are shared with other work. Same rows, same thread count.
            params = {**params, "num_threads": 1 if len(X_train) < SMALL_DATA_ROWS else 2}
        dataset_params = {"verbose": -1}
        train_set = lgb.Dataset(
            X_train,
            y_train,
            feature_name=self.feature_names_,
            categorical_feature=categorical,
            params=dataset_params,
            init_score=init_train,
        )
        valid_set = lgb.Dataset(
            X_valid, y_valid, reference=train_set, params=dataset_params, init_score=init_valid
        )
        callbacks = []
        if self.early_stopping_rounds:
            callbacks.append(
                lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True, verbose=False)
            )
        booster = lgb.train(
            dict(params),
            train_set,
            num_boost_round=self.num_boost_round,
            valid_sets=[valid_set],
            valid_names=["held_out"],
            callbacks=callbacks,
        )
        best = booster.best_iteration or booster.current_iteration()
        trimmed = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        return trimmed, best

    def _fit_inputs(
        self, X: pd.DataFrame, y: ArrayLike, time_index: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Learn the schema; return (encoded X, y, train mask, held-out mask)."""
        self._learn_schema(X)
        if isinstance(y, pd.Series) and not y.index.equals(X.index):
            raise InputError("y is a Series whose index differs from X's index")
        if isinstance(time_index, pd.Series) and not time_index.index.equals(X.index):
            raise InputError("time_index is a Series whose index differs from X's index", column="as_of")
        target = (
            y.to_numpy(dtype=np.float64, na_value=np.nan)
            if isinstance(y, pd.Series)
            else np.asarray(y, dtype=np.float64).reshape(-1)
        )
        if target.size != len(X):
            raise InputError(f"y has {target.size} rows, X has {len(X)}")
        if not np.all(np.isfinite(target)):
            raise InputError("y contains missing or infinite labels")
        dates = _as_dates(time_index, len(X))
        if dates.nunique() > self.n_valid_dates:
            train, valid = time_holdout(dates, n_valid_dates=self.n_valid_dates, gap_days=self.gap_days)
            self.holdout_ = "time"
        else:  # one labelled snapshot (a short history): hold out a seeded share of its rows instead
            train, valid = random_holdout(len(X), random_state=self.random_state)
            self.holdout_ = "random"
        self.valid_start_ = dates[valid].min()
        self.train_end_ = dates[train].max()
        self.n_train_ = int(train.sum())
        self.n_valid_ = int(valid.sum())
        return self._encode(X), target, train, valid

    def feature_importance(self, importance_type: Literal["gain", "split"] = "gain") -> pd.Series:
        """Total gain (or split count) per feature, summed over the model's boosters, largest first."""
        self._check_fitted()
        total = np.zeros(len(self.feature_names_))
        for booster in self._boosters():
            total += booster.feature_importance(importance_type=importance_type)
        return pd.Series(total, index=self.feature_names_, name=importance_type).sort_values(ascending=False)

    def _boosters(self) -> list[lgb.Booster]:
        raise NotImplementedError


class ChurnClassifier(_LightGBMModel):
    """Calibrated P(churn in the next H days) from a LightGBM binary model.

    ``calibration="auto"`` compares isotonic regression and Platt scaling on the held-out fold by
    stratified k-fold cross-fitting (k = 5, fewer for tiny folds) and keeps the lower out-of-fold
    Brier score (differences under 1e-4 go to the lower log-loss); the chosen calibrator is then
    fitted on the whole held-out fold. The choice is in ``calibration_`` and the measurements in
    ``calibration_scores_``. Calibrators map the raw log-odds of the booster.

    Fitted attributes: ``booster_``, ``best_iteration_``, ``calibrator_`` (None for "none"),
    ``calibration_``, ``calibration_scores_``, ``feature_names_``, ``categorical_features_``,
    ``categories_``, ``valid_start_`` (first held-out as-of date), ``train_end_``, ``n_train_``,
    ``n_valid_``.
    """

    _fitted_attribute = "calibration_"

    def __init__(
        self,
        *,
        params: dict[str, Any] | None = None,
        calibration: CalibrationMethod = "auto",
        early_stopping_rounds: int | None = 50,
        num_boost_round: int = 2000,
        random_state: int = 0,
        n_valid_dates: int = 1,
        gap_days: int = 0,
        prior: str | None = None,
        select_prior: bool = False,
    ):
        self.params = params
        self.calibration = calibration
        self.prior = prior
        self.select_prior = select_prior
        self.early_stopping_rounds = early_stopping_rounds
        self.num_boost_round = num_boost_round
        self.random_state = random_state
        self.n_valid_dates = n_valid_dates
        self.gap_days = gap_days

    def fit(self, X: pd.DataFrame, y: ArrayLike, *, time_index: ArrayLike) -> ChurnClassifier:
        """Fit on rows before the latest as-of date(s); stop early and calibrate on the latest."""
        if self.calibration not in ("auto", "isotonic", "sigmoid", "none"):
            raise ValueError(f"unknown calibration {self.calibration!r}")
        features, label, train, valid = self._fit_inputs(X, y, time_index)
        if not np.all((label == 0) | (label == 1)):
            raise InputError("churn labels must be 0 or 1", column="churned")
        if label[train].min() == label[train].max():
            raise DataTooShortError(
                "the training rows contain only one class of the churn label; stack more as-of dates"
            )
        self.prior_rate_ = float(label[train].mean())
        candidates = [self.prior, None] if (self.prior is not None and self.select_prior) else [self.prior]
        self.prior_scores_: dict[str, float] = {}
        fits = []
        for prior in candidates:
            self.prior_used_ = prior
            init = self._prior_margin(X)
            booster, best = self._train(
                self._lgb_params("binary"),
                features[train],
                label[train],
                features[valid],
                label[valid],
                None if init is None else init[train],
                None if init is None else init[valid],
            )
            margin = booster.predict(features[valid], raw_score=True) + (0.0 if init is None else init[valid])
            score = self._calibrated_brier(margin, label[valid]) if len(candidates) > 1 else 0.0
            self.prior_scores_[prior or "none"] = score
            fits.append((score, prior, booster, best, margin))
        _, self.prior_used_, booster, best, margin = min(fits, key=lambda f: f[0])  # first wins a tie
        self.booster_ = booster
        self.best_iteration_ = best
        self._fit_calibration(margin, label[valid])
        return self

    def _prior_margin(self, X: pd.DataFrame) -> np.ndarray | None:
        """The prior's log-odds per row (``prior`` names a probability column, e.g. BG/NBD's p_no_purchase).

        Missing prior values (a snapshot where every BTYD fit failed) take the training churn rate.
        """
        prior = getattr(self, "prior_used_", getattr(self, "prior", None))
        if prior is None:
            return None
        if prior not in X.columns:
            raise ModelError(f"the churn model's prior column {prior!r} is missing")
        p = pd.to_numeric(X[prior]).to_numpy(dtype=np.float64, na_value=np.nan)
        p = np.where(np.isfinite(p), p, self.prior_rate_)
        p = np.clip(p, _PRIOR_CLIP, 1 - _PRIOR_CLIP)
        return np.log(p) - np.log1p(-p)

    def _margin(self, X: pd.DataFrame) -> np.ndarray:
        """Raw log-odds: the trees' output plus the prior's."""
        raw = self.booster_.predict(self._encode(X), raw_score=True)
        init = self._prior_margin(X)
        return raw if init is None else raw + init

    def _calibrated_brier(self, margin: np.ndarray, y: np.ndarray) -> float:
        """Out-of-fold Brier score of the best calibration on the held-out fold (how the prior is chosen)."""
        n_minority = int(min(y.sum(), y.size - y.sum()))
        if n_minority < 2:
            return _brier_logloss(y, expit(margin))["brier"]
        scores = self._compare_calibrations(margin, y, min(5, n_minority))
        return min(v["brier"] for v in scores.values())

    def _fit_calibration(self, margin: np.ndarray, y: np.ndarray) -> None:
        method = self.calibration
        self.calibration_scores_: dict[str, dict[str, float]] = {}
        n_pos = int(y.sum())
        n_minority = min(n_pos, y.size - n_pos)
        if method != "none" and n_minority == 0:
            warnings.warn(
                "the held-out fold has only one churn class; probabilities are left uncalibrated",
                CalibrationWarning,
                stacklevel=3,
            )
            method = "none"
        if method == "auto":
            n_splits = min(5, n_minority)
            if n_splits >= 2:
                self.calibration_scores_ = self._compare_calibrations(margin, y, n_splits)
                iso, sig = self.calibration_scores_["isotonic"], self.calibration_scores_["sigmoid"]
                if abs(iso["brier"] - sig["brier"]) > _BRIER_TIE:
                    method = "isotonic" if iso["brier"] < sig["brier"] else "sigmoid"
                else:
                    method = "isotonic" if iso["logloss"] < sig["logloss"] else "sigmoid"
            else:
                method = "sigmoid"  # too few minority rows to compare; Platt has two parameters
        self.calibration_ = method
        if method == "isotonic":
            self.calibrator_: IsotonicRegression | SigmoidCalibrator | None = _isotonic().fit(margin, y)
        elif method == "sigmoid":
            self.calibrator_ = SigmoidCalibrator().fit(margin, y)
        else:
            self.calibrator_ = None

    def _compare_calibrations(
        self, margin: np.ndarray, y: np.ndarray, n_splits: int
    ) -> dict[str, dict[str, float]]:
        """Out-of-fold Brier and log-loss of each calibration method on the held-out fold."""
        folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        oof = {"isotonic": np.empty_like(margin), "sigmoid": np.empty_like(margin)}
        for fit_idx, eval_idx in folds.split(margin.reshape(-1, 1), y):
            iso = _isotonic().fit(margin[fit_idx], y[fit_idx])
            sig = SigmoidCalibrator().fit(margin[fit_idx], y[fit_idx])
            oof["isotonic"][eval_idx] = iso.predict(margin[eval_idx])
            oof["sigmoid"][eval_idx] = sig.predict(margin[eval_idx])
        scores = {name: _brier_logloss(y, p) for name, p in oof.items()}
        scores["none"] = _brier_logloss(y, expit(margin))
        return scores

    def _boosters(self) -> list[lgb.Booster]:
        return [self.booster_]

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated P(churn): the sigmoid of the log-odds (trees plus prior)."""
        self._check_fitted()
        return expit(self._margin(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(churn) per row (1-D, unlike scikit-learn's two columns)."""
        self._check_fitted()
        return self.probability(self._margin(X))

    def probability(self, margin: ArrayLike) -> np.ndarray:
        """Calibrated P(churn) from raw log-odds, e.g. the row sums of ``contributions(include_bias=True)``."""
        self._check_fitted()
        margin = np.asarray(margin, dtype=np.float64)
        if self.calibrator_ is None:
            return expit(margin)
        return np.clip(self.calibrator_.predict(margin), _PROB_FLOOR, 1 - _PROB_FLOOR)

    def contributions(
        self, X: pd.DataFrame, *, include_bias: bool = False, method: ContributionMethod = "shap"
    ) -> pd.DataFrame:
        """Per-feature contributions to the raw log-odds of churn; positive values push the risk up.

        ``method="shap"``: TreeSHAP (LightGBM's ``pred_contrib``), exact Shapley values; about 27 s per
        100,000 rows on one core of the benchmark machine. ``method="path"``: path attribution (Saabas,
        XGBoost's ``approx_contribs``): each split on a row's path in each tree credits its feature with
        the change in the node's expected output; about 50× faster (``bench/results/scoring.md``), and
        it agreed with TreeSHAP on the top feature for 87% of 20,000 customers of the benchmark shop.
        Per row, either set of contributions plus the bias (the column ``"bias"`` with
        ``include_bias=True``) sums to the uncalibrated log-odds. Calibration is monotone, so it never
        reverses a contribution's direction.
        """
        self._check_fitted()
        if method == "shap":
            values = self.booster_.predict(self._encode(X), pred_contrib=True)
        elif method == "path":
            values = path_contributions(self.booster_, self._encode(X))
        else:
            raise ValueError(f"method must be 'shap' or 'path', got {method!r}")
        columns = [*self.feature_names_, "bias"]
        frame = pd.DataFrame(values, index=X.index, columns=columns)
        init = self._prior_margin(X)
        if init is not None:  # the prior's log-odds is credited to its own column, around the training rate's
            rate = float(np.clip(self.prior_rate_, _PRIOR_CLIP, 1 - _PRIOR_CLIP))
            centre = math.log(rate) - math.log1p(-rate)
            prior = self.prior_used_
            if prior not in frame.columns:
                frame.insert(len(frame.columns) - 1, prior, 0.0)
            frame[prior] += init - centre
            frame["bias"] += centre
        return frame if include_bias else frame.drop(columns="bias")


def _path_table(booster: lgb.Booster) -> tuple[np.ndarray, Any, float]:
    """Per leaf of every tree, the path contributions as a sparse (all leaves × features) matrix.

    Returns (first leaf number of each tree, the matrix, the bias = the sum of the root outputs).
    """
    from scipy import sparse

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    offsets: list[int] = []
    bias, total = 0.0, 0
    for tree in booster.dump_model()["tree_info"]:
        offsets.append(total)
        root = tree["tree_structure"]
        if "leaf_index" in root:  # a tree with one leaf only shifts the bias
            bias += root["leaf_value"]
            total += tree["num_leaves"]
            continue
        bias += root["internal_value"]
        stack: list[tuple[dict, dict[int, float]]] = [(root, {})]
        while stack:
            node, credit = stack.pop()
            for side in ("left_child", "right_child"):
                child = node[side]
                leaf = "leaf_index" in child
                out = child["leaf_value"] if leaf else child["internal_value"]
                f = node["split_feature"]
                mine = {**credit, f: credit.get(f, 0.0) + out - node["internal_value"]}
                if leaf:
                    for feature, value in mine.items():
                        rows.append(total + child["leaf_index"])
                        cols.append(feature)
                        vals.append(value)
                else:
                    stack.append((child, mine))
        total += tree["num_leaves"]
    table = sparse.csr_matrix((vals, (rows, cols)), shape=(total, booster.num_feature()))
    return np.asarray(offsets, dtype=np.int64), table, bias


def path_contributions(booster: lgb.Booster, X: np.ndarray, *, chunk: int = 100_000) -> np.ndarray:
    """Path (Saabas) contributions per feature plus a last bias column, as ``pred_contrib`` lays them out.

    One ``pred_leaf`` pass finds each row's leaf in every tree; a sparse product then sums the leaves'
    path contributions. Rows go ``chunk`` at a time (bounded memory) through two worker threads, so one
    chunk's sparse product (one core) overlaps the next chunk's ``pred_leaf`` (LightGBM and SciPy both
    release the GIL): on 400,000 rows with a 395-tree model, 8.7 s serial against 7.5 s.
    """
    from concurrent.futures import ThreadPoolExecutor

    from scipy import sparse

    offsets, table, bias = _path_table(booster)
    offsets = offsets.astype(np.int32)
    out = np.empty((X.shape[0], booster.num_feature() + 1), dtype=np.float64)
    out[:, -1] = bias
    n_trees = len(offsets)

    def one(start: int) -> None:
        leaves = booster.predict(X[start : start + chunk], pred_leaf=True).reshape(-1, n_trees)
        m = leaves.shape[0]
        incidence = sparse.csr_matrix(  # int32 indices: scipy then checks them without converting (3x faster)
            (
                np.ones(m * n_trees),
                (leaves.astype(np.int32) + offsets).ravel(),
                np.arange(0, m * n_trees + 1, n_trees, dtype=np.int64),
            ),
            shape=(m, table.shape[0]),
            copy=False,
        )
        out[start : start + m, :-1] = (incidence @ table).toarray()

    starts = range(0, X.shape[0], chunk)
    if len(starts) == 1:
        one(0)
    else:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="churnkit-reasons") as pool:
            list(pool.map(one, starts))  # list(): re-raise a worker's exception here
    return out


class CLVRegressor(_LightGBMModel):
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

    def __init__(
        self,
        *,
        objective: CLVObjective = "auto",
        params: dict[str, Any] | None = None,
        tweedie_variance_power: float = 1.5,
        early_stopping_rounds: int | None = 50,
        num_boost_round: int = 2000,
        random_state: int = 0,
        n_valid_dates: int = 1,
        gap_days: int = 0,
        prior: tuple[str, str] | None = None,
        select_prior: bool = False,
    ):
        self.prior = prior
        self.select_prior = select_prior
        self.objective = objective
        self.params = params
        self.tweedie_variance_power = tweedie_variance_power
        self.early_stopping_rounds = early_stopping_rounds
        self.num_boost_round = num_boost_round
        self.random_state = random_state
        self.n_valid_dates = n_valid_dates
        self.gap_days = gap_days

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
        gini_a, gini_b = a["clv_gini_norm"], b["clv_gini_norm"]
        if not (math.isnan(gini_a) or math.isnan(gini_b)) and abs(gini_a - gini_b) > _GINI_TIE:
            return names[0] if gini_a > gini_b else names[1]
        return names[0] if a["clv_mae"] <= b["clv_mae"] else names[1]

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
        a, b = self.prior_scores_["prior"], self.prior_scores_["none"]
        gini_a, gini_b = a["clv_gini_norm"], b["clv_gini_norm"]
        if not (math.isnan(gini_a) or math.isnan(gini_b)) and abs(gini_a - gini_b) > _GINI_TIE:
            return self.prior if gini_a > gini_b else None
        return self.prior if a["clv_mae"] <= b["clv_mae"] else None

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
        booster, best = self._train(
            params,
            features[train],
            target[train],
            features[valid],
            target[valid],
            None if init is None else init[train],
            None if init is None else init[valid],
        )
        return {"tweedie": booster}, {"tweedie": best}

    def _fit_two_part(
        self, features: np.ndarray, target: np.ndarray, train: np.ndarray, valid: np.ndarray
    ) -> tuple[dict[str, lgb.Booster], dict[str, int]]:
        bought = target > 0
        buy, best_buy = self._train(
            self._lgb_params("binary"),
            features[train],
            bought[train].astype(np.float64),
            features[valid],
            bought[valid].astype(np.float64),
        )
        spend_train, spend_valid = train & bought, valid & bought
        spend, best_spend = self._train(
            self._lgb_params("gamma"),
            features[spend_train],
            target[spend_train],
            features[spend_valid],
            target[spend_valid],
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

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected revenue in the next H days per row (>= 0)."""
        self._check_fitted()
        init = self._prior_log(X)
        return self._predict_with(self.objective_, self.boosters_, self._encode(X), init)
