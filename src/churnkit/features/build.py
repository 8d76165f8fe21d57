"""build_features: the feature table at one as-of date, one engine-neutral Ibis expression."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir
import pyarrow as pa

from churnkit.data.fetch import scalar
from churnkit.errors import ConfigError
from churnkit.features._common import (
    EVENT_COLUMNS,
    TRANSACTION_COLUMNS,
    as_date,
    check_windows,
    date_lit,
    left_join,
    require_columns,
)
from churnkit.features.attributes import attribute_columns, attribute_features
from churnkit.features.browsing import browsing_features, visitors
from churnkit.features.catalogue import DEFAULT_WINDOWS, Feature, catalogue
from churnkit.features.purchases import customer_base, distinct_channels, purchase_features

if TYPE_CHECKING:
    import pandas as pd


def feature_columns(
    transactions: ir.Table,
    events: ir.Table | None = None,
    customers: ir.Table | None = None,
    *,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    channels: Sequence[str] = (),
) -> tuple[Feature, ...]:
    """The features ``build_features`` returns for these inputs, in column order."""
    return catalogue(
        windows=check_windows(windows),
        channels=channels,
        browsing=events is not None,
        signup=customers is not None and "signup_date" in customers.columns,
        attributes=attribute_columns(customers) if customers is not None else (),
    )


def resolve_channels(transactions: ir.Table, as_of: dt.date, channels: Sequence[str] | None) -> list[str]:
    """``channels`` as given, or the sorted non-null channels of purchases before ``as_of``."""
    if channels is None:
        return distinct_channels(transactions, as_of)
    if isinstance(channels, str):
        raise ConfigError("channels must be a list of channel names, not one string")
    return [str(c) for c in channels]


def build_features(
    transactions: ir.Table,
    events: ir.Table | None = None,
    customers: ir.Table | None = None,
    *,
    as_of: dt.date,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    session_gap_minutes: int = 30,
    channels: Sequence[str] | None = None,
) -> ir.Table:
    """Feature table at ``as_of``: customer_id, as_of, then every feature of ``feature_columns``.

    One row per customer with a purchase before ``as_of`` 00:00; only rows before it are read.
    ``channels=None`` takes the channels of purchases before ``as_of`` (one small query); pass a fixed
    list to get the same columns at every date. The result is a lazy Ibis table on the inputs' backend.
    """
    as_of = as_date(as_of)
    windows = check_windows(windows)
    if (
        isinstance(session_gap_minutes, bool)
        or not isinstance(session_gap_minutes, int)
        or session_gap_minutes <= 0
    ):
        raise ConfigError(f"session_gap_minutes must be a positive whole number, got {session_gap_minutes!r}")
    require_columns(transactions, TRANSACTION_COLUMNS, table_name="transactions")
    if events is not None:
        require_columns(events, EVENT_COLUMNS, table_name="events")
    if customers is not None:
        require_columns(customers, ("customer_id",), table_name="customers")
    chans = resolve_channels(transactions, as_of, channels)
    if chans:
        require_columns(transactions, ("channel",), table_name="transactions")
    feats = feature_columns(transactions, events, customers, windows=windows, channels=chans)

    table = purchase_features(transactions, as_of=as_of, windows=windows, channels=chans)
    if events is not None:
        base = table.select("customer_id", "last_purchase_ts")
        table = left_join(
            table,
            browsing_features(
                events, base, as_of=as_of, windows=windows, session_gap_minutes=session_gap_minutes
            ),
        )
    if customers is not None and any(f.group == "attributes" for f in feats):
        table = left_join(table, attribute_features(customers, as_of=as_of))
    return table.select(
        "customer_id",
        as_of=date_lit(as_of),
        **{f.name: table[f.name].cast(f.dtype) for f in feats},
    )


def count_prospects(transactions: ir.Table, events: ir.Table, *, as_of: dt.date) -> int:
    """Browsing-only visitors at ``as_of``: an event before it and no purchase before it."""
    as_of = as_date(as_of)
    require_columns(transactions, TRANSACTION_COLUMNS, table_name="transactions")
    require_columns(events, EVENT_COLUMNS, table_name="events")
    prospects = visitors(events, as_of).anti_join(customer_base(transactions, as_of), "customer_id")
    return int(scalar(prospects.count()))


def to_frame(table: ir.Table, *, fetched: Callable[[], None] | None = None) -> pd.DataFrame:
    """An Ibis table as pandas, through Arrow, with the dtypes Ibis gives (dates as ``datetime64[s]``).

    On the 1M-customer benchmark feature table this takes 11.5 s where ``Table.to_pandas()`` takes
    19.8 s: Ibis converts column by column in Python after the same Arrow fetch. The Arrow buffers are
    freed column by column as pandas takes them over (``self_destruct``), so the table is not held twice.
    ``fetched`` runs once the engine's result is in Arrow, before the conversion: the score job closes the
    shop it loaded there, so the engine's tables and the pandas copy are never in memory together.
    """
    arrow = table.to_pyarrow()
    if fetched is not None:
        fetched()
    dates = [field.name for field in arrow.schema if pa.types.is_date(field.type)]
    frame = arrow.to_pandas(date_as_object=False, self_destruct=True, split_blocks=True)
    del arrow
    for name in dates:
        frame[name] = frame[name].astype("datetime64[s]")
    return frame


def shop_feature_table(data: Any, *, as_of: dt.date, **settings: Any) -> ir.Table:
    """`build_features` on a loaded shop (DuckDB ``ShopData`` or the Spark engine's), as an Ibis expression.

    ``settings``: the keyword arguments of `build_features` (windows, session_gap_minutes, channels).
    """
    return build_features(
        data.ibis("transactions"), data.ibis("events"), data.ibis("customers"), as_of=as_of, **settings
    )


def shop_features(
    data: Any, *, as_of: dt.date, fetched: Callable[[], None] | None = None, **settings: Any
) -> pd.DataFrame:
    """`shop_feature_table` as pandas (``fetched``: see `to_frame`)."""
    return to_frame(shop_feature_table(data, as_of=as_of, **settings), fetched=fetched)
