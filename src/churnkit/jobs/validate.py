"""The `validate` job: load the inputs (bad rows set aside) and say what the history supports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnkit.config import Config
from churnkit.data.readiness import Readiness, check_as_of, readiness
from churnkit.data.shop import load_shop


@dataclass
class Validation:
    """The loaded shop and its data-readiness report."""

    data: Any
    readiness: Readiness

    def lines(self) -> list[str]:
        """The load report (rows loaded, duplicates, rows set aside), then the readiness report."""
        return [*self.data.report.lines(), *self.readiness.lines()]


def validate(cfg: Config, *, rejected_dir: str | Path = "rejected", data: Any = None) -> Validation:
    """Load the configured inputs (or check ``data``, already loaded) at the configured as-of date and horizon.

    Raises `DataTooShortError` when the as-of date is outside the data.
    """
    if data is None:
        data = load_shop(cfg, rejected_dir=rejected_dir)
    as_of = check_as_of(data, cfg.as_of, horizon_days=cfg.horizon_days)
    report = readiness(
        data, as_of=as_of, horizon_days=cfg.horizon_days, min_history_days=cfg.training.min_history_days
    )
    return Validation(data, report)
