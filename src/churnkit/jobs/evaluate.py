"""The `evaluate` and `evaluate-campaign` jobs: old scores against what happened after their as-of date.

The logic lives in `churnkit.tracking.evaluation` (realized metrics, the backtest beside them, the HTML page,
the evaluation run) and `churnkit.monitoring.campaign` (target vs control); these jobs read the files and
load the shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnkit.config import Config
from churnkit.data.io import read_table
from churnkit.data.shop import load_shop


@dataclass
class Evaluated:
    """The evaluation, its HTML page (if written) and its MLflow run (if a store was given)."""

    evaluation: Any  # churnkit.monitoring.realized.Evaluation
    out: Path | None
    run_id: str | None

    def lines(self) -> list[str]:
        lines = list(self.evaluation.lines())
        if self.out is not None:
            lines.append(f"report: {self.out}")
        if self.run_id is not None:
            lines.append(f"evaluation run {self.run_id}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `evaluate --json`."""
        return {**self.evaluation.to_dict(), "run_id": self.run_id}


def evaluate(
    cfg: Config,
    *,
    scores: str | Path,
    model: str | None = None,
    horizon_days: int | None = None,
    out: str | Path | None = None,
    contacted: str | Path | None = None,
    cost_per_contact: float | None = None,
    rejected_dir: str | Path = "rejected",
) -> Evaluated:
    """Realized metrics of the ``scores`` file on the configured shop (see `evaluate_file`)."""
    from churnkit.tracking.evaluation import evaluate_file

    table = read_table(scores)
    data = load_shop(cfg, rejected_dir=rejected_dir)
    evaluation, run_id = evaluate_file(
        cfg,
        data,
        table,
        scores_path=scores,
        model=model,
        horizon_days=horizon_days,
        out=out,
        contacted=contacted,
        cost_per_contact=cost_per_contact,
    )
    return Evaluated(evaluation, None if out is None else Path(out), run_id)


def evaluate_campaign(
    cfg: Config,
    *,
    scores: str | Path,
    contacted: str | Path | None = None,
    cost_per_contact: float | None = None,
    rejected_dir: str | Path = "rejected",
) -> Any:  # churnkit.monitoring.campaign.CampaignResult
    """Target vs control on the configured shop over the configured horizon after the scores' as-of date."""
    from churnkit.monitoring.campaign import measure_campaign

    table = read_table(scores)
    data = load_shop(cfg, rejected_dir=rejected_dir)
    return measure_campaign(
        table, data, horizon_days=cfg.horizon_days, contacted=contacted, cost_per_contact=cost_per_contact
    )
