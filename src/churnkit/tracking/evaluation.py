"""`churnkit evaluate` on top of MLflow: the backtest a scores file was promised, and one evaluation run.

The core (`churnkit.monitoring.realized`) computes the realized metrics; this module finds what the model's
own backtest reported (the training run behind ``--model``) and, when a tracking store is given
(``--tracking-uri``, ``tracking.tracking_uri`` in the config or ``MLFLOW_TRACKING_URI``), logs one run in
the experiment ``<experiment>-evaluation`` with the realized metrics under the docs/design.md names, the
backtest's as ``backtest_<name>``, ``held_up`` (1/0) and tags linking it to the training run.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from churnkit.config import Config
from churnkit.errors import InputError
from churnkit.models.metrics import METRIC_NAMES
from churnkit.monitoring.campaign import measure_campaign
from churnkit.monitoring.realized import Evaluation, evaluate_scores
from churnkit.tracking.runs import _finite, _mlflow, _store_lock, load_model, tracking_uri

__all__ = ["Promise", "backtest_promise", "evaluate_file", "log_evaluation_run"]


@dataclass
class Promise:
    """What a model's training run said about itself."""

    run_id: str | None
    horizon_days: int | None
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _store_given(cfg: Config) -> bool:
    return bool(cfg.tracking.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))


def backtest_promise(model_uri: str, cfg: Config) -> Promise:
    """The horizon and backtest metrics of the training run that produced ``model_uri``."""
    model = load_model(model_uri, cfg)
    horizon = int(model.horizon_days)
    mlflow = _mlflow(cfg)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            run_id = mlflow.models.get_model_info(model_uri).run_id
    except Exception as e:
        return Promise(
            None, horizon, {}, [f"cannot read the model's run: {str(e).splitlines()[0] if str(e) else e}"]
        )
    if not run_id:
        return Promise(None, horizon, {}, ["the model has no training run: no backtest to compare with"])
    try:
        metrics = dict(mlflow.MlflowClient().get_run(run_id).data.metrics)
    except Exception:
        return Promise(
            run_id,
            horizon,
            {},
            [f"training run {run_id} is not in {tracking_uri(cfg)}: no backtest to compare with"],
        )
    return Promise(run_id, horizon, {k: float(metrics[k]) for k in METRIC_NAMES if k in metrics})


def log_evaluation_run(
    cfg: Config, evaluation: Evaluation, *, scores_path: str | Path, model_run_id: str | None = None
) -> str:
    """One MLflow run in ``<experiment>-evaluation``; returns its id."""
    mlflow = _mlflow(cfg)
    with _store_lock(tracking_uri(cfg)):
        mlflow.set_experiment(f"{cfg.tracking.experiment}-evaluation")
    metrics = {**evaluation.metrics, **{f"backtest_{k}": v for k, v in evaluation.backtest.items()}}
    metrics["predicted_churn_rate"] = evaluation.predicted_churn_rate
    metrics["realized_churn_rate"] = evaluation.realized_churn_rate
    if evaluation.held_up is not None:
        metrics["held_up"] = float(evaluation.held_up)
    with (
        mlflow.start_run(run_name=f"evaluate {evaluation.as_of}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.set_tags(
            {
                "churnkit.kind": "evaluation",
                "churnkit.as_of": str(evaluation.as_of),
                "churnkit.scores": str(scores_path),
                **({"churnkit.model_run_id": model_run_id} if model_run_id else {}),
            }
        )
        mlflow.log_params({"horizon_days": evaluation.horizon_days, "customers": evaluation.customers})
        mlflow.log_metrics(_finite(metrics))
        path = Path(tmp) / "evaluation.json"
        path.write_text(json.dumps(evaluation.to_dict(), indent=1))
        mlflow.log_artifact(str(path))
        if not evaluation.by_group.empty:
            evaluation.by_group.to_csv(Path(tmp) / "by_group.csv", index=False)
            mlflow.log_artifact(str(Path(tmp) / "by_group.csv"))
        return run.info.run_id


def evaluate_file(
    cfg: Config,
    data: Any,
    scores: pd.DataFrame,
    *,
    scores_path: str | Path,
    model: str | None = None,
    horizon_days: int | None = None,
    out: str | Path | None = None,
    contacted: pd.Series | str | Path | None = None,
    cost_per_contact: float | None = None,
) -> tuple[Evaluation, str | None]:
    """`churnkit evaluate`: realized metrics, the backtest beside them (with ``model``), HTML, evaluation run.

    The horizon is ``horizon_days`` when given, else the model's, else the config's (default 90). With
    ``out`` and a ``group`` column in the scores, the page has the campaign section (`measure_campaign` on
    the same scores and data, with ``contacted`` and ``cost_per_contact`` passed through).
    """
    promise = backtest_promise(model, cfg) if model else Promise(None, None)
    horizon = horizon_days or promise.horizon_days or cfg.horizon_days
    evaluation = evaluate_scores(scores, data, horizon_days=horizon, backtest=promise.metrics)
    evaluation.notes.extend(promise.notes)
    if horizon_days and promise.horizon_days and horizon_days != promise.horizon_days:
        evaluation.notes.append(
            f"--horizon {horizon_days} differs from the model's horizon ({promise.horizon_days} days): "
            "the backtest compares a different window"
        )
    if out is not None:
        campaign = None
        if "group" in scores.columns:
            try:
                campaign = measure_campaign(
                    scores, data, horizon_days=horizon, contacted=contacted, cost_per_contact=cost_per_contact
                )
            except InputError as e:
                evaluation.notes.append(f"no campaign section: {e}")
        evaluation.write_html(out, campaign)
    run_id = None
    if _store_given(cfg):
        run_id = log_evaluation_run(cfg, evaluation, scores_path=scores_path, model_run_id=promise.run_id)
    return evaluation, run_id
