"""`churnkit demo`: the whole job on a generated sample shop, in one go.

sample shop → validate → retention KPIs → train (backtest + MLflow run + registered model) → score →
segment → HTML report. Everything lands in one folder: the inputs (``data/``), rows set aside (``rejected/``),
the MLflow store (``mlflow.db``) and its artifacts (``mlruns/``) unless a tracking URI is configured, the
model (``models/``), the library log (``logs/demo.log``) and every output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from churnkit.config import Config
from churnkit.data.io import write_table
from churnkit.data.readiness import readiness
from churnkit.data.shop import load_shop
from churnkit.datasets.sample_shop import generate_shop, write_shop
from churnkit.jobs.segment import segment_customers
from churnkit.kpis import cohort_retention, plot_cohort_heatmap, retention_kpis
from churnkit.outputs import format_scores
from churnkit.pipeline import train
from churnkit.targeting import select_customers


@dataclass
class DemoOutputs:
    folder: Path
    paths: dict[str, Path] = field(default_factory=dict)
    facts: list[str] = field(default_factory=list)
    tracking_uri: str = ""

    def lines(self) -> list[str]:
        return [*self.facts, "", *self.output_lines()]

    def output_lines(self) -> list[str]:
        """The result: where each output is, and how to open the MLflow UI (what `demo -q` prints)."""
        out = ["outputs:"]
        out += [f"  {name:<22} {path}" for name, path in self.paths.items()]
        out += ["", "open the MLflow UI with:", f"  mlflow ui --backend-store-uri {self.tracking_uri}"]
        return out


def run_demo(
    folder: str | Path,
    cfg: Config,
    *,
    customers: int = 5000,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _m: None,
    show: Callable[[str], None] = lambda _m: None,
) -> DemoOutputs:
    """Run the whole job in ``folder``; library warnings and log lines go to ``folder/logs/demo.log``
    (churnkit's own warnings also to ``show``)."""
    from churnkit.progress import library_output

    folder = Path(folder).resolve()
    with library_output(folder / "logs" / "demo.log", show=show) as log_file:
        out = _run(folder, cfg, customers=customers, seed=seed, progress=progress, log_file=log_file)
    out.paths["log"] = log_file
    return out


def _run(
    folder: Path,
    cfg: Config,
    *,
    customers: int,
    seed: int,
    progress: Callable[[str], None],
    log_file: Path,
) -> DemoOutputs:
    import time

    from churnkit.jobs.report import write_run_report
    from churnkit.report.plots import make_plots
    from churnkit.tracking.runs import log_training_run, tracking_uri

    started = time.time()
    if cfg.tracking.tracking_uri is None:
        cfg = cfg.model_copy(deep=True)
        cfg.tracking.tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    out = DemoOutputs(folder, tracking_uri=tracking_uri(cfg))
    progress(f"generating a sample shop with {customers:,} customers")
    files = write_shop(generate_shop(customers, seed=seed), folder / "data", fmt="csv")
    out.paths.update({f"input {k}": v for k, v in files.items() if k != "truth"})
    for name in ("transactions", "events", "customers"):
        getattr(cfg.inputs, name).path = str(files[name])

    progress("validating inputs")
    data = load_shop(cfg, rejected_dir=folder / "rejected")
    out.facts += data.report.lines()
    out.facts += readiness(
        data, as_of=cfg.as_of, horizon_days=cfg.horizon_days, min_history_days=cfg.training.min_history_days
    ).lines()

    progress("retention KPIs")
    tx = data.frame("transactions")
    out.paths["KPIs"] = write_table(format_scores(retention_kpis(tx, period="month")), folder / "kpis.csv")
    cohorts = cohort_retention(tx, period="month")
    out.paths["cohort heatmap"] = plot_cohort_heatmap(cohorts, folder / "cohorts.png")

    result = train(data, cfg, progress=progress)
    progress("logging the MLflow run")
    plots = make_plots(
        folder / "plots",
        predictions=result.backtest.predictions,
        importance=result.model.feature_importance(),
        profile=result.model.clusters_.profile_,
        cohorts=cohorts,
    )
    sources = {n: str(getattr(cfg.inputs, n).path) for n in data.names}
    info = log_training_run(
        result,
        cfg,
        data,
        sources=sources,
        plots=plots,
        models_dir=folder / "models",
        started=started,
        log_file=log_file,
    )
    m = info.metrics
    out.facts.append(
        f"backtest at {result.summary['test_as_of']}: churn AUC {m['churn_auc']:.3f} "
        f"(recency {m['baseline_recency_churn_auc']:.3f}, BTYD {m['baseline_btyd_churn_auc']:.3f}), "
        f"CLV normalised Gini {m['clv_gini_norm']:.3f} (BTYD {m['baseline_btyd_clv_gini_norm']:.3f})"
    )
    out.facts += [f"note: {n}" for n in result.notes]
    out.facts.append(f"MLflow run {info.run_id}, model {info.model_uri}")

    progress("scoring the customer base")
    scores = result.model.score(data, as_of=cfg.as_of)
    out.paths["scores"] = write_table(select_customers(scores).scores, folder / "scores.csv")
    chosen = select_customers(scores, budget=1000.0, cost_per_contact=2.0)
    out.paths["campaign (budget 1000)"] = write_table(chosen.scores, folder / "campaign.csv")
    out.facts.append(chosen.summary)

    progress("segments")
    seg = segment_customers(data, cfg, out=folder / "segments.csv", model=result.model)
    out.paths.update({f"segment {k}": v for k, v in seg.items()})

    progress("HTML report")
    out.paths["report"] = write_run_report(cfg, info.run_id, folder / "report.html")
    out.paths["model"] = info.local_model
    return out
