"""Arguments, the per-day calendar intensities, acquisition times and time of day of the sample shop."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnkit.datasets.sample_shop.params import DAY, MONTH_BUY, WEEKDAY_BROWSE, WEEKDAY_BUY
from churnkit.errors import ConfigError

__all__ = ["acquisition_times", "calendar", "check_args", "time_of_day"]


def check_args(n_customers: int, start: str, end: str) -> tuple[int, np.datetime64, int]:
    """Validate the arguments; return (number of buyers, first day, number of days)."""
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer) or n_customers < 1:
        raise ConfigError(f"n_customers must be a positive integer, got {n_customers!r}.")
    try:
        day0 = np.datetime64(pd.Timestamp(start).date(), "D")
        day_last = np.datetime64(pd.Timestamp(end).date(), "D")
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"start and end must be dates (YYYY-MM-DD), got {start!r} and {end!r}.") from exc
    n_days = int((day_last - day0).astype(np.int64)) + 1
    if n_days < 28:
        raise ConfigError(f"The period {start} to {end} is too short: give at least four weeks.")
    return int(n_customers), day0, n_days


def calendar(day0: np.datetime64, horizon: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-day intensity multipliers for purchases and for browsing, mean 1 over the period."""
    days = day0 + np.arange(horizon)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    month_start = days.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12
    dom = (days - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    season = MONTH_BUY[month].copy()
    season[(month == 10) & (dom >= 22)] *= 1.4  # Black Friday / Cyber week
    season[(month == 11) & (dom >= 24) & (dom <= 26)] *= 0.5  # Christmas closed
    season[(month == 11) & (dom >= 27)] *= 0.8
    buy = WEEKDAY_BUY[weekday] * season
    browse = WEEKDAY_BROWSE[weekday] * np.sqrt(season)
    return buy / buy[:n_days].mean(), browse / browse[:n_days].mean()


def acquisition_times(g: np.random.Generator, n: int, cal: np.ndarray) -> np.ndarray:
    """First-activity times (days): growing over the period, one campaign burst, seasonal."""
    n_days = cal.size
    x = np.arange(n_days) / n_days
    trend = 0.5 + 1.0 * x + 1.5 * np.exp(-0.5 * ((x - 0.45) * n_days / 7.0) ** 2)
    w = trend * cal
    day = g.choice(n_days, n, p=w / w.sum())
    return day + g.random(n)


def time_of_day(frac: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Map a uniform fraction of the day monotonically onto seconds following hourly weights."""
    cdf = np.concatenate([[0.0], np.cumsum(hours)]) / hours.sum()
    return np.minimum(np.interp(frac, cdf, np.arange(25) * 3600.0), DAY - 1).astype(np.int64)
