"""`churnkit demo`: the whole job on a generated sample shop, in one go.

sample shop → validate → retention KPIs → train (backtest + MLflow run + registered model) → score →
segment → HTML report, each step the job its own command runs. Everything lands in one folder: the inputs
(``data/``), rows set aside (``rejected/``), the MLflow store (``mlflow.db``) and its artifacts (``mlruns/``)
unless a tracking URI is configured, the model (``models/``), the library log (``logs/demo.log``) and every
output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from churnkit.config import Config
from churnkit.jobs.generate import generate
from churnkit.jobs.kpis import KpiFiles, kpis
from churnkit.jobs.report import DEFAULT_BUDGET, DEFAULT_COST_PER_CONTACT, write_run_report
from churnkit.jobs.score import Targeting, score, write_selection
from churnkit.jobs.segment import segment
from churnkit.jobs.train import train
from churnkit.jobs.validate import validate


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


def _quiet(_msg: str) -> None:
    pass


def run_demo(
    folder: str | Path,
    cfg: Config,
    *,
    customers: int = 5000,
    seed: int = 0,
    progress: Callable[[str], None] = _quiet,
    show: Callable[[str], None] = _quiet,
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

    from churnkit.tracking.runs import tracking_uri

    started = time.time()
    if cfg.tracking.tracking_uri is None:
        cfg = cfg.model_copy(deep=True)
        cfg.tracking.tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    out = DemoOutputs(folder, tracking_uri=tracking_uri(cfg))
    progress(f"generating a sample shop with {customers:,} customers")
    files = generate(folder / "data", customers=customers, seed=seed)
    out.paths.update({f"input {k}": v for k, v in files.items() if k != "truth"})
    for name in ("transactions", "events", "customers"):
        getattr(cfg.inputs, name).path = str(files[name])

    progress("validating inputs")
    checked = validate(cfg, rejected_dir=folder / "rejected")
    data = checked.data
    out.facts += checked.lines()

    progress("retention KPIs")
    kpi = kpis(cfg, data=data, files=KpiFiles(folder / "kpis.csv", heatmap=folder / "cohorts.png"))
    out.paths["KPIs"], out.paths["cohort heatmap"] = kpi.paths["KPIs"], kpi.paths["heatmap"]

    trained = train(
        cfg,
        data=data,
        models_dir=folder / "models",
        plots_dir=folder / "plots",
        cohorts=kpi.cohorts,
        started=started,
        log_file=log_file,
        progress=progress,
        log_step="logging the MLflow run",
    )
    out.facts += trained.facts()

    progress("scoring the customer base")
    scored = score(cfg, model=trained.result.model, out=folder / "scores.csv", data=data, log_file=log_file)
    out.paths["scores"] = scored.path
    campaign = folder / "campaign.csv"
    chosen = write_selection(
        scored.scores, campaign, Targeting(budget=DEFAULT_BUDGET, cost_per_contact=DEFAULT_COST_PER_CONTACT)
    )
    out.paths[f"campaign (budget {DEFAULT_BUDGET:.0f})"] = campaign
    out.facts.append(chosen.summary)

    progress("segments")
    seg = segment(cfg, out=folder / "segments.csv", model=trained.result.model, data=data)
    out.paths.update({f"segment {k}": v for k, v in seg.paths.items()})

    progress("HTML report")
    out.paths["report"] = write_run_report(cfg, trained.run.run_id, folder / "report.html")
    out.paths["model"] = trained.run.local_model
    return out
