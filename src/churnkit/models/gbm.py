"""What the LightGBM churn and CLV models share: the time-based held-out fold, the schema, training.

Both models (:mod:`churnkit.models.churn`, :mod:`churnkit.models.clv`) take the training table's feature
columns (numeric, possibly NaN, and string attributes such as country) plus ``time_index``, the row's as-of
date. The latest as-of date(s) form the held-out fold: LightGBM stops early on it, the churn model fits its
calibration on it and the CLV model chooses its objective on it. A table with a single as-of date (a short
history) holds out a seeded quarter of its rows instead (``holdout_ = "random"``). The models are *not*
refitted on all rows afterwards: the calibrator was fitted on the held-out scores of exactly this booster,
and a refit would change the score distribution under it (and would have to guess a number of rounds). The
price is that the latest snapshot only tunes, it does not grow trees.

Training is bit-for-bit reproducible: every booster runs with ``deterministic=True, force_col_wise=True``
and ``seed=random_state``, on one thread below 200,000 rows and two above. Fitted models pickle (the
boosters are stored as LightGBM model strings, trimmed to the best iteration).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pandas.api import types as ptypes

from churnkit.errors import DataTooShortError, InputError, ModelError, NotFittedError
from churnkit.schema import KEYS, LABEL_COLUMNS

__all__ = ["DEFAULT_PARAMS", "RANDOM_HOLDOUT_SHARE", "LightGBMModel", "random_holdout", "time_holdout"]

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

_NOT_FEATURES = frozenset({*KEYS, *LABEL_COLUMNS})
"""Key and label columns of the training table; in X they would be an id or a leak."""


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


def _category_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Codes of ``values`` among the training ``levels``; missing and unseen values become NaN."""
    # text: look up each distinct value once, not a Python object per row
    if isinstance(values.dtype, pd.StringDtype):
        rows, distinct = pd.factorize(values, use_na_sentinel=True)
        found = pd.Index(levels, dtype=object).get_indexer(np.asarray(distinct, dtype=object))
        table = np.append(np.where(found < 0, np.nan, found.astype(np.float64)), np.nan)
        return table[rows]  # a missing value (-1) takes the last entry, NaN
    present = values.notna().to_numpy()
    codes = np.full(len(values), np.nan)
    text = values[present].to_numpy(dtype=object)
    if not isinstance(values.dtype, pd.StringDtype) and not all(type(v) is str for v in text):
        text = values[present].astype(object).map(str).to_numpy(dtype=object)
    found = pd.Index(levels, dtype=object).get_indexer(text).astype(np.float64)
    found[found < 0] = np.nan
    codes[present] = found
    return codes


_FILL_ROWS = 4096
"""Rows of the feature matrix filled at a time: 4,096 rows of 60 features (2 MB) stay in cache while each
column is written into them; column by column over all rows, every value would land on a new cache line
(1M rows × 59 features: 0.27 s instead of 0.57 s once the memory is mapped)."""


def _side_by_side(columns: list[np.ndarray], n: int) -> np.ndarray:
    """The columns as one C-ordered float64 matrix (LightGBM and the tree walk read it row by row)."""
    out = np.empty((n, len(columns)), dtype=np.float64)
    for a in range(0, n, _FILL_ROWS):
        block = out[a : a + _FILL_ROWS]
        for j, column in enumerate(columns):
            block[:, j] = column[a : a + _FILL_ROWS]
    return out


@dataclass(eq=False, kw_only=True)
class LightGBMModel:
    """Schema learning, encoding and early-stopped training shared by the two models.

    A dataclass: the parameters the two models share are declared once here, and the generated ``__init__``
    stores every parameter as given (the scikit-learn contract); everything learned is set in ``fit``.
    """

    params: dict[str, Any] | None = None
    early_stopping_rounds: int | None = 50
    num_boost_round: int = 2000
    random_state: int = 0
    n_valid_dates: int = 1
    gap_days: int = 0
    select_prior: bool = False

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
        sources = []
        for name in self.feature_names_:
            values = X[columns[name]]
            if name in self.categories_:
                sources.append(_category_codes(values, self.categories_[name]))
                continue
            if not ptypes.is_numeric_dtype(values.dtype):
                try:
                    values = pd.to_numeric(values)
                except (TypeError, ValueError) as exc:
                    raise ModelError(f"feature column {name!r} must be numeric, as in training") from exc
            if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":
                sources.append(values.to_numpy())  # a view: cast to float64 as it is copied into the matrix
            else:
                sources.append(values.to_numpy(dtype=np.float64, na_value=np.nan))
        return _side_by_side(sources, len(X))

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
        features: np.ndarray,
        target: np.ndarray,
        train: np.ndarray,
        valid: np.ndarray,
        init: np.ndarray | None = None,
    ) -> tuple[lgb.Booster, int]:
        """Train on the rows the mask ``train`` selects with early stopping on those ``valid`` selects; return
        the booster cut at its best round.

        ``init``: a prior's raw score per row (the trees learn corrections to it)."""
        X_train, y_train, X_valid, y_valid = features[train], target[train], features[valid], target[valid]
        init_train, init_valid = (None, None) if init is None else (init[train], init[valid])
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
