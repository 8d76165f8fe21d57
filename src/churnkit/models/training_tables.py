"""Labelled snapshots with their BTYD columns: built once per date, shared by the backtest and the final fit.

Each snapshot's BTYD model is fitted on that snapshot's own history (no later data) and its outputs
(:data:`churnkit.schema.BTYD_COLUMNS`) become model inputs of the boosted models. No BTYD fit failure stops
a run: the fit goes through the fallback chain of :func:`churnkit.models.btyd.fit_btyd`, and a snapshot where
every BTYD model fails keeps its BTYD columns missing (NaN).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from churnkit.features.training import snapshot_table
from churnkit.models.btyd import BTYDModel, fit_btyd
from churnkit.schema import BTYD_COLUMNS

__all__ = ["MIN_SNAPSHOT_CUSTOMERS", "SnapshotTables", "btyd_columns", "fit_btyd_recorded"]

MIN_SNAPSHOT_CUSTOMERS = 20
"""Snapshots with fewer customers are left out of training (and get no BTYD fit)."""


def btyd_columns(
    model: BTYDModel | None, features: pd.DataFrame, horizon_days: int, settings: Mapping[str, Any]
) -> pd.DataFrame:
    """The BTYD outputs for a feature table, NaN everywhere when there is no BTYD model (every fit failed).

    ``settings``: ``clv_months`` and ``annual_discount_rate`` of the discounted CLV.
    """
    cols = [*BTYD_COLUMNS, "expected_next_purchase_days"]
    if model is None:
        return pd.DataFrame(np.nan, index=features.index, columns=cols)
    pred = model.predict(
        features,
        horizon_days=horizon_days,
        clv_months=settings["clv_months"],
        annual_discount_rate=settings["annual_discount_rate"],
    )
    return pred[cols].reset_index(drop=True).set_axis(features.index)


def fit_btyd_recorded(
    features: pd.DataFrame, settings: Mapping[str, Any]
) -> tuple[BTYDModel | None, dict[str, Any]]:
    """The BTYD chain fitted on one table (``settings``: ``model``, ``penalizer``, ``spend_penalizer``), and its
    outcome with the fit's warnings recorded in it (said once per snapshot in the run notes, not per fit)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = fit_btyd(
            features,
            model=settings["model"],
            penalizer=settings["penalizer"],
            spend_penalizer=settings["spend_penalizer"],
        )
    outcome = dict(fitted.outcome)
    if "warnings" not in outcome:
        outcome["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    return fitted.model, outcome


Progress = Callable[[str], None]


class SnapshotTables:
    """Labelled snapshots (features, labels, BTYD columns) of one shop, each built once.

    ``outcomes`` holds each snapshot's BTYD fit outcome, keyed by the date as text.
    """

    def __init__(
        self,
        data: Any,
        *,
        horizon_days: int,
        feature_settings: Mapping[str, Any],
        btyd_settings: Mapping[str, Any],
        progress: Progress,
    ) -> None:
        self.data = data
        self.horizon_days = horizon_days
        self.feature_settings = dict(feature_settings)
        self.btyd_settings = btyd_settings
        self.progress = progress
        self.tables: dict[dt.date, pd.DataFrame] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}

    def get(self, d: dt.date) -> pd.DataFrame:
        """The labelled snapshot at ``d`` (BTYD columns only when it has ``MIN_SNAPSHOT_CUSTOMERS``)."""
        if d not in self.tables:
            self.progress(f"features and BTYD at {d}")
            snap = snapshot_table(self.data, d, horizon_days=self.horizon_days, **self.feature_settings)
            if len(snap) >= MIN_SNAPSHOT_CUSTOMERS:
                snap = snap.reset_index(drop=True)
                model, self.outcomes[str(d)] = fit_btyd_recorded(snap, self.btyd_settings)
                pred = btyd_columns(model, snap, self.horizon_days, self.btyd_settings)
                for c in BTYD_COLUMNS:
                    snap[c] = pred[c].to_numpy()
            self.tables[d] = snap
        return self.tables[d]

    def stack(self, dates: list[dt.date] | tuple[dt.date, ...]) -> pd.DataFrame:
        """The snapshots at ``dates`` with enough customers, stacked (empty when there are none)."""
        parts = [t for t in (self.get(d) for d in dates) if len(t) >= MIN_SNAPSHOT_CUSTOMERS]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
