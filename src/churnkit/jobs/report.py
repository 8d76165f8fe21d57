"""The HTML report of one training run, read back from MLflow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from churnkit.config import Config
from churnkit.tracking.runs import run_record, tracking_uri

DEFAULT_BUDGET = 1000.0
"""Campaign budget the report's budget pick assumes when none is given (the demo's)."""
DEFAULT_COST_PER_CONTACT = 2.0
"""Cost of one contact the report's budget pick assumes when none is given (the demo's)."""

_OPTIONAL_TABLES = {"scores": "scores.parquet", "predictions": "backtest_predictions.csv"}
"""Run artifacts the report uses when the run has them (older runs have no scores.parquet).

The scores are Parquet, not CSV: on a million customers writing CSV took about 50 times longer here."""


def _optional_table(cfg: Config, run_id: str, name: str, dst: Path) -> pd.DataFrame | None:
    import mlflow

    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=name, dst_path=str(dst), tracking_uri=tracking_uri(cfg)
        )
    except Exception:  # the artifact is absent from this run: MLflow raises its own exception types
        return None
    if name.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"customer_id": "string"})


def _save_rate(params: dict[str, str], cfg: Config) -> float | None:
    try:
        return float(params["targeting.save_rate"])
    except (KeyError, ValueError):
        return float(cfg.targeting.save_rate) if getattr(cfg, "targeting", None) else None


def write_run_report(
    cfg: Config,
    run_id: str,
    out: str | Path,
    *,
    budget: float = DEFAULT_BUDGET,
    cost_per_contact: float = DEFAULT_COST_PER_CONTACT,
) -> Path:
    """One self-contained HTML file: key numbers, campaign, metrics vs baselines, plots, segments, data, config.

    The campaign section reads the run's ``scores.parquet`` (the customer base at the as-of date) and picks
    customers for ``budget`` at ``cost_per_contact``; a run without it gets a report without the section.
    """
    from churnkit.report.html import render_report

    record = run_record(cfg, run_id)
    try:
        tables = {
            key: _optional_table(cfg, run_id, name, record["tmp"]) for key, name in _OPTIONAL_TABLES.items()
        }
        summary = {"run_id": run_id, **record["summary"]}
        notes = summary.pop("notes", [])
        return render_report(
            out,
            title=f"churnkit run {run_id[:8]} — churn, value and campaign report",
            metrics=record["metrics"],
            images=record["images"],
            profile=record["profile"],
            scores=tables["scores"],
            predictions=tables["predictions"],
            budget=budget,
            cost_per_contact=cost_per_contact,
            save_rate=_save_rate(record["params"], cfg),
            summary=summary,
            config=record["params"],
            notes=notes,
        )
    finally:
        shutil.rmtree(record["tmp"], ignore_errors=True)


def report(cfg: Config, run_id: str, out: str | Path, *, experiment: str | None = None) -> Path:
    """`churnkit report`: the run report of ``run_id`` (``latest``: the most recent run of ``experiment``)."""
    if run_id == "latest":
        from churnkit.tracking.runs import latest_run_id

        run_id = latest_run_id(cfg, experiment=experiment)
    return write_run_report(cfg, run_id, out)
