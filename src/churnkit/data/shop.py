"""A loaded shop, whatever engine holds it: the `Shop` protocol, `load_shop(cfg)` and `summary`.

`load_shop(cfg)` is the one way every command and the demo load a shop, on the engine the config names:
`churnkit.data.load.ShopData` (DuckDB, the default) or `churnkit.engines.spark.SparkShopData`. Both apply the
rules of `churnkit.data.rules` and report with `churnkit.data.report.LoadReport`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from churnkit.config import Config
from churnkit.data.report import LoadReport
from churnkit.errors import InputError

if TYPE_CHECKING:
    import ibis
    import pandas as pd


@runtime_checkable
class Shop(Protocol):
    """The canonical tables of one shop (``transactions`` always; ``events`` and ``customers`` when given)."""

    report: LoadReport
    names: tuple[str, ...]

    def has(self, name: str) -> bool: ...

    def frame(self, name: str) -> pd.DataFrame:
        """A table as a pandas DataFrame (collected)."""
        ...

    def ibis(self, name: str) -> ibis.Table | None:
        """A table as an Ibis expression on the shop's engine (None if the table was not given)."""
        ...

    def date_range(self) -> tuple[dt.date, dt.date]:
        """First and last transaction dates."""
        ...


def load_shop(cfg: Config, *, rejected_dir: str | Path | None = None, read_once: bool = False) -> Shop:
    """Load the configured inputs with `cfg.engine` (duckdb or spark); rows set aside go to `rejected_dir`.

    ``read_once``: the job builds features at one date only, so DuckDB may leave Parquet events in their file.
    """
    tx = cfg.inputs.transactions.path
    if tx is None and cfg.inputs.transactions.from_events is None:  # else derived from the events file
        raise no_transactions_error()
    engine: dict[str, Any] = {}
    if cfg.engine == "spark":
        from churnkit.engines.spark import load_shop_spark as load
    else:
        from churnkit.data.load import load_shop as load

        engine = {"duckdb_config": cfg.duckdb, "events_in_place": read_once}  # memory limit, spill folder
    return load(  # type: ignore[no-any-return]
        tx,
        cfg.inputs.events.path,
        cfg.inputs.customers.path,
        inputs=cfg.inputs,
        rejected_dir=rejected_dir,
        **engine,
    )


def no_transactions_error() -> InputError:
    return InputError(
        "no transactions file given: use --transactions or inputs.transactions.path in --config"
    )


def summary(data: Shop, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """Plain facts about the loaded data (rows, dates, buyers), used by `validate` and the run summary.

    Written in Ibis, so it runs on whichever engine holds the tables (DuckDB or Spark).
    """
    from churnkit.data.fetch import rows, scalar  # Ibis: only when asked

    tx = data.ibis("transactions")
    assert tx is not None
    row = rows(
        tx.aggregate(
            n=tx.count(), lo=tx.timestamp.min(), hi=tx.timestamp.max(), customers=tx.customer_id.nunique()
        )
    )[0]
    buys = tx.filter(~tx.is_return)
    per = buys.group_by("customer_id").aggregate(n=buys.order_id.nunique())
    buyers = rows(per.aggregate(one=(per.n == 1).sum(), repeat=(per.n > 1).sum()))[0]
    out: dict[str, Any] = {
        "transactions": int(row["n"]),
        "first_timestamp": str(row["lo"]),
        "last_timestamp": str(row["hi"]),
        "customers": int(row["customers"]),
        "one_time_buyers": int(buyers["one"] or 0),
        "repeat_buyers": int(buyers["repeat"] or 0),
        "rows_rejected": data.report.rows_rejected,
    }
    ev = data.ibis("events")
    if ev is not None:
        counts = rows(ev.aggregate(n=ev.count(), visitors=ev.customer_id.nunique()))[0]
        known = (
            ev.select("customer_id").distinct().semi_join(tx.select("customer_id").distinct(), "customer_id")
        )
        with_events = int(scalar(known.count()))
        out["events"] = int(counts["n"])
        out["buyers_with_events"] = with_events
        out["browsing_only_prospects"] = int(counts["visitors"]) - with_events
    customers = data.ibis("customers")
    if customers is not None:
        out["customer_rows"] = int(scalar(customers.count()))
    return out
