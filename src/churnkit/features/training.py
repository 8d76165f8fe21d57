"""One snapshot of the training table: the features of the customer base at an as-of date, joined with the
labels of [D, D+H).

Which dates are snapshots is decided by the one scheduler, :mod:`churnkit.features.snapshots`; the training
run (:mod:`churnkit.pipeline`) stacks the snapshots it plans. Rows are sorted by customer and floats rounded to
8 decimals (:func:`reproducible`), so that fits and predictions are bit-for-bit reproducible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from churnkit.features.build import shop_feature_table, to_frame
from churnkit.features.labels import build_labels

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["reproducible", "rounded", "snapshot_table"]


def snapshot_table(
    data: Any,
    as_of: dt.date,
    *,
    horizon_days: int | None = None,
    fetched: Callable[[], None] | None = None,
    **feature_settings: Any,
) -> pd.DataFrame:
    """Features at ``as_of`` (``feature_settings``: `build_features`'s windows, session gap, channels) and,
    with ``horizon_days``, the labels churned, future_revenue and future_purchases for [as_of, as_of + H).

    ``data`` is a loaded shop (DuckDB ``ShopData`` or the Spark engine's). Empty when nobody bought before
    ``as_of``. The label window must be observed: the scheduler only plans such snapshots. ``fetched`` runs
    once the features are out of the engine (`to_frame`); without labels the shop is not read after it.
    """
    if fetched is not None and horizon_days is not None:
        raise ValueError("fetched: the labels are read from the shop after the features")
    # the engine sorts (in parallel, before the rows reach pandas): `reproducible` then finds them in order
    feats = to_frame(
        shop_feature_table(data, as_of=as_of, **feature_settings).order_by("customer_id"), fetched=fetched
    )
    if horizon_days is not None and not feats.empty:
        tx = data.ibis("transactions")
        lab = to_frame(build_labels(tx, as_of=as_of, horizon_days=horizon_days))
        feats = feats.merge(lab.drop(columns=["as_of"], errors="ignore"), on="customer_id", how="left")
        feats["churned"] = feats["churned"].fillna(1).astype(int)
        feats["future_revenue"] = feats["future_revenue"].fillna(0.0)
        feats["future_purchases"] = feats["future_purchases"].fillna(0)
    return reproducible(feats)


def reproducible(features: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by customer and floats rounded to 8 decimals, so fits and predictions are reproducible.

    Engines return rows in no fixed order, and parallel sums differ in the last bits (~1e-13) from run to
    run, which is enough to move a LightGBM split. Rounding far below any currency unit removes both.
    The sorted copy is rounded in place: one copy of the table, not two (1M customers × 59 features is
    0.5 GB a copy).
    """
    if not features["customer_id"].is_monotonic_increasing:
        features = features.sort_values("customer_id", kind="stable")
    return _round_floats(features.reset_index(drop=True))


def rounded(features: pd.DataFrame) -> pd.DataFrame:
    """Float columns rounded to 8 decimals (a new frame; the input is left as it is)."""
    return _round_floats(features.copy(deep=False))  # copy-on-write: the input's columns are not touched


def _round_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its float columns rounded to 8 decimals, one column at a time, in place: each rounded
    column replaces its original at once, so at most one column more than the table is held."""
    for col in frame.select_dtypes("float").columns.unique():
        frame[col] = frame[col].round(8)
    return frame
