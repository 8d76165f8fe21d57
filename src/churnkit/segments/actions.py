"""Value × risk grid: predicted CLV tier × churn risk tier → recommended campaign action.

Both tiers are relative to the customer base and learned once (at fit time, on the base at the as-of date),
so that a later score, one customer or a Spark partition gets the same tier:

- **risk**: quantiles of the base's churn probability (default ``risk_quantiles = (0.5, 0.8)``): high = the
  riskiest 20 % of the base, medium = the next 30 %, low = the least risky half, whatever the base churn rate
  is. A probability equal to a cut goes to the higher tier; a block of tied probabilities is never split
  (it goes where its middle falls, as RFM scores do). Fixed probabilities (``risk_thresholds``) replace the
  quantiles when given.
- **value**: by share of the base's predicted value (default ``value_method = "value_share"``,
  ``value_shares = (0.5, 0.9)``): high = the most valuable customers who together hold 50 % of the base's
  predicted CLV, medium = the next ones up to 90 %, low = the rest (the customers sharing the last 10 %);
  customers tied with the last one a share needs go up with it.
  ``value_method = "quantile"`` uses quantiles of the customers instead (``value_quantiles``). A value goes
  to a higher tier only when it is above the cut, so a mass of zero CLV stays in the low tier.

The action of a customer comes from their (value tier, risk tier) cell, unless their RFM segment has its
own action for their risk tier (``DEFAULT_SEGMENT_ACTIONS``): a Champion at high risk gets a personal
save call whatever the model's CLV says, never a discount and never "no action".
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
    ("high", "high"): "personal save call",
    ("high", "medium"): "VIP outreach with a loyalty reward",
    ("high", "low"): "VIP care, no discount",
    ("medium", "high"): "win-back offer",
    ("medium", "medium"): "personalised recommendations",
    ("medium", "low"): "cross-sell",
    ("low", "high"): "automated low-cost win-back email",
    ("low", "medium"): "automated reactivation email",
    ("low", "low"): "newsletter only",
}
"""Default action per (value_tier, risk_tier); a configured grid overrides cells one by one."""

DEFAULT_SEGMENT_ACTIONS: dict[str, dict[str, str]] = {
    # RFM segment: {risk_tier: action}; these win over the value × risk grid
    "Champions": {
        "high": "personal save call (VIP)",
        "medium": "VIP outreach, early access, no discount",
        "low": "VIP care, no discount",
    },
    "Can't Lose Them": {
        "high": "personal save call (VIP)",
        "medium": "personal win-back outreach (VIP)",
        "low": "VIP care, no discount",
    },
    "Loyal": {
        "high": "personal check-in with a loyalty reward",
        "medium": "VIP outreach with a loyalty reward",
    },
}
"""Actions by RFM segment and risk tier that replace the grid's cell: the best customers are never left to
an automated email or a discount. A configured ``segment_actions`` updates these per segment and tier."""


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


def segment_action_map(
    segment_actions: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, dict[str, str]]:
    """``DEFAULT_SEGMENT_ACTIONS`` updated with ``segment_actions`` ({segment: {risk_tier: action}}).

    An empty text removes a default cell, so that segment's customers at that risk follow the grid again.
    """
    full = {seg: dict(cells) for seg, cells in DEFAULT_SEGMENT_ACTIONS.items()}
    if segment_actions is None:
        return full
    if not isinstance(segment_actions, Mapping):
        raise ConfigError("segment_actions must map an RFM segment to {risk_tier: action}")
    for seg, cells in segment_actions.items():
        if not isinstance(cells, Mapping):
            raise ConfigError(f"segment_actions[{seg!r}] must map a risk tier to an action")
        for risk, act in cells.items():
            if risk not in TIERS:
                raise ConfigError(
                    f"segment_actions[{seg!r}]: risk tier {risk!r} must be one of {list(TIERS)}"
                )
            if not isinstance(act, str):
                raise ConfigError(f"segment_actions[{seg!r}][{risk!r}] must be a text")
            if act.strip():
                full.setdefault(str(seg), {})[risk] = act
            else:
                full.get(str(seg), {}).pop(risk, None)
    return full


def risk_cuts(probabilities: Any, *, quantiles: Sequence[float] = (0.5, 0.8)) -> tuple[float, float]:
    """Churn-probability cuts at the base's ``quantiles``: at or above the first is medium, the second high.

    A cut is the smallest probability of the base whose mid-rank percentile (share of the base below it plus
    half the share tied with it, as for RFM scores) reaches the quantile: with distinct probabilities the
    top 20 % are high for 0.8; a block of tied probabilities moves as one, to the tier its middle falls in.
    """
    q = _pair(quantiles, "risk_quantiles", lo=0.0, hi=1.0, open_ends=True)
    p = np.asarray(probabilities, dtype="float64")
    p = p[np.isfinite(p)]
    if not len(p):
        return (0.5, 0.5)
    values, counts = np.unique(p, return_counts=True)
    mid = (np.cumsum(counts) - counts / 2) / len(p)
    above = float(np.nextafter(values[-1], np.inf))  # no customer reaches it

    def cut(level: float) -> float:
        i = int(np.searchsorted(mid, level - 1e-12, side="left"))
        return float(values[i]) if i < len(values) else above

    return cut(q[0]), cut(q[1])


def value_cuts(
    values: Any,
    *,
    method: str = "value_share",
    shares: Sequence[float] = (0.5, 0.9),
    quantiles: Sequence[float] = (0.5, 0.8),
) -> tuple[float, float]:
    """Predicted-CLV cuts (a value above the first is medium, above the second high).

    ``value_share``: high = the top customers who together hold ``shares[0]`` of the base's (positive)
    predicted CLV, medium = down to ``shares[1]``; ``quantile``: cuts at the customers' ``quantiles``.
    """
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if method == "quantile":
        q = _pair(quantiles, "value_quantiles", lo=0.0, hi=1.0, open_ends=True)
        if not len(v):
            return (0.0, 0.0)
        return float(np.quantile(v, q[0])), float(np.quantile(v, q[1]))
    if method != "value_share":
        raise ConfigError(f"value_method must be 'value_share' or 'quantile', got {method!r}")
    s = _pair(shares, "value_shares", lo=0.0, hi=1.0, open_ends=True)
    if not len(v):
        return (0.0, 0.0)
    desc = np.sort(v)[::-1]
    positive = np.clip(desc, 0.0, None)
    total = positive.sum()
    if total <= 0:
        top = float(desc[0])
        return (top, top)  # nobody is above: all low
    share = np.cumsum(positive) / total

    def cut(target: float) -> float:
        last = int(np.searchsorted(share, target - 1e-12, side="left"))  # customers 0..last hold target
        below = desc[desc < desc[min(last, len(desc) - 1)]]  # customers tied with the last one go up too
        return float(below[0]) if len(below) else float(desc[-1]) - 1.0

    hi = cut(s[0])
    lo = cut(s[1])
    return min(lo, hi), hi


def recommended_actions(
    scores: pd.DataFrame,
    *,
    value_col: str = "predicted_clv",
    risk_col: str = "churn_probability",
    segment_col: str = "rfm_segment",
    grid: Mapping[Any, Any] | None = None,
    segment_actions: Mapping[str, Mapping[str, str]] | None = None,
    value_method: str = "value_share",
    value_shares: tuple[float, float] = (0.5, 0.9),
    value_quantiles: tuple[float, float] = (0.5, 0.8),
    risk_quantiles: tuple[float, float] = (0.5, 0.8),
    risk_thresholds: tuple[float, float] | None = None,
    value_thresholds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """A copy of ``scores`` with ``value_tier``, ``risk_tier`` and ``recommended_action``.

    Cuts are learned on ``scores`` itself (quantiles / value shares) unless fixed: ``risk_thresholds``
    (probabilities) and ``value_thresholds`` (currency) pass cuts learned at fit time, or fixed ones.
    When ``segment_col`` is present, ``DEFAULT_SEGMENT_ACTIONS`` (updated with ``segment_actions``) wins
    over the grid for its segments and risk tiers.
    """
    full_grid = action_grid(grid)
    by_segment = segment_action_map(segment_actions)
    if risk_thresholds is not None:
        r_cuts = _pair(
            risk_thresholds, "risk_thresholds", lo=0.0, hi=1.0 + 1e-6, open_ends=False, equal_ok=True
        )
    else:
        _pair(risk_quantiles, "risk_quantiles", lo=0.0, hi=1.0, open_ends=True)
    if value_thresholds is not None:
        # equal cuts are fine (e.g. mostly zero CLV at training): the medium tier is then empty
        v_cuts = _pair(
            value_thresholds, "value_thresholds", lo=-np.inf, hi=np.inf, open_ends=True, equal_ok=True
        )
    elif value_method == "quantile":
        _pair(value_quantiles, "value_quantiles", lo=0.0, hi=1.0, open_ends=True)
    value = _numeric(scores, value_col)
    risk = _numeric(scores, risk_col)
    if value_thresholds is None:
        v_cuts = value_cuts(value, method=value_method, shares=value_shares, quantiles=value_quantiles)
    if risk_thresholds is None:
        r_cuts = risk_cuts(risk, quantiles=risk_quantiles)

    tiers = np.array(TIERS, dtype=object)
    # value: right-closed bins, so a mass of zeros (no predicted revenue) stays in the low tier
    value_idx = np.searchsorted(np.asarray(v_cuts), value.to_numpy(), side="left")
    # risk: left-closed bins, a probability equal to a cut moves up a tier
    risk_idx = np.searchsorted(np.asarray(r_cuts), risk.to_numpy(), side="right")
    out = scores.copy()
    out["value_tier"] = pd.array(tiers[value_idx], dtype="str")
    out["risk_tier"] = pd.array(tiers[risk_idx], dtype="str")
    actions = np.array([[full_grid[(v, r)] for r in TIERS] for v in TIERS], dtype=object)
    chosen = actions[value_idx, risk_idx]
    if segment_col in scores.columns and len(scores):
        seg = scores[segment_col].astype(str).to_numpy()
        for name, cells in by_segment.items():
            in_segment = seg == name
            if not in_segment.any():
                continue
            for risk_tier, act in cells.items():
                chosen = np.where(in_segment & (tiers[risk_idx] == risk_tier), act, chosen)
    out["recommended_action"] = pd.array(chosen, dtype="str")
    return out
