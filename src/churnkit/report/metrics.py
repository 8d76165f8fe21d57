"""The docs/design.md metrics as the report shows them (from the registry, `churnkit.models.metrics.METRICS`), and the model-vs-baselines table."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnkit.errors import InputError
from churnkit.models.metrics import BASELINE_PREFIXES, METRIC_NAMES, METRICS, SPLIT_SUFFIXES

__all__ = [
    "BASE_METRICS",
    "FLAG_COLUMN",
    "HIGHER_IS_BETTER",
    "METRIC_INFO",
    "PREFIXES",
    "SPLITS",
    "format_metric",
    "metric_value",
    "metrics_table",
]


@dataclass(frozen=True)
class MetricInfo:
    """How to show one metric: display name, direction, number format and a one-line meaning."""

    label: str
    higher_is_better: bool
    fmt: str
    meaning: str


_FORMATS: dict[str, str] = {
    "churn_auc": "{:.3f}",
    "churn_pr_auc": "{:.3f}",
    "churn_brier": "{:.3f}",
    "churn_logloss": "{:.3f}",
    "churn_ece": "{:.3f}",
    "churn_lift_top10": "{:.2f}×",
    "clv_mae": "{:,.2f}",
    "clv_rmse": "{:,.2f}",
    "clv_spearman": "{:.3f}",
    "clv_gini_norm": "{:.3f}",
}
"""How the report prints each metric; names, labels, meanings and directions come from the registry."""

METRIC_INFO: dict[str, MetricInfo] = {
    name: MetricInfo(m.label, m.higher_is_better, _FORMATS[name], m.description)
    for name, m in METRICS.items()
}
"""Display name, direction, format and meaning of each docs/design.md metric (without prefix)."""

BASE_METRICS: tuple[str, ...] = METRIC_NAMES
"""The ten metric names, in table order."""

HIGHER_IS_BETTER: dict[str, bool] = {name: m.higher_is_better for name, m in METRICS.items()}

SPLITS: dict[str, str] = SPLIT_SUFFIXES
"""Metric-name suffix of each customer group, and its display name."""

PREFIXES: dict[str, str] = {"model": "", **BASELINE_PREFIXES}
FLAG_COLUMN = "better_than_baseline"

_IN_SENTENCE = {"baseline_recency": "recency", "baseline_btyd": "BG/NBD"}


# --------------------------------------------------------------------------------------------- metric table


def to_float(key: str, value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError) as e:
        raise InputError(f"metric {key} is not a number: {value!r}") from e


def _better(model: float, baselines: list[float], higher: bool) -> bool | None:
    known = [b for b in baselines if math.isfinite(b)]
    if not math.isfinite(model) or not known:
        return None
    return model > max(known) if higher else model < min(known)


def metrics_table(metrics: Mapping[str, float]) -> pd.DataFrame:
    """Model vs baselines, one row per metric: index ``metric``, columns model, baseline_recency, baseline_btyd.

    Rows are the ten docs/design.md metric names, then the same names with ``_one_time`` / ``_repeat`` for each
    customer group that has at least one value. Missing values are NaN. ``better_than_baseline`` (nullable
    boolean) is True when the model strictly beats the best available baseline (higher is better for
    AUC, PR-AUC, lift, Spearman and Gini; lower for Brier, log-loss, ECE, MAE and RMSE), NA when the
    model or every baseline is missing. Other keys in ``metrics`` are ignored.
    """
    rows: list[str] = []
    for suffix in SPLITS:
        names = [name + suffix for name in BASE_METRICS]
        present = any(prefix + name in metrics for name in names for prefix in PREFIXES.values())
        if suffix == "" or present:
            rows.extend(names)
    data = {
        column: [to_float(prefix + row, metrics.get(prefix + row)) for row in rows]
        for column, prefix in PREFIXES.items()
    }
    table = pd.DataFrame(data, index=pd.Index(rows, name="metric"), dtype="float64")
    flags = [
        _better(model, [rec, btyd], HIGHER_IS_BETTER[base_name(row)])
        for row, model, rec, btyd in zip(
            rows, data["model"], data["baseline_recency"], data["baseline_btyd"], strict=True
        )
    ]
    table[FLAG_COLUMN] = pd.array(flags, dtype="boolean")
    return table


def base_name(row: str) -> str:
    for suffix in SPLIT_SUFFIXES:
        if suffix and row.endswith(suffix):
            return row[: -len(suffix)]
    return row


def split_of(row: str) -> str:
    return next((s for s in SPLIT_SUFFIXES if s and row.endswith(s)), "")


def is_missing(value: Any) -> bool:
    """None, NA, NaT or a float NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def format_metric(name: str, value: float) -> str:
    """A metric value as shown in the report; '—' when missing."""
    if is_missing(value) or not math.isfinite(value):
        return "—"
    text = METRIC_INFO[base_name(name)].fmt.format(value)
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def metric_value(metrics: Mapping[str, float], name: str) -> float:
    """``metrics[name]`` as a float; NaN when missing or not finite."""
    value = to_float(name, metrics.get(name))
    return value if math.isfinite(value) else math.nan


def baseline_text(metrics: Mapping[str, float], name: str, fmt: Any) -> str:
    """' Baselines: recency …, BG/NBD ….' for the baselines that have ``name``; '' when none has."""
    parts = []
    for column in ("baseline_recency", "baseline_btyd"):
        value = metric_value(metrics, PREFIXES[column] + name)
        if math.isfinite(value):
            parts.append(f"{_IN_SENTENCE[column]} {fmt(value)}")
    return f" Baselines: {', '.join(parts)}." if parts else ""
