"""The RFM input contract of the BTYD models (lifetimes convention, days) and its checks.

One row per customer: ``customer_id, frequency, recency, T, monetary_value`` (frequency = repeat purchase days,
recency = age at the last purchase, T = age at the as-of date, monetary_value = mean spend of the repeat purchase
days, 0 if none). Every check raises ``InputError`` naming the column and an offending customer.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnkit.errors import ConfigError, InputError

REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", "frequency", "recency", "T", "monetary_value")


@dataclass(frozen=True)
class RFM:
    """Validated input: the customer ids and float arrays x, t_x, T, m."""

    index: pd.Index
    customer_id: pd.Series
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray


def validate(rfm: Any) -> RFM:
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
    return RFM(index=rfm.index, customer_id=ids, x=x, t_x=t_x, T=T, m=m)


def collapse(columns: dict[str, np.ndarray]) -> tuple[pd.DataFrame, np.ndarray]:
    """Unique rows in sorted order with their counts (``weight``), and each input row's unique-row number.

    Sorting makes the weighted fit independent of the input's row order.
    """
    grouped = pd.DataFrame(columns).groupby(list(columns), sort=True)
    codes = grouped.ngroup().to_numpy()
    unique = grouped.size().reset_index(name="weight")
    return unique, codes


def check_settings(horizon_days: float, clv_months: int, annual_discount_rate: float) -> None:
    """Check the prediction settings; raise ConfigError naming the bad one."""
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


def collapse_transactions(data: RFM) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct (frequency, recency, T) rows with their ``weight``, and each customer's row number."""
    return collapse({"frequency": data.x, "recency": data.t_x, "T": data.T})


def rows(unique: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (frequency, recency, T) arrays of collapsed transaction rows."""
    return unique["frequency"].to_numpy(), unique["recency"].to_numpy(), unique["T"].to_numpy()
