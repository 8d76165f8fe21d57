"""The `features` job: the feature table of the customer base at an as-of date, with labels if asked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnkit.config import Config
from churnkit.data.io import write_table
from churnkit.data.load import ShopData
from churnkit.data.readiness import check_as_of
from churnkit.data.shop import load_shop
from churnkit.features import build_labels, shop_feature_table, to_frame

if TYPE_CHECKING:
    import pandas as pd


def feature_table(data: Any, cfg: Config, as_of: dt.date) -> pd.DataFrame:
    """The features of the base at ``as_of`` with the configured windows and session gap (rows unordered)."""
    return to_frame(_feature_expr(data, cfg, as_of))


def _feature_expr(data: Any, cfg: Config, as_of: dt.date) -> Any:
    return shop_feature_table(
        data,
        as_of=as_of,
        windows=tuple(cfg.features.windows),
        session_gap_minutes=cfg.features.session_gap_minutes,
    )


@dataclass
class Features:
    """How many customers and features were written, at which as-of date, and where."""

    data: Any
    rows: int
    columns: list[str]
    as_of: dt.date
    path: Path

    def lines(self) -> list[str]:
        n_features = len(self.columns) - 2  # customer_id and as_of are keys
        return [f"{self.rows:,} customers × {n_features} features at {self.as_of} → {self.path}"]


def features(
    cfg: Config,
    *,
    out: str | Path,
    labels: bool = False,
    rejected_dir: str | Path | None = None,
    data: Any = None,
) -> Features:
    """Write the feature table at the configured as-of date; with ``labels``, add the labels for the configured
    horizon (churned, future_revenue, future_purchases; missing where the window is not observed).

    On DuckDB the table goes from the engine to the file (sorted by customer_id); on Spark through pandas.
    """
    out = Path(out)
    if data is None:
        data = load_shop(
            cfg, rejected_dir=out.parent if rejected_dir is None else rejected_dir, read_once=True
        )
    as_of = check_as_of(data, cfg.as_of, horizon_days=cfg.horizon_days)
    table = _feature_expr(data, cfg, as_of)
    if labels:
        lab = build_labels(data.ibis("transactions"), as_of=as_of, horizon_days=cfg.horizon_days)
        lab = lab.drop("as_of") if "as_of" in lab.columns else lab
        table = table.left_join(lab, "customer_id").select(
            *table.columns, *(c for c in lab.columns if c != "customer_id")
        )
    if isinstance(data, ShopData):
        rows = data.write(table, out, order_by="customer_id")
    else:
        frame = to_frame(table).sort_values("customer_id", kind="stable")
        rows = len(frame)
        write_table(frame, out)
    return Features(data, rows, list(table.columns), as_of, out)
