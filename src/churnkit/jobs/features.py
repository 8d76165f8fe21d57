"""The `features` job: the feature table of the customer base at an as-of date, with labels if asked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from churnkit.config import Config
from churnkit.data.io import write_table
from churnkit.data.readiness import check_as_of
from churnkit.data.shop import load_shop
from churnkit.features import build_labels, shop_features, to_frame


def feature_table(data: Any, cfg: Config, as_of: dt.date) -> pd.DataFrame:
    """The features of the base at ``as_of`` with the configured windows and session gap (rows unordered)."""
    return shop_features(
        data,
        as_of=as_of,
        windows=tuple(cfg.features.windows),
        session_gap_minutes=cfg.features.session_gap_minutes,
    )


@dataclass
class Features:
    """The feature table written, its as-of date and where it is."""

    data: Any
    table: pd.DataFrame
    as_of: dt.date
    path: Path

    def lines(self) -> list[str]:
        n_features = self.table.shape[1] - 2  # customer_id and as_of are keys
        return [f"{len(self.table):,} customers × {n_features} features at {self.as_of} → {self.path}"]


def features(
    cfg: Config,
    *,
    out: str | Path,
    labels: bool = False,
    rejected_dir: str | Path | None = None,
    data: Any = None,
) -> Features:
    """Write the feature table at the configured as-of date; with ``labels``, add the labels for the configured
    horizon (churned, future_revenue, future_purchases; missing where the window is not observed)."""
    out = Path(out)
    if data is None:
        data = load_shop(cfg, rejected_dir=out.parent if rejected_dir is None else rejected_dir)
    as_of = check_as_of(data, cfg.as_of, horizon_days=cfg.horizon_days)
    table = feature_table(data, cfg, as_of)
    if labels:
        lab = to_frame(build_labels(data.ibis("transactions"), as_of=as_of, horizon_days=cfg.horizon_days))
        table = table.merge(lab.drop(columns=["as_of"], errors="ignore"), on="customer_id", how="left")
    return Features(data, table, as_of, write_table(table, out))
