"""The statistics behind `evaluate-campaign` and the holdout size check, as pure functions.

- Retention (a share): the difference target − control with an unpooled Wald 95 % interval and the
  two-sided p-value of the pooled two-proportion z test.
- Revenue per customer (a mean of a skewed amount): Welch's unequal-variance t test, its interval from the
  Welch–Satterthwaite degrees of freedom.
- Minimum detectable lift: the smallest absolute difference in retention a two-sided two-proportion test
  at level alpha detects with the given power, at a base retention rate p:
  (z_{1−alpha/2} + z_{power}) · sqrt(p (1 − p) (1/n_target + 1/n_control)).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["TEST_NAMES", "minimum_detectable_lift", "two_proportion_test", "welch_test"]

TEST_NAMES = {
    "retention": "two-proportion z test (pooled) with an unpooled Wald 95% interval",
    "revenue_per_customer": "Welch's t test (unequal variances) with its 95% interval",
}


def _z(level: float) -> float:
    return float(stats.norm.ppf(level))


def _result(
    n_target: int,
    n_control: int,
    target: float = math.nan,
    control: float = math.nan,
    lift: float = math.nan,
    ci_low: float = math.nan,
    ci_high: float = math.nan,
    p_value: float = math.nan,
) -> dict[str, float]:
    """The one result shape of both tests (NaN for what could not be computed)."""
    return {
        "n_target": int(n_target),
        "n_control": int(n_control),
        "target": target,
        "control": control,
        "lift": lift,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_value": p_value,
    }


def two_proportion_test(
    successes_target: float, n_target: int, successes_control: float, n_control: int, *, level: float = 0.95
) -> dict[str, float]:
    """Shares in each group, their difference (target − control), its interval and the z-test p-value.

    Keys: target, control, lift, ci_low, ci_high, p_value, n_target, n_control. NaN where a group is empty.
    """
    if n_target <= 0 or n_control <= 0:
        return _result(n_target, n_control)
    pt, pc = successes_target / n_target, successes_control / n_control
    lift = pt - pc
    se = math.sqrt(pt * (1 - pt) / n_target + pc * (1 - pc) / n_control)
    z = _z(0.5 + level / 2)
    pooled = (successes_target + successes_control) / (n_target + n_control)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_target + 1 / n_control))
    # se0 = 0 only when every customer was retained, or none was: then the shares are equal
    p_value = float(2 * stats.norm.sf(abs(lift) / se0)) if se0 > 0 else 1.0
    return _result(n_target, n_control, pt, pc, lift, lift - z * se, lift + z * se, p_value)


def welch_test(target: ArrayLike, control: ArrayLike, *, level: float = 0.95) -> dict[str, float]:
    """Means in each group, their difference (target − control), Welch's interval and two-sided p-value."""
    x = np.asarray(target, dtype=float)
    y = np.asarray(control, dtype=float)
    if x.size == 0 or y.size == 0:
        return _result(x.size, y.size)
    mx, my = float(x.mean()), float(y.mean())
    lift = mx - my
    if x.size < 2 or y.size < 2:
        return _result(x.size, y.size, mx, my, lift)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    if se == 0:
        return _result(x.size, y.size, mx, my, lift, lift, lift, 1.0 if lift == 0 else 0.0)
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    t = float(stats.t.ppf(0.5 + level / 2, df))
    p_value = float(2 * stats.t.sf(abs(lift) / se, df))
    return _result(x.size, y.size, mx, my, lift, lift - t * se, lift + t * se, p_value)


def minimum_detectable_lift(
    n_target: int, n_control: int, base_rate: float, *, alpha: float = 0.05, power: float = 0.80
) -> float:
    """Smallest absolute retention lift a two-sided two-proportion test detects (NaN if a group is empty)."""
    if n_target <= 0 or n_control <= 0 or not 0 <= base_rate <= 1:
        return math.nan
    z = _z(1 - alpha / 2) + _z(power)
    return z * math.sqrt(base_rate * (1 - base_rate) * (1 / n_target + 1 / n_control))
