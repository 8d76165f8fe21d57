"""The `train` job: backtest against baselines, fit the final model, draw the plots, log one MLflow run,
register the model and export a local copy.

Library warnings and log lines (MLflow, lifetimes, ...) go to the run's ``logs/train.log`` artifact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from churnkit.config import Config
from churnkit.data.readiness import check_as_of
from churnkit.data.shop import load_shop
from churnkit.progress import job_log

LOG_STEP = "writing plots and logging the MLflow run"
"""The progress line before the plots and the MLflow run."""


def _quiet(_msg: str) -> None:
    pass


@dataclass
class Training:
    """A finished training: the pipeline's result, the MLflow run and the shop it learned from."""

    data: Any
    result: Any  # churnkit.pipeline.TrainResult
    run: Any  # churnkit.tracking.runs.RunInfo
    horizon_days: int

    def detail_lines(self) -> list[str]:
        """Notes, the backtest, the champions and the metric table beside both baselines."""
        from churnkit.tracking.runs import MAIN_METRICS

        m = self.run.metrics
        nan = float("nan")
        champions = self.result.backtest.champions
        lines = [f"note: {note}" for note in self.result.notes]
        lines.append(f"{self.result.summary['backtest']} (H = {self.horizon_days} days)")
        lines.append(f"champions: churn {champions['churn']}, CLV {champions['clv']}")
        lines += [
            f"  {name:<18} {m.get(name, nan):8.4f}   recency {m.get('baseline_recency_' + name, nan):8.4f}"
            f"   btyd {m.get('baseline_btyd_' + name, nan):8.4f}"
            for name in MAIN_METRICS
        ]
        return lines

    def result_line(self) -> str:
        """Where the run and the model are."""
        r = self.run
        return (
            f"run {r.run_id}; model {r.model_uri} (version {r.registered_version}); "
            f"{r.registry_note}; local copy {r.local_model}"
        )

    def facts(self) -> list[str]:
        """The short story of the run (the demo's): backtest against the baselines, notes, where the run is."""
        m = self.run.metrics
        return [
            f"backtest at {self.result.summary['test_as_of']}: churn AUC {m['churn_auc']:.3f} "
            f"(recency {m['baseline_recency_churn_auc']:.3f}, BTYD {m['baseline_btyd_churn_auc']:.3f}), "
            f"CLV normalised Gini {m['clv_gini_norm']:.3f} (BTYD {m['baseline_btyd_clv_gini_norm']:.3f})",
            *(f"note: {n}" for n in self.result.notes),
            f"MLflow run {self.run.run_id}, model {self.run.model_uri}",
        ]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `train --json`."""
        r, backtest = self.run, self.result.backtest
        return {
            "run_id": r.run_id,
            "model_uri": r.model_uri,
            "registered_version": r.registered_version,
            "champion": r.champion_moved,
            "aliases": r.aliases,
            "champions": backtest.champions,
            "evidence": backtest.evidence,
            "test_as_of": self.result.summary["test_as_of"],
            "local_model": str(r.local_model),
            "mode": self.result.mode,
            "metrics": r.metrics,
        }


def train(
    cfg: Config,
    *,
    data: Any = None,
    rejected_dir: str | Path = "rejected",
    promote: bool = False,
    models_dir: str | Path = "models",
    plots_dir: str | Path | None = None,
    cohorts: pd.DataFrame | None = None,
    started: float | None = None,
    log_file: str | Path | None = None,
    progress: Callable[[str], None] = _quiet,
    show: Callable[[str], None] = _quiet,
    log_step: str = LOG_STEP,
) -> Training:
    """Train on the configured shop (or on ``data``, already loaded) and log the run.

    ``plots_dir``: where the PNGs are drawn (default: a temporary folder); ``cohorts`` (a cohort matrix)
    adds the cohort heatmap. ``started`` (seconds since the epoch) is the run's start, default now.
    ``log_file``: the library log the caller already captures (else a temporary ``train.log``, with
    churnkit's own warnings passed to ``show``). ``progress`` gets one line per step.
    """
    import tempfile

    from churnkit.pipeline import train as fit_pipeline
    from churnkit.report.plots import make_plots
    from churnkit.tracking import runs

    started = time.time() if started is None else started
    with tempfile.TemporaryDirectory() as tmp, job_log(log_file, "train.log", show=show) as log:
        if data is None:
            progress("loading and validating inputs")
            data = load_shop(cfg, rejected_dir=rejected_dir)
            check_as_of(data, cfg.as_of, horizon_days=cfg.horizon_days)
        result = fit_pipeline(data, cfg, progress=progress)
        progress(log_step)
        plots = make_plots(
            Path(tmp) / "plots" if plots_dir is None else plots_dir,
            predictions=result.backtest.predictions,
            importance=result.model.feature_importance(),
            profile=result.model.clusters_.profile_,
            cohorts=cohorts,
        )
        run = runs.log_training_run(
            result,
            cfg,
            data,
            sources={n: str(getattr(cfg.inputs, n).path) for n in data.names},
            models_dir=models_dir,
            promote=promote,
            plots=plots,
            started=started,
            log_file=log,
        )
    return Training(data, result, run, cfg.horizon_days)
