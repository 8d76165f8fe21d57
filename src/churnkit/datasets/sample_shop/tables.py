"""The generator's arrays as the shop's pandas tables: ids, timestamps, transactions, events, truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnkit.data.schema import EVENT_TYPES
from churnkit.datasets.sample_shop.params import CHANNELS, DAY, DEVICES, N_PRODUCTS, STAGE_TYPE

__all__ = ["events_frame", "format_ids", "frame", "take", "timestamps", "transactions_frame", "truth_frame"]


def format_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded string ids such as ``C000123`` (fast, through Arrow)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width=width, padding="0")
    joined = pc.binary_join_element_wise(pa.scalar(prefix), digits, pa.scalar(""))
    return joined.cast(pa.large_string())


def take(values: tuple[str, ...] | pa.Array, codes: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Strings for integer codes (null where ``mask``), without building Python objects per row."""
    dictionary = values if isinstance(values, pa.Array) else pa.array(values, type=pa.large_string())
    return pc.take(dictionary, pa.array(codes, mask=mask))


def timestamps(seconds: np.ndarray, day0: np.datetime64, mask: np.ndarray | None = None) -> pa.Array:
    """Naive timestamps (microsecond unit) from seconds since ``day0``."""
    base = day0.astype("datetime64[s]").astype(np.int64)
    micros = (seconds.astype(np.int64) + base) * 1_000_000
    return pa.array(micros, type=pa.int64(), mask=mask).view(pa.timestamp("us"))


def frame(columns: dict[str, pa.Array | np.ndarray], order: np.ndarray | None = None) -> pd.DataFrame:
    """A pandas frame from Arrow or numpy columns (strings become the ``str`` dtype), optionally reordered.

    Large tables are built already in order; ``order`` is for the small per-customer tables.
    """
    table = pa.table(columns)
    if order is not None:
        table = table.take(pa.array(order))
    return table.to_pandas()


def transactions_frame(
    orders: dict[str, np.ndarray], cust_ids: pa.Array, day0: np.datetime64
) -> pd.DataFrame:
    """Order lines and return lines, in time order, with order ids ``O...`` and return ids ``R...``."""
    width = max(7, len(str(orders["ts"].size)))
    lo = orders["line_order"]
    ro = orders["ret_order"]
    order_no = np.concatenate([lo, ro]) + 1
    is_ret = np.repeat([False, True], [lo.size, ro.size])
    ts = np.concatenate([orders["ts"][lo], orders["ret_ts"]])
    line_no = np.concatenate(
        [np.arange(lo.size) - orders["line_start"][lo], np.zeros(ro.size, dtype=np.int64)]
    )
    o = np.lexsort((line_no, is_ret, order_no, ts))
    cust = np.concatenate([orders["cust"][lo], orders["cust"][ro]])[o]
    channel = np.concatenate([orders["channel"][lo], orders["channel"][ro]])[o]
    product = np.concatenate([orders["line_product"], orders["line_product"][orders["ret_line"]]])[o]
    order_ids = pc.binary_join_element_wise(
        take(("O", "R"), is_ret[o].astype(np.int8)),
        format_ids("", order_no[o], width),
        pa.scalar("", pa.large_string()),
    )
    return frame(
        {
            "customer_id": take(cust_ids, cust),
            "order_id": order_ids,
            "timestamp": timestamps(ts[o], day0),
            "amount": np.concatenate([orders["amount"], orders["ret_amount"]])[o],
            "quantity": np.concatenate([orders["qty"], -orders["ret_qty"]])[o],
            "channel": take(CHANNELS, channel),
            "product_id": take(_product_ids(), product),
        }
    )


def _product_ids() -> pa.Array:
    """Catalogue ids ``P00001`` ... indexed by product code."""
    return format_ids("P", np.arange(N_PRODUCTS) + 1, 5)


def events_frame(
    ev: dict[str, np.ndarray], s: dict[str, np.ndarray], cust_ids: pa.Array, day0: np.datetime64, end_s: int
) -> pd.DataFrame:
    """Events in time order (ties: session, then step) with session ids ``S...`` numbered by start."""
    first, size = ev["first"], ev["size"]
    n_sessions = first.size
    by_start = np.lexsort((s["cust"], ev["ts"][first]))  # sessions in order of their first event
    sess_rank = np.empty(n_sessions, dtype=np.int64)
    sess_rank[by_start] = np.arange(n_sessions)
    # Lay events out session by session in that order, then sort by time: nearly sorted, so fast.
    sizes = size[by_start]
    grouped = np.repeat(first[by_start] - (np.cumsum(sizes) - sizes), sizes) + np.arange(ev["ts"].size)
    order = grouped[np.argsort(ev["ts"][grouped], kind="stable")]
    del grouped
    order = order[ev["ts"][order] < end_s]  # the export stops at the end of the period
    sess = ev["sess"][order]
    product = ev["product"][order]
    width = max(8, len(str(n_sessions)))
    return frame(
        {
            "customer_id": take(cust_ids, s["cust"][sess]),
            "session_id": take(format_ids("S", np.arange(n_sessions) + 1, width), sess_rank[sess]),
            "timestamp": timestamps(ev["ts"][order], day0),
            "event_type": take(EVENT_TYPES, STAGE_TYPE[ev["stage"][order]]),
            "channel": take(CHANNELS, s["channel"][sess]),
            "device": take(DEVICES, s["device"][sess]),
            "product_id": take(_product_ids(), np.maximum(product, 0), mask=product < 0),
        }
    )


def truth_frame(
    *,
    cust_ids: pa.Array,
    rank: np.ndarray,
    n_buyers: int,
    n_prospects: int,
    day0: np.datetime64,
    n_days: int,
    lam: np.ndarray,
    p_drop: np.ndarray,
    tau: np.ndarray,
    mean_spend: np.ndarray,
    vip: np.ndarray,
    browse: np.ndarray,
    decay_days: np.ndarray,
    pref_channel: np.ndarray,
    pur_t: np.ndarray,
    order_cust: np.ndarray,
) -> pd.DataFrame:
    """One row per customer id with the latent state behind the data (for tests, never for models)."""
    n_total = rank.size
    n_other = n_total - n_buyers

    def pad(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x.astype(np.float64), np.full(n_other, np.nan)])

    first = np.full(n_buyers, np.iinfo(np.int64).max)
    np.minimum.at(first, order_cust, pur_t)
    last = np.zeros(n_buyers, dtype=np.int64)
    np.maximum.at(last, order_cust, pur_t)
    n_orders = np.bincount(order_cust, minlength=n_buyers)
    dropped = tau < n_days
    kind = np.repeat([0, 1, 2], [n_buyers, n_prospects, n_other - n_prospects])
    not_buyer = np.arange(n_total) >= n_buyers
    dropout_s = np.round(np.where(dropped, tau, 0.0) * DAY).astype(np.int64)
    return frame(
        {
            "customer_id": cust_ids,
            "kind": take(("buyer", "prospect", "inactive"), kind),
            "first_purchase": timestamps(
                np.concatenate([first, np.zeros(n_other, np.int64)]), day0, not_buyer
            ),
            "last_purchase": timestamps(np.concatenate([last, np.zeros(n_other, np.int64)]), day0, not_buyer),
            "n_orders": np.concatenate([n_orders, np.zeros(n_other, np.int64)]),
            "purchase_rate": pad(lam),
            "dropout_prob": pad(p_drop),
            "dropout_date": timestamps(
                np.concatenate([dropout_s, np.zeros(n_other, np.int64)]),
                day0,
                np.concatenate([~dropped, np.ones(n_other, dtype=bool)]),
            ),
            "mean_spend": pad(mean_spend),
            "is_vip": np.concatenate([vip, np.zeros(n_other, dtype=bool)]),
            "browse_rate": pad(browse),
            "decay_days": pad(decay_days),
            "preferred_channel": take(
                CHANNELS, np.concatenate([pref_channel, np.zeros(n_other, np.int64)]), mask=not_buyer
            ),
        },
        order=np.argsort(rank),
    )
