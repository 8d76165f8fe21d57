"""The `kpis` job: retention KPIs per period and the cohort retention matrix, written or returned."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from churnkit.config import Config
from churnkit.data.io import write_table
from churnkit.data.shop import load_shop
from churnkit.kpis import Period, cohort_retention, plot_cohort_heatmap, retention_kpis
from churnkit.outputs import format_scores


@dataclass
class KpiFiles:
    """Where the KPI outputs go: the KPI table, and optionally the cohort matrix and its heatmap."""

    table: Path
    cohorts: Path | None = None
    heatmap: Path | None = None

    @classmethod
    def beside(cls, out: str | Path) -> KpiFiles:
        """``out`` plus ``<stem>_cohorts.csv`` and ``<stem>_cohorts.png`` beside it (what `churnkit kpis` writes)."""
        out = Path(out)
        stem = out.name.split(".")[0]
        return cls(out, out.with_name(f"{stem}_cohorts.csv"), out.with_name(f"{stem}_cohorts.png"))


@dataclass
class Kpis:
    """The KPI table, the cohort matrix and the files written ({label: path}, empty when none)."""

    data: Any
    table: pd.DataFrame
    cohorts: pd.DataFrame
    paths: dict[str, Path] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Where each file is, one line each."""
        return [f"{label}: {path}" for label, path in self.paths.items()]


def kpis(
    cfg: Config,
    *,
    period: Period = "month",
    files: KpiFiles | None = None,
    rejected_dir: str | Path | None = None,
    data: Any = None,
) -> Kpis:
    """KPIs and cohorts of the configured transactions (or of ``data``); written to ``files`` when given."""
    if data is None:
        data = load_shop(cfg, rejected_dir=rejected_dir)
    tx = data.frame("transactions")
    result = Kpis(data, retention_kpis(tx, period=period), cohort_retention(tx, period=period))
    if files is not None:
        result.paths["KPIs"] = write_table(format_scores(result.table), files.table)
        if files.cohorts is not None:
            result.paths["cohort retention"] = write_table(
                format_scores(result.cohorts.reset_index()), files.cohorts
            )
        if files.heatmap is not None:
            result.paths["heatmap"] = plot_cohort_heatmap(result.cohorts, files.heatmap)
    return result
