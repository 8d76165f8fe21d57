"""One MLflow run per `train`, the registered pyfunc model and its `champion` alias.

Default store: ``sqlite:///mlflow.db`` in the working folder (MLflow 3's default); ``--tracking-uri`` or
``MLFLOW_TRACKING_URI`` choose another. The run holds the flattened config as params, the docs/design.md metric
names, plots, the feature schema, a data summary, the input datasets and one pyfunc model (models-from-code).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from churnkit.config import Config
from churnkit.data.load import ShopData
from churnkit.errors import ModelError
from churnkit.models.churnkit_model import ChurnkitModel
from churnkit.models.metrics import METRIC_NAMES
from churnkit.pipeline import TrainResult
from churnkit.tracking.registry import CHAMPION, alias_holder, horizon_alias, move_aliases
from churnkit.tracking.signature import feature_schema, model_signature

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
MAIN_METRICS = METRIC_NAMES
"""The registry's metric names, logged by every run (with the baseline prefixes beside them)."""


@dataclass
class RunInfo:
    run_id: str
    model_uri: str
    registered_version: str | None
    champion_moved: bool
    local_model: Path
    metrics: dict[str, float]
    aliases: list[str] = field(default_factory=list)
    registry_note: str = ""


def tracking_uri(cfg: Config) -> str:
    return cfg.tracking.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"


def _mlflow(cfg: Config):  # type: ignore[no-untyped-def]
    import mlflow

    from churnkit.progress import recapture

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    recapture()  # inside `library_output` (train, demo): MLflow's log lines go to the run's log file
    mlflow.set_tracking_uri(tracking_uri(cfg))
    return mlflow


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for other stores and in-memory SQLite)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Hold ``<db>.lock`` while a SQLite store, its experiment or its registered model may be created.

    MLflow creates its schema when a process first opens an empty database; two processes doing that at
    once fail with ``table ... already exists``. Other stores (servers, Databricks) do their own locking.
    """
    db = _sqlite_file(uri)
    if db is None:
        yield
        return
    from filelock import FileLock

    db.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(db) + ".lock", timeout=600):
        yield


def _prepare_store(mlflow, cfg: Config) -> str:  # type: ignore[no-untyped-def]
    """Create the store's schema, the experiment and the registered model once, under the store lock.

    A new experiment in a SQLite store keeps its artifacts in ``mlruns/`` beside the database file (not in
    the working folder), so a store and its artifacts stay together. Returns the experiment id.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri(cfg)
    with _store_lock(uri):
        client = MlflowClient()
        exp = client.get_experiment_by_name(cfg.tracking.experiment)
        if exp is None:
            db = _sqlite_file(uri)
            location = (db.resolve().parent / "mlruns").as_uri() if db is not None else None
            experiment_id = client.create_experiment(cfg.tracking.experiment, artifact_location=location)
        else:
            experiment_id = exp.experiment_id
        mlflow.set_experiment(experiment_id=experiment_id)
        try:
            client.get_registered_model(cfg.tracking.registered_model)
        except MlflowException:
            client.create_registered_model(cfg.tracking.registered_model)
    return str(experiment_id)


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


def log_training_run(
    result: TrainResult,
    cfg: Config,
    data: ShopData,
    *,
    sources: dict[str, str],
    models_dir: str | Path = "models",
    promote: bool = False,
    plots: dict[str, Path] | None = None,
    started: float | None = None,
    log_file: str | Path | None = None,
) -> RunInfo:
    """Log a finished training as one MLflow run, register the model and move `champion` if it wins.

    ``started`` (seconds since the epoch, e.g. ``time.time()`` before loading the data) is the run's start
    time, so the run lasts as long as the training did; ``log_file`` (library warnings and log lines) is
    logged as ``logs/<name>``. The run is named ``train H<horizon> D<as-of date>``.
    """
    with _printed_to_log():
        return _log_training_run(result, cfg, data, sources, models_dir, promote, plots, started, log_file)


class _LogWriter:
    """A text stream that turns what MLflow prints (``eprint``, progress bars) into log records."""

    def __init__(self) -> None:
        self.log = logging.getLogger("mlflow.printed")

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.log.info(line.rstrip())
        return len(text)

    def flush(self) -> None:
        pass


@contextlib.contextmanager
def _printed_to_log() -> Iterator[None]:
    """What MLflow prints on stdout/stderr while a run is logged goes to the ``mlflow.printed`` logger."""
    writer = _LogWriter()
    with contextlib.redirect_stdout(writer), contextlib.redirect_stderr(writer):  # type: ignore[type-var]
        yield


def _log_training_run(  # type: ignore[no-untyped-def]
    result, cfg, data, sources, models_dir, promote, plots, started, log_file
) -> RunInfo:
    mlflow = _mlflow(cfg)
    from mlflow import MlflowClient

    experiment_id = _prepare_store(mlflow, cfg)
    metrics = result.backtest.metrics
    as_of = str(result.summary["as_of"])
    created = MlflowClient().create_run(
        experiment_id,
        start_time=int((started if started is not None else time.time()) * 1000),
        run_name=run_name(cfg.horizon_days, as_of),
    )
    with mlflow.start_run(run_id=created.info.run_id) as run, tempfile.TemporaryDirectory() as tmp:
        run_id = run.info.run_id
        params = cfg.flat()
        mlflow.log_params({k: v[:500] for k, v in params.items()})
        mlflow.set_tags(
            {
                "churnkit.mode": result.mode,
                "churnkit.champion_model": result.backtest.champion,
                "churnkit.clv_champion_model": result.backtest.champions["clv"],
                "churnkit.horizon_days": str(cfg.horizon_days),
                "churnkit.churn_definition": f"no purchase in [D, D+{cfg.horizon_days})",
                "churnkit.evidence": result.backtest.evidence,
                "churnkit.as_of": result.summary["as_of"],
                "churnkit.test_as_of": result.summary["test_as_of"],
            }
        )
        mlflow.log_metrics(_finite(metrics))
        for path in (plots or {}).values():
            mlflow.log_artifact(str(path), artifact_path="plots")
        mlflow.log_dict(feature_schema(result.model), "feature_schema.json")
        mlflow.log_dict(
            {**result.summary, "notes": result.notes, "load": data.report.lines()}, "data_summary.json"
        )
        result.backtest.predictions.to_csv(Path(tmp) / "backtest_predictions.csv", index=False)
        mlflow.log_artifact(str(Path(tmp) / "backtest_predictions.csv"))
        result.scores.to_parquet(Path(tmp) / "scores.parquet", index=False)  # the base at D, for the report
        mlflow.log_artifact(str(Path(tmp) / "scores.parquet"))
        profile = result.model.clusters_.profile_
        profile.to_csv(Path(tmp) / "segment_profile.csv", index=False)
        mlflow.log_artifact(str(Path(tmp) / "segment_profile.csv"))
        _log_datasets(mlflow, data, sources)

        model_file = Path(tmp) / "churnkit_model.joblib"
        joblib.dump(result.model, model_file)
        signature, example = model_signature(result.model, data, as_of)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_CODE),
                artifacts={"churnkit_model": str(model_file)},
                registered_model_name=cfg.tracking.registered_model,
                pip_requirements=_requirements(),
                signature=signature,
                input_example=(example, {"as_of": as_of}),
            )
        local = Path(models_dir) / run_id
        _export_local(info.model_uri, local, tmp)
        mlflow.log_param("local_model", str(local))
        if log_file is not None and Path(log_file).is_file():
            mlflow.log_artifact(str(log_file), artifact_path="logs")

    version = str(info.registered_model_version) if info.registered_model_version else None
    with _store_lock(tracking_uri(cfg)):  # read the champion's AUC and move the alias as one step
        promotion = move_aliases(
            MlflowClient(),
            cfg.tracking.registered_model,
            version,
            metrics,
            promote,
            horizon_days=cfg.horizon_days,
        )
    return RunInfo(
        run_id,
        info.model_uri,
        version,
        CHAMPION in promotion.moved,
        local,
        metrics,
        promotion.moved,
        promotion.message,
    )


def run_name(horizon_days: int, as_of: str) -> str:
    """The MLflow run name of a training run: ``train H90 D2026-01-01``."""
    return f"train H{horizon_days} D{as_of}"


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"churnkit=={version('churnkit')}"]


def _export_local(model_uri: str, target: Path, tmp: str) -> None:
    """Copy the logged model to models/<run_id>/ (atomic: copied beside, then renamed) and point models/latest at it."""
    import mlflow

    staging = Path(tmp) / "export"
    mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(staging))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        shutil.copytree(staging, partial)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    latest = target.parent / "latest"
    tmp_link = target.parent / ".latest.tmp"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(target.name, target_is_directory=True)
    os.replace(tmp_link, latest)


def _log_datasets(mlflow: Any, data: ShopData, sources: dict[str, str]) -> None:
    """Log each input table as an MLflow dataset (schema, digest of a 1,000-row sample, and its file)."""
    import mlflow.data

    from churnkit.data.io import resolve_source

    for name in data.names:
        sample = data.ibis(name).limit(1000).to_pandas()  # engine-neutral (DuckDB or Spark)
        source = sources.get(name)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            ds = mlflow.data.from_pandas(
                sample, source=str(resolve_source(source).resolve()) if source else None, name=name
            )
        mlflow.log_input(ds, context="training")


def list_runs(cfg: Config, *, experiment: str | None = None, max_results: int = 20) -> pd.DataFrame:
    """Recent runs side by side: horizon, as-of date, main metrics and baselines, and the alias holders.

    ``champion`` is ``*`` for the run that ``@champion`` scores and ``h`` for the best run of its horizon.
    """
    mlflow = _mlflow(cfg)
    name = experiment or cfg.tracking.experiment
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        raise ModelError(f"no experiment named {name!r} in {tracking_uri(cfg)}")
    runs = mlflow.search_runs([exp.experiment_id], max_results=max_results, order_by=["start_time DESC"])
    if runs.empty:
        return pd.DataFrame()
    cols = {
        "run_id": "run_id",
        "start_time": "start_time",
        "params.horizon_days": "H",
        "tags.churnkit.as_of": "as_of",
        "tags.churnkit.champion_model": "model",
    }
    for m in ("churn_auc", "churn_ece", "clv_gini_norm"):
        for prefix in ("", "baseline_btyd_", "baseline_recency_"):
            cols[f"metrics.{prefix}{m}"] = f"{prefix}{m}"
    out = runs[[c for c in cols if c in runs.columns]].rename(columns=cols)
    out["start_time"] = pd.to_datetime(out["start_time"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    from mlflow import MlflowClient

    client = MlflowClient()
    model_name = cfg.tracking.registered_model
    mark = pd.Series("", index=out.index)
    holder = alias_holder(client, model_name, CHAMPION)
    if "H" in out.columns:
        for h in out["H"].dropna().unique():
            per_h = alias_holder(client, model_name, horizon_alias(int(h)))
            if per_h is not None:
                mark[out["run_id"].eq(per_h.run_id)] = "h"
    if holder is not None:
        mark[out["run_id"].eq(holder.run_id)] = "*"
    out.insert(1, "champion", mark)
    return out


def latest_run_id(cfg: Config, *, experiment: str | None = None) -> str:
    """The id of the most recent run of the experiment (`churnkit report latest`)."""
    mlflow = _mlflow(cfg)
    name = experiment or cfg.tracking.experiment
    exp = mlflow.get_experiment_by_name(name)
    runs = (
        mlflow.search_runs([exp.experiment_id], max_results=1, order_by=["start_time DESC"])
        if exp is not None
        else pd.DataFrame()
    )
    if runs.empty:
        raise ModelError(f"no runs in experiment {name!r} of {tracking_uri(cfg)}: run `churnkit train` first")
    return str(runs["run_id"].iloc[0])


def run_record(cfg: Config, run_id: str) -> dict[str, Any]:
    """Metrics, params, summary and plot files of one run (for the HTML report)."""
    mlflow = _mlflow(cfg)
    from mlflow import MlflowClient

    client = MlflowClient()
    try:
        run = client.get_run(run_id)
    except Exception:
        raise ModelError(f"no run with id {run_id!r} in {tracking_uri(cfg)}") from None
    tmp = Path(tempfile.mkdtemp(prefix="churnkit-report-"))
    images: dict[str, Path] = {}
    try:
        plot_dir = Path(
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="plots", dst_path=str(tmp))
        )
        images = {p.stem: p for p in sorted(plot_dir.glob("*.png"))}
    except Exception:
        images = {}
    summary = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="data_summary.json", dst_path=str(tmp)
            )
        ).read_text()
    )
    profile_path = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="segment_profile.csv", dst_path=str(tmp)
        )
    )
    return {
        "run_id": run_id,
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "summary": summary,
        "images": images,
        "profile": pd.read_csv(profile_path),
        "tmp": tmp,
    }


def load_model(uri: str, cfg: Config) -> ChurnkitModel:
    """A ChurnkitModel from any MLflow model URI or a local model folder.

    A local folder that `train` exported (an ``MLmodel`` file and the ``churnkit_model`` artifact) is read
    directly, as the pyfunc's ``load_context`` would: no MLflow import, seconds less for every `score`.
    """
    local = Path(uri)
    artifact = local / "artifacts" / "churnkit_model.joblib"
    if (local / "MLmodel").is_file() and artifact.is_file():
        try:
            model = joblib.load(artifact)
        except Exception as e:
            raise ModelError(f"cannot load model {uri!r}: {type(e).__name__}: {e}") from None
        if isinstance(model, ChurnkitModel):
            return model
    mlflow = _mlflow(cfg)
    target = str(local) if local.exists() else uri
    if not local.exists() and not uri.startswith(("models:/", "runs:/", "file:", "s3:", "gs:", "dbfs:")):
        raise ModelError(f"model not found: {uri!r} is neither a local model folder nor an MLflow model URI")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            pyfunc = mlflow.pyfunc.load_model(target)
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"cannot load model {uri!r}: {first}") from None
    return pyfunc.unwrap_python_model().model
