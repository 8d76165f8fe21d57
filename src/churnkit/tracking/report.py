"""The HTML report of one training run, read back from MLflow."""

from __future__ import annotations

import shutil
from pathlib import Path

from churnkit.config import Config
from churnkit.tracking.runs import run_record


def write_run_report(cfg: Config, run_id: str, out: str | Path) -> Path:
    """One self-contained HTML file: metrics vs baselines, plots, segment profiles, data summary, config."""
    from churnkit.report.html import render_report

    record = run_record(cfg, run_id)
    try:
        summary = {"run_id": run_id, **record["summary"]}
        notes = summary.pop("notes", [])
        return render_report(
            out,
            title=f"churnkit run {run_id[:8]} — churn and CLV backtest",
            metrics=record["metrics"],
            images=record["images"],
            tables={"Segment profiles": record["profile"]},
            summary=summary,
            config=record["params"],
            notes=notes,
        )
    finally:
        shutil.rmtree(record["tmp"], ignore_errors=True)
