"""Retention KPIs a CRM marketer knows: retention and churn rate, repeat rate, AOV, simple CLV, cohorts.

Every KPI is computed per calendar period (ISO week Monday–Sunday, calendar month or calendar quarter)
from a canonical transactions table (``customer_id, timestamp, amount`` and optionally ``order_id`` and
``is_return``). A purchase is a non-return row; an order is a distinct ``order_id`` of one customer among
purchases (rows of one order share it; rows without one are an order each) and belongs to the period of its
first row. Revenue is net: a return row subtracts its absolute amount in the period it happened.

Active base. A customer is *active at the end of period p* when they made a purchase in the ``lookback``
periods ending with p (default 1: purchased in p). Then, for period p:

- S = customers_start = active at the end of p - 1;
- E = customers_end = active at the end of p;
- N = joined the active base in p = new_customers (first purchase ever) + reactivated_customers
  (bought in p after more than ``lookback`` periods without buying);
- retained_customers = E - N = customers in both S and E; lost_customers = S - retained;
- retention_rate = (E - N) / S, churn_rate = 1 - retention_rate (NaN when S = 0).

With this N the textbook formula equals the share of S still active at the end of p, so it stays in [0, 1].
See the README section "Retention KPIs" for every formula.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from churnkit.errors import ConfigError, InputError

Period = Literal["week", "month", "quarter"]
PERIODS: tuple[str, ...] = ("week", "month", "quarter")

KPI_COLUMNS: tuple[str, ...] = (
    "period",
    "customers_start",
    "new_customers",
    "reactivated_customers",
    "retained_customers",
    "lost_customers",
    "customers_end",
    "customers",
    "orders",
    "revenue",
    "retention_rate",
    "churn_rate",
    "repeat_customer_rate",
    "purchase_frequency",
    "average_order_value",
    "expected_lifespan_periods",
    "simple_clv",
)
"""Columns of :func:`retention_kpis`, in order."""

_REQUIRED = ("customer_id", "timestamp", "amount")
_MONDAY_1970 = 4  # 1970-01-05, the first Monday after the epoch, as a day number


def _period_codes(timestamps: pd.Series, period: str) -> np.ndarray:
    """Consecutive integer codes of the period containing each timestamp (next period = code + 1)."""
    values = timestamps.to_numpy()
    if period == "week":
        return (values.astype("datetime64[D]").astype(np.int64) - _MONDAY_1970) // 7
    months = values.astype("datetime64[M]").astype(np.int64)
    return months if period == "month" else months // 3


def _period_starts(codes: np.ndarray, period: str) -> pd.DatetimeIndex:
    """First day (00:00) of each period code."""
    codes = np.asarray(codes, dtype=np.int64)
    if period == "week":
        starts = (codes * 7 + _MONDAY_1970).astype("datetime64[D]")
    elif period == "month":
        starts = codes.astype("datetime64[M]")
    else:
        starts = (codes * 3).astype("datetime64[M]")
    return pd.DatetimeIndex(starts.astype("datetime64[us]"))


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise ConfigError(f"period must be one of {', '.join(PERIODS)}; got {period!r}")


def _prepare(transactions: pd.DataFrame, period: str) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """Validate and reduce transactions to orders and returns with period codes.

    Returns ``(orders, returns, first_code, last_code)``: orders has customer_id, code, amount (one row per
    order); returns has code, amount (already negative); the codes span every row, purchases and returns.
    """
    _check_period(period)
    for column in _REQUIRED:
        if column not in transactions.columns:
            raise InputError(f"transactions: required column {column} missing", column=column)
    if transactions.empty:
        raise InputError("transactions: the table is empty")
    timestamps = transactions["timestamp"]
    if not pd.api.types.is_datetime64_any_dtype(timestamps):
        raise InputError(
            f"transactions: column timestamp must hold timestamps, got {timestamps.dtype}", column="timestamp"
        )
    if isinstance(timestamps.dtype, pd.DatetimeTZDtype):
        timestamps = timestamps.dt.tz_convert("UTC").dt.tz_localize(None)
    for column, values in (("customer_id", transactions["customer_id"]), ("timestamp", timestamps)):
        missing = int(values.isna().sum())
        if missing:
            raise InputError(
                f"transactions: {missing} rows have no {column}; load the file through churnkit.data "
                "to set bad rows aside",
                column=column,
            )
    amount = pd.to_numeric(transactions["amount"], errors="coerce").astype("float64")
    if amount.isna().any():
        raise InputError(
            f"transactions: {int(amount.isna().sum())} rows have a missing or non-numeric amount",
            column="amount",
        )
    if "is_return" in transactions.columns:
        is_return = transactions["is_return"].fillna(False).astype(bool).to_numpy()
    else:
        is_return = (amount < 0).to_numpy()

    codes = _period_codes(timestamps, period)
    buy = ~is_return
    if "order_id" in transactions.columns:
        order_key, _ = pd.factorize(transactions["order_id"].to_numpy()[buy])
    else:
        order_key = np.full(int(buy.sum()), -1, dtype=np.int64)
    no_id = order_key < 0  # rows without an order id are one order each
    order_key = order_key.astype(np.int64)
    order_key[no_id] = order_key.max(initial=-1) + 1 + np.arange(int(no_id.sum()))

    lines = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"].to_numpy()[buy],
            "order_key": order_key,
            "code": codes[buy],
            "amount": amount.to_numpy()[buy],
        }
    )
    orders = (
        lines.groupby(["customer_id", "order_key"], sort=False)
        .agg(code=("code", "min"), amount=("amount", "sum"))
        .reset_index()
        .drop(columns="order_key")
    )
    returns = pd.DataFrame({"code": codes[is_return], "amount": -np.abs(amount.to_numpy()[is_return])})
    return orders, returns, int(codes.min()), int(codes.max())


def _customer_periods(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, period with a purchase), sorted, with the order count and the neighbours."""
    cp = orders.groupby(["customer_id", "code"], sort=True).size().rename("orders").reset_index()
    by_customer = cp.groupby("customer_id", sort=False)
    cp["previous"] = by_customer["code"].shift(1)
    cp["next"] = by_customer["code"].shift(-1)
    cp["orders_to_date"] = by_customer["orders"].cumsum()
    return cp


def retention_kpis(
    transactions: pd.DataFrame, *, period: Period = "month", lookback: int = 1
) -> pd.DataFrame:
    """Retention KPIs per period, one row for every period from the first to the last transaction.

    ``lookback`` is the number of periods (ending with the current one) within which a purchase keeps a
    customer active. Rates with a zero denominator are NaN; when churn_rate is 0 the expected lifespan is
    inf and simple_clv is NaN (unbounded, so not an estimate). Columns: :data:`KPI_COLUMNS`.
    """
    if isinstance(lookback, bool) or not isinstance(lookback, int | np.integer) or lookback < 1:
        raise ConfigError(f"lookback must be a whole number of periods >= 1; got {lookback!r}")
    orders, returns, first, last = _prepare(transactions, period)
    n = last - first + 1
    cp = _customer_periods(orders)
    pos = (cp["code"] - first).to_numpy()

    def per_period(index: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(index, weights=weights, minlength=n)[:n]

    gap = (cp["code"] - cp["previous"]).to_numpy()
    is_new = cp["previous"].isna().to_numpy()
    is_reactivated = ~is_new & (gap > lookback)
    # Active at the end of periods code .. code + lookback - 1, cut at the next purchase period.
    until = np.minimum(pos + lookback, (cp["next"] - first).fillna(np.inf).to_numpy()).astype(np.int64)
    delta = per_period(pos) - np.bincount(np.minimum(until, n), minlength=n + 1)[:n]
    customers_end = np.cumsum(delta).astype(np.int64)
    customers_start = np.concatenate([[0], customers_end[:-1]])

    customers = per_period(pos).astype(np.int64)
    new = per_period(pos[is_new]).astype(np.int64)
    reactivated = per_period(pos[is_reactivated]).astype(np.int64)
    repeat = per_period(pos[(cp["orders_to_date"] >= 2).to_numpy()])
    retained = customers_end - new - reactivated
    order_pos = (orders["code"] - first).to_numpy()
    n_orders = per_period(order_pos).astype(np.int64)
    revenue = per_period(order_pos, orders["amount"].to_numpy()) + per_period(
        (returns["code"] - first).to_numpy(), returns["amount"].to_numpy()
    )

    with np.errstate(divide="ignore", invalid="ignore"):
        retention = np.where(customers_start > 0, retained / np.maximum(customers_start, 1), np.nan)
        churn = 1.0 - retention
        lifespan = np.where(churn > 0, 1.0 / churn, np.where(churn == 0, np.inf, np.nan))
        frequency = np.where(customers > 0, n_orders / np.maximum(customers, 1), np.nan)
        aov = np.where(n_orders > 0, revenue / np.maximum(n_orders, 1), np.nan)
        clv = np.where(np.isfinite(lifespan), aov * frequency * lifespan, np.nan)
        repeat_rate = np.where(customers > 0, repeat / np.maximum(customers, 1), np.nan)

    result = pd.DataFrame(
        {
            "period": _period_starts(np.arange(first, last + 1), period),
            "customers_start": customers_start,
            "new_customers": new,
            "reactivated_customers": reactivated,
            "retained_customers": retained,
            "lost_customers": customers_start - retained,
            "customers_end": customers_end,
            "customers": customers,
            "orders": n_orders,
            "revenue": revenue,
            "retention_rate": retention,
            "churn_rate": churn,
            "repeat_customer_rate": repeat_rate,
            "purchase_frequency": frequency,
            "average_order_value": aov,
            "expected_lifespan_periods": lifespan,
            "simple_clv": clv,
        }
    )
    return result.loc[:, list(KPI_COLUMNS)]


def cohort_retention(
    transactions: pd.DataFrame, *, period: Period = "month", normalize: bool = True
) -> pd.DataFrame:
    """Cohort matrix: rows are first-purchase periods, columns are periods since (0, 1, 2, ...).

    A cell is the share of the cohort that purchased in that period (``normalize=False``: the number of
    customers, nullable Int64; column 0 is then the cohort size). Cells after the last period in the data
    are missing (not observed), not 0.
    """
    orders, _, _, last = _prepare(transactions, period)
    if orders.empty:
        raise InputError("transactions: no purchases, so there are no cohorts")
    cp = orders[["customer_id", "code"]].drop_duplicates()
    cohort = cp.groupby("customer_id")["code"].transform("min").to_numpy()
    since = cp["code"].to_numpy() - cohort
    cohorts = np.unique(cohort)
    width = last - int(cohorts.min()) + 1
    counts = np.zeros((len(cohorts), width), dtype=np.int64)
    np.add.at(counts, (np.searchsorted(cohorts, cohort), since), 1)
    observed = cohorts[:, None] + np.arange(width)[None, :] <= last

    index = _period_starts(cohorts, period).rename("cohort")
    columns = pd.RangeIndex(width, name="periods_since")
    if normalize:
        shares = np.where(observed, counts / counts[:, [0]], np.nan)
        return pd.DataFrame(shares, index=index, columns=columns)
    matrix = pd.DataFrame(counts, index=index, columns=columns).astype("Int64")
    return matrix.where(observed, pd.NA)


_MAX_LABELLED = 60
"""Cohorts and periods up to which every cell of the heatmap carries its value."""


def _cohort_label(value: object, monthly: bool) -> str:
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m}" if monthly else f"{value:%Y-%m-%d}"
    return str(value)


def cohort_heatmap_figure(matrix: pd.DataFrame, *, title: str | None = None):  # -> matplotlib Figure
    """The cohort matrix (from :func:`cohort_retention`) as a heatmap figure, every cell labelled.

    Shares are written in percent in each cell and coloured over 0 to the largest value in the matrix
    (100% with column 0, the cohort itself), on a square-root scale so the small later shares still
    differ in colour; counts likewise over 0 to the largest count. Matrices with more than 60 cohorts or
    periods are drawn without cell labels (they would not fit).
    """
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure  # no pyplot: no global state
    from matplotlib.ticker import FixedLocator, PercentFormatter

    if matrix.empty:
        raise InputError("cohort matrix is empty: nothing to plot")
    values = matrix.to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    counts = all(pd.api.types.is_integer_dtype(dtype) for dtype in matrix.dtypes)
    is_share = not counts and bool(finite.size) and float(finite.min()) >= 0 and float(finite.max()) <= 1
    rows, cols = values.shape
    labelled = rows <= _MAX_LABELLED and cols <= _MAX_LABELLED
    width = 3.2 + (0.46 if labelled else 0.2) * cols
    height = 1.8 + (0.3 if labelled else 0.14) * rows
    fig = Figure(figsize=(min(width, 30), min(height, 24)), layout="constrained")
    ax = fig.subplots()
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax)
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto", norm=norm)
    # Below the cells, on the left: seen first even when a wide heatmap is shown in a scrolling box.
    colorbar = fig.colorbar(
        image, ax=ax, location="bottom", shrink=min(1.0, 9 / width), aspect=40, anchor=(0.0, 1.0), pad=0.02
    )
    if is_share:
        ticks = [t for t in (0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0) if t <= vmax]
        colorbar.ax.xaxis.set_major_locator(FixedLocator(ticks))
        colorbar.ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    colorbar.set_label("share of the cohort buying in the period" if is_share else "customers buying")
    index = matrix.index
    monthly = isinstance(index, pd.DatetimeIndex) and bool((index.day == 1).all())
    labels = [_cohort_label(c, monthly) for c in index]
    ax.set_yticks(range(rows), labels=labels if rows <= 40 or labelled else None)
    ax.set_xticks(range(cols), labels=[str(c) for c in matrix.columns] if cols <= 40 or labelled else None)
    ax.tick_params(labelsize=8, length=0)
    ax.grid(False)
    ax.set_xlabel("periods since first purchase (0 = the first purchase period)")
    ax.set_ylabel("cohort (first purchase period)")
    ax.set_title(title or "Cohort retention: share of each cohort buying again", loc="left")
    if labelled:
        size = 7.5 if max(rows, cols) <= 24 else 6.5
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                text = f"{100 * value:.0f}%" if is_share else f"{value:,.0f}"
                r, g, b, _ = image.cmap(norm(value))
                dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5
                ax.text(
                    j, i, text, ha="center", va="center", fontsize=size, color="white" if dark else "black"
                )
    return fig


def plot_cohort_heatmap(matrix: pd.DataFrame, path: str | Path, *, title: str | None = None) -> Path:
    """Draw a cohort matrix (from :func:`cohort_retention`) as a heatmap PNG at ``path`` (atomically); return it.

    See :func:`cohort_heatmap_figure` for what is drawn.
    """
    from churnkit.data.io import atomic_path

    fig = cohort_heatmap_figure(matrix, title=title)
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100, facecolor="white")
    return out
