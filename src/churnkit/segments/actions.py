"""Value × risk grid: predicted CLV tier × churn risk tier → recommended campaign action.

Value tiers are quantiles of the scored base (or fixed thresholds): low = at or below the first
cut, medium = above it up to the second, high = above the second. Risk tiers use fixed probability
thresholds: low < first, medium from the first up to (not including) the second, high from the second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from churnkit.errors import ConfigError, InputError

TIERS: tuple[str, ...] = ("low", "medium", "high")

DEFAULT_ACTION_GRID: dict[tuple[str, str], str] = {
    # (value_tier, risk_tier): action
    ("high", "high"): "priority win-back offer",
    ("high", "medium"): "loyalty reward",
    ("high", "low"): "VIP care, no discount",
    ("medium", "high"): "win-back offer",
    ("medium", "medium"): "nurture",
    ("medium", "low"): "cross-sell",
    ("low", "high"): "no action",
    ("low", "medium"): "low-cost reactivation email",
    ("low", "low"): "nurture",
}
"""Default action per (value_tier, risk_tier); a configured grid overrides cells one by one."""


def _parse_key(key: Any) -> tuple[str, str]:
    if isinstance(key, str):
        for sep in ("/", ":", ","):
            if sep in key:
                parts = [p.strip() for p in key.split(sep)]
                break
        else:
            parts = [key]
    elif isinstance(key, Sequence):
        parts = [str(p).strip() for p in key]
    else:
        parts = [repr(key)]
    if len(parts) != 2 or parts[0] not in TIERS or parts[1] not in TIERS:
        raise ConfigError(
            f"Action grid key {key!r} must be (value_tier, risk_tier) with tiers in {list(TIERS)}, "
            "e.g. ('high', 'low') or 'high/low'"
        )
    return parts[0], parts[1]


def action_grid(grid: Mapping[Any, Any] | None = None) -> dict[tuple[str, str], str]:
    """The full 3 × 3 grid: ``DEFAULT_ACTION_GRID`` updated with ``grid``.

    ``grid`` keys may be tuples ``(value_tier, risk_tier)``, strings ``"value/risk"``, or a nested mapping
    ``{value_tier: {risk_tier: action}}`` (the YAML-friendly form).
    """
    full = dict(DEFAULT_ACTION_GRID)
    if grid is None:
        return full
    if not isinstance(grid, Mapping):
        raise ConfigError("The action grid must be a mapping of (value_tier, risk_tier) to action")
    for key, action in grid.items():
        if isinstance(action, Mapping):
            if key not in TIERS:
                raise ConfigError(f"Action grid value tier {key!r} must be one of {list(TIERS)}")
            cells = {(key, risk): act for risk, act in action.items()}
        else:
            cells = {_parse_key(key): action}
        for (value_tier, risk_tier), act in cells.items():
            if risk_tier not in TIERS:
                raise ConfigError(f"Action grid risk tier {risk_tier!r} must be one of {list(TIERS)}")
            if not isinstance(act, str) or not act.strip():
                raise ConfigError(f"Action for ({value_tier}, {risk_tier}) must be a non-empty text")
            full[(value_tier, risk_tier)] = act
    return full


def _pair(
    value: Sequence[float], what: str, *, lo: float, hi: float, open_ends: bool, equal_ok: bool = False
) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a pair of numbers, got {value!r}") from None
    ordered = a <= b if equal_ok else a < b
    inside = ordered and ((lo < a and b < hi) if open_ends else (lo <= a and b <= hi))
    if not inside:
        raise ConfigError(f"{what} must be increasing and within [{lo}, {hi}], got {value!r}")
    return a, b


def _numeric(scores: pd.DataFrame, col: str) -> pd.Series:
    if col not in scores.columns:
        raise InputError(f"Required column {col} missing from the scores table", column=col)
    values = pd.to_numeric(scores[col], errors="coerce").astype("float64")
    if values.isna().any():
        raise InputError(
            f"Column {col} has {int(values.isna().sum())} missing or non-numeric values", column=col
        )
    return values


def recommended_actions(
    scores: pd.DataFrame,
    *,
    value_col: str = "predicted_clv",
    risk_col: str = "churn_probability",
    grid: Mapping[Any, Any] | None = None,
    value_quantiles: tuple[float, float] = (0.5, 0.8),
    risk_thresholds: tuple[float, float] = (0.3, 0.6),
    value_thresholds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """A copy of ``scores`` with ``value_tier``, ``risk_tier`` and ``recommended_action``.

    ``value_thresholds`` (currency) replaces the quantile cuts, e.g. to reuse cuts fixed at train time.
    """
    full_grid = action_grid(grid)
    risk_cuts = _pair(risk_thresholds, "risk_thresholds", lo=0.0, hi=1.0, open_ends=False)
    if value_thresholds is not None:
        # equal cuts are fine (e.g. mostly zero CLV at training): the medium tier is then empty
        value_cuts = _pair(
            value_thresholds, "value_thresholds", lo=-np.inf, hi=np.inf, open_ends=True, equal_ok=True
        )
    else:
        q = _pair(value_quantiles, "value_quantiles", lo=0.0, hi=1.0, open_ends=True)
    value = _numeric(scores, value_col)
    risk = _numeric(scores, risk_col)
    if value_thresholds is None:
        value_cuts = (float(value.quantile(q[0])), float(value.quantile(q[1]))) if len(value) else (0.0, 0.0)

    tiers = np.array(TIERS, dtype=object)
    # value: right-closed bins, so a mass of zeros (no predicted revenue) stays in the low tier
    value_idx = np.searchsorted(np.asarray(value_cuts), value.to_numpy(), side="left")
    # risk: left-closed bins, a probability equal to a threshold moves up a tier
    risk_idx = np.searchsorted(np.asarray(risk_cuts), risk.to_numpy(), side="right")
    out = scores.copy()
    out["value_tier"] = pd.array(tiers[value_idx], dtype="str")
    out["risk_tier"] = pd.array(tiers[risk_idx], dtype="str")
    actions = np.array([[full_grid[(v, r)] for r in TIERS] for v in TIERS], dtype=object)
    out["recommended_action"] = pd.array(actions[value_idx, risk_idx], dtype="str")
    return out
