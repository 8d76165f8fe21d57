"""Rolling-origin training tables: features at several as-of dates joined with their labels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from churnkit.errors import ConfigError, DataTooShortError
from churnkit.features._common import TRANSACTION_COLUMNS, as_date, require_columns
from churnkit.features.build import build_features, resolve_channels, to_frame
from churnkit.features.labels import build_labels, check_horizon


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
    return value


def rolling_origins(
    last_timestamp_date: dt.date,
    *,
    horizon_days: int,
    n_snapshots: int,
    spacing_days: int,
    min_history_days: int | None = None,
    first_date: dt.date | None = None,
) -> list[dt.date]:
    """``n_snapshots`` as-of dates, oldest first, ``spacing_days`` apart.

    The latest is the last date whose whole horizon [D, D+H) lies inside the data
    (D + H − 1 = ``last_timestamp_date``). With ``first_date`` every origin needs at least
    ``min_history_days`` (default 1) days of history. Raises DataTooShortError if fewer fit.
    """
    last = as_date(last_timestamp_date, name="last_timestamp_date")
    check_horizon(horizon_days)
    _positive(n_snapshots, "n_snapshots")
    _positive(spacing_days, "spacing_days")
    latest = last - dt.timedelta(days=horizon_days - 1)
    origins = [latest - dt.timedelta(days=k * spacing_days) for k in range(n_snapshots)]
    if first_date is not None or min_history_days is not None:
        if first_date is None:
            raise ConfigError("min_history_days needs first_date")
        first = as_date(first_date, name="first_date")
        need = 1 if min_history_days is None else _positive(min_history_days, "min_history_days")
        earliest = first + dt.timedelta(days=need)
        fitting = [d for d in origins if d >= earliest]
        if len(fitting) < n_snapshots:
            raise DataTooShortError(
                f"Only {len(fitting)} of {n_snapshots} as-of dates {spacing_days} days apart fit between "
                f"{first} (+{need} days of history) and {last} (horizon {horizon_days} days); "
                "ask for fewer snapshots, a smaller spacing or a shorter horizon"
            )
    return sorted(origins)


def data_end(transactions: ir.Table) -> dt.date:
    """Date of the last transaction."""
    value = transactions.timestamp.max().to_pyarrow().as_py()
    if value is None:
        raise DataTooShortError("The transactions table is empty")
    return value.date() if isinstance(value, dt.datetime) else as_date(value)


def build_training_table(
    transactions: ir.Table,
    events: ir.Table | None = None,
    customers: ir.Table | None = None,
    *,
    as_ofs: Sequence[dt.date],
    horizon_days: int,
    **feature_kwargs: Any,
) -> pd.DataFrame:
    """Features ⋈ labels at every as-of date, stacked (sorted by as_of, customer_id).

    Every as_of + horizon_days must be ≤ the last transaction date + 1 day (the whole label window
    observed). Without ``channels`` in ``feature_kwargs`` the channels of purchases before the latest
    as-of date are used for every snapshot, so all snapshots have the same columns.
    """
    check_horizon(horizon_days)
    require_columns(transactions, TRANSACTION_COLUMNS, table_name="transactions")
    dates = sorted({as_date(d) for d in as_ofs})
    if not dates:
        raise ConfigError("as_ofs is empty: give at least one as-of date")
    end = data_end(transactions)
    for d in dates:
        if d + dt.timedelta(days=horizon_days) > end + dt.timedelta(days=1):
            raise DataTooShortError(
                f"as_of {d} + {horizon_days} days runs past the data, which ends on {end}: "
                f"the latest usable as_of is {end - dt.timedelta(days=horizon_days - 1)}"
            )
    if feature_kwargs.get("channels") is None:
        feature_kwargs["channels"] = resolve_channels(transactions, dates[-1], None)
    frames = []
    for d in dates:
        feats = build_features(transactions, events, customers, as_of=d, **feature_kwargs)
        labels = build_labels(transactions, as_of=d, horizon_days=horizon_days).drop("as_of")
        frame = to_frame(feats.join(labels, "customer_id"))
        if frame.empty:
            raise DataTooShortError(f"No customer has a purchase before as_of {d}")
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["as_of", "customer_id"], kind="stable", ignore_index=True)
