"""The `churnkit` command line: each command parses its options, calls one library function and prints.

User mistakes (`ChurnkitError`) become exit code 2 with one readable message, in one place (`_Group`);
anything else is a bug and exits 1 with a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from churnkit.errors import ChurnkitError


class _Group(TyperGroup):
    """Turns library errors into exit code 2 and a one-line message, for every command."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        _OUT.quiet = _OUT.json = False
        try:
            return super().invoke(ctx)
        except ChurnkitError as e:
            typer.echo(f"Error: {_one_line(str(e))}", err=True)
            raise typer.Exit(2) from None
        except Exception as e:
            if _interrupted(e):  # DuckDB took the Ctrl-C inside a statement: exit 130 like any Ctrl-C
                raise KeyboardInterrupt from None
            raise


def _one_line(message: str) -> str:
    """The message on one line: line breaks inside quoted names (a CSV header, a YAML key) shown as \\n."""
    return message.strip().replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def _interrupted(e: BaseException) -> bool:
    """Whether an exception is DuckDB reporting an interrupted statement (it swallows the SIGINT itself)."""
    import duckdb

    if isinstance(e, duckdb.InterruptException):
        return True
    return isinstance(e, RuntimeError) and str(e).strip().rstrip(".!").lower() in {
        "query interrupted",
        "interrupted",
    }


app = typer.Typer(
    cls=_Group,
    help="Churn prediction, customer lifetime value and segmentation for non-contractual retail.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML config file, or a packaged one: default, cdnow (see `churnkit init`)."
    ),
]
TrackingOpt = Annotated[
    str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: sqlite:///mlflow.db).")
]
TxOpt = Annotated[
    str | None, typer.Option("--transactions", "-t", help="Transactions file (CSV or Parquet).")
]
EventsOpt = Annotated[
    str | None, typer.Option("--events", "-e", help="Browsing events file (CSV or Parquet).")
]
CustomersOpt = Annotated[str | None, typer.Option("--customers", help="Customers file (CSV or Parquet).")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="As-of date D (YYYY-MM-DD); default: the day after the last purchase."),
]
HorizonOpt = Annotated[int | None, typer.Option("--horizon", help="Horizon H in days (default 90).")]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the result: no progress, no load report.")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print only one JSON object on stdout (everything else on stderr).")
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine", help="duckdb (one machine, default) or spark (needs churnkit[spark]); overrides config."
    ),
]


@dataclass
class _Output:
    """How the running command prints: `-q` keeps only the result; `--json` keeps stdout for the JSON."""

    quiet: bool = False
    json: bool = False


_OUT = _Output()


def _modes(*, quiet: bool = False, json_out: bool = False) -> None:
    """Set the output modes of this command (call first in a command that has -q or --json)."""
    _OUT.quiet, _OUT.json = quiet, json_out


def _info(msg: str = "") -> None:
    """A human detail line (load report, notes, metric table): hidden by -q, on stderr under --json."""
    if not _OUT.quiet:
        typer.echo(msg, err=_OUT.json)


def _echo(msg: str = "") -> None:
    """A result line: on stdout; on stderr under --json (stdout holds only the JSON), none under --json -q."""
    if _OUT.json and _OUT.quiet:
        return
    typer.echo(msg, err=_OUT.json)


def _config(config: Path | None, tracking_uri: str | None = None, **overrides):  # type: ignore[no-untyped-def]
    from churnkit.config import load_config

    if isinstance(overrides.get("as_of"), str):
        overrides["as_of"] = _parse_date(overrides["as_of"], "--as-of")
    keys = {
        "inputs.transactions.path": overrides.pop("transactions", None),
        "inputs.events.path": overrides.pop("events", None),
        "inputs.customers.path": overrides.pop("customers", None),
        "tracking.tracking_uri": tracking_uri,
    }
    if overrides.get("as_of") is not None:
        keys["as_of"] = overrides.pop("as_of")
    if overrides.get("horizon_days") is not None:
        keys["horizon_days"] = overrides.pop("horizon_days")
    keys.update({k: v for k, v in overrides.items() if v is not None})
    return load_config(config, **keys)


def _load(cfg, rejected_dir: Path | None):  # type: ignore[no-untyped-def]
    from churnkit.data.shop import load_shop

    return load_shop(cfg, rejected_dir=rejected_dir)


@app.command()
def generate(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder for transactions, events, customers and truth files.")
    ],
    customers: Annotated[int, typer.Option("--customers", "-n", min=1, help="Number of customers.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    continue_from: Annotated[
        Path | None,
        typer.Option(
            "--continue-from", help="Scores of this shop (same -n/--seed): add the next --days after them."
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, help="Days to simulate with --continue-from.")] = 90,
    campaign_effect: Annotated[
        float, typer.Option("--campaign-effect", help="Retention lift of the scores' target group.")
    ] = 0.02,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Write a realistic sample shop (purchases, browsing, customers, and the latent truth for tests)."""
    from churnkit.datasets.sample_shop import generate_shop, write_shop

    _modes(quiet=quiet)
    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("use csv or parquet", param_hint="--format")
    _config(config, tracking_uri)
    shop = generate_shop(customers, seed=seed)
    if continue_from is not None:  # monitoring (issue 17): the same shop H days later, after a campaign
        from churnkit.data.io import read_table
        from churnkit.datasets.sample_shop import simulate_future

        shop = simulate_future(
            shop, read_table(continue_from), days=days, campaign_effect=campaign_effect, seed=seed
        )
    paths = write_shop(shop, out_dir, fmt=fmt)
    for name, path in paths.items():
        _echo(f"{name}: {path}")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("churnkit.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    template: Annotated[
        str, typer.Option("--from", help="Packaged config to start from: default or cdnow.")
    ] = "default",
) -> None:
    """Write a commented config to edit (column mapping, horizon, models, tracking)."""
    from churnkit.config import packaged_config

    source = packaged_config(template)
    if path.exists() and not force:
        raise typer.BadParameter(f"{path} exists; use --force to overwrite it", param_hint="PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    _echo(f"config: {path} (use it with --config {path})")


@app.command()
def validate(
    transactions: TxOpt = None,
    events: EventsOpt = None,
    customers: CustomersOpt = None,
    as_of: AsOfOpt = None,
    horizon: HorizonOpt = None,
    rejected_dir: Annotated[
        Path, typer.Option("--rejected-dir", help="Where rows set aside are written.")
    ] = Path("rejected"),
    engine: EngineOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Check the inputs and say what the history supports (data-readiness report)."""
    from churnkit.data.readiness import readiness

    cfg = _config(
        config,
        tracking_uri,
        transactions=transactions,
        events=events,
        customers=customers,
        as_of=as_of,
        horizon_days=horizon,
        engine=engine,
    )
    data = _load(cfg, rejected_dir)
    d = _as_of(data, cfg)
    for line in data.report.lines():
        _echo(line)
    for line in readiness(
        data, as_of=d, horizon_days=cfg.horizon_days, min_history_days=cfg.training.min_history_days
    ).lines():
        _echo(line)


@app.command()
def kpis(
    transactions: TxOpt = None,
    period: Annotated[str, typer.Option("--period", help="week, month or quarter.")] = "month",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="KPI table (CSV or Parquet).")] = None,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Retention KPIs per period (CRR, churn, repeat rate, frequency, AOV, simple CLV) and cohort retention."""
    from churnkit.data.io import write_table
    from churnkit.kpis import cohort_retention, plot_cohort_heatmap, retention_kpis
    from churnkit.outputs import format_scores

    _modes(quiet=quiet)
    if period not in ("week", "month", "quarter"):
        raise typer.BadParameter("use week, month or quarter", param_hint="--period")
    cfg = _config(config, tracking_uri, transactions=transactions)
    out_dir = out.parent if out else Path(".")
    data = _load(cfg, out_dir)
    _report(data)
    tx = data.frame("transactions")
    table = retention_kpis(tx, period=period)
    cohorts = cohort_retention(tx, period=period)
    if out is not None:
        write_table(format_scores(table), out)
        stem = out.name.split(".")[0]
        cohort_path = write_table(format_scores(cohorts.reset_index()), out.with_name(f"{stem}_cohorts.csv"))
        heatmap = plot_cohort_heatmap(cohorts, out.with_name(f"{stem}_cohorts.png"))
        _echo(f"KPIs: {out}\ncohort retention: {cohort_path}\nheatmap: {heatmap}")
    else:
        with _pandas_display():
            _echo(table.to_string(index=False))


@app.command()
def features(
    transactions: TxOpt = None,
    events: EventsOpt = None,
    customers: CustomersOpt = None,
    as_of: AsOfOpt = None,
    horizon: Annotated[
        int | None, typer.Option("--horizon", help="Also add labels for this horizon (days), if observed.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Feature table (CSV or Parquet).")] = Path(
        "features.csv"
    ),
    quiet: QuietOpt = False,
    engine: EngineOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Build the feature table at an as-of date: one row per customer in the base."""
    from churnkit.data.io import write_table
    from churnkit.features import build_labels, shop_features, to_frame

    _modes(quiet=quiet)
    cfg = _config(
        config,
        tracking_uri,
        transactions=transactions,
        events=events,
        customers=customers,
        as_of=as_of,
        horizon_days=horizon,
        engine=engine,
    )
    data = _load(cfg, out.parent)
    d = _as_of(data, cfg)
    _report(data)
    table = shop_features(
        data,
        as_of=d,
        windows=tuple(cfg.features.windows),
        session_gap_minutes=cfg.features.session_gap_minutes,
    )
    if horizon:
        labels = to_frame(build_labels(data.ibis("transactions"), as_of=d, horizon_days=horizon))
        table = table.merge(labels.drop(columns=["as_of"], errors="ignore"), on="customer_id", how="left")
    write_table(table, out)
    _echo(f"{len(table):,} customers × {table.shape[1] - 2} features at {d} → {out}")


@app.command()
def train(
    config: ConfigOpt = None,
    transactions: TxOpt = None,
    events: EventsOpt = None,
    customers: CustomersOpt = None,
    as_of: AsOfOpt = None,
    horizon: HorizonOpt = None,
    experiment: Annotated[str | None, typer.Option("--experiment", help="MLflow experiment name.")] = None,
    promote: Annotated[bool, typer.Option("--promote", help="Move the champion alias to this run.")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    engine: EngineOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Backtest against baselines, fit the final model, log one MLflow run and register the model.

    Library warnings and log lines (MLflow, lifetimes, ...) go to the run's `logs/train.log` artifact.
    """
    import tempfile

    from churnkit.pipeline import train as train_pipeline
    from churnkit.progress import library_output
    from churnkit.report.plots import make_plots
    from churnkit.tracking.runs import MAIN_METRICS, log_training_run

    started = time.time()
    _modes(quiet=quiet, json_out=json_out)
    cfg = _config(
        config,
        tracking_uri,
        transactions=transactions,
        events=events,
        customers=customers,
        as_of=as_of,
        horizon_days=horizon,
        engine=engine,
        **{"tracking.experiment": experiment},
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        library_output(Path(tmp) / "train.log", show=_info) as log_file,
        _progress(quiet) as step,
    ):
        step("loading and validating inputs")
        data = _load(cfg, Path("rejected"))
        _as_of(data, cfg)
        result = train_pipeline(data, cfg, progress=step)
        step("writing plots and logging the MLflow run")
        plots = make_plots(
            Path(tmp) / "plots",
            predictions=result.backtest.predictions,
            importance=result.model.feature_importance(),
            profile=result.model.clusters_.profile_,
        )
        sources = {n: str(getattr(cfg.inputs, n).path) for n in data.names}
        info = log_training_run(
            result,
            cfg,
            data,
            sources=sources,
            promote=promote,
            plots=plots,
            started=started,
            log_file=log_file,
        )
    _report(data)
    for note in result.notes:
        _info(f"note: {note}")
    m = info.metrics
    champions = result.backtest.champions
    _info(f"{result.summary['backtest']} (H = {cfg.horizon_days} days)")
    _info(f"champions: churn {champions['churn']}, CLV {champions['clv']}")
    for name in MAIN_METRICS:
        _info(
            f"  {name:<18} {m.get(name, float('nan')):8.4f}   recency {m.get('baseline_recency_' + name, float('nan')):8.4f}"
            f"   btyd {m.get('baseline_btyd_' + name, float('nan')):8.4f}"
        )
    _echo(
        f"run {info.run_id}; model {info.model_uri} (version {info.registered_version}); "
        f"{info.registry_note}; local copy {info.local_model}"
    )
    if json_out:
        _print_json(
            {
                "run_id": info.run_id,
                "model_uri": info.model_uri,
                "registered_version": info.registered_version,
                "champion": info.champion_moved,
                "aliases": info.aliases,
                "champions": result.backtest.champions,
                "evidence": result.backtest.evidence,
                "test_as_of": result.summary["test_as_of"],
                "local_model": str(info.local_model),
                "mode": result.mode,
                "metrics": info.metrics,
            }
        )


@app.command()
def score(
    model: Annotated[str, typer.Option("--model", "-m", help="MLflow model URI or local model folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Scores file (CSV or Parquet).")],
    transactions: TxOpt = None,
    events: EventsOpt = None,
    customers: CustomersOpt = None,
    as_of: AsOfOpt = None,
    top: Annotated[
        int | None, typer.Option("--top", min=1, help="Keep only the N customers most worth contacting.")
    ] = None,
    budget: Annotated[float | None, typer.Option("--budget", min=0, help="Campaign budget.")] = None,
    cost_per_contact: Annotated[
        float | None, typer.Option("--cost-per-contact", min=0, help="Cost of contacting one customer.")
    ] = None,
    holdout: Annotated[
        float | None,
        typer.Option("--holdout", help="Share kept as a control group (adds group = target | control)."),
    ] = None,
    holdout_salt: Annotated[
        str, typer.Option("--holdout-salt", help="Salt of the group hash: same salt, same groups.")
    ] = "churnkit",
    quiet: QuietOpt = False,
    engine: EngineOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Score the customer base: churn probability, CLV, segment, risk tier, reasons and an action."""
    import tempfile

    from churnkit.data.io import write_table
    from churnkit.monitoring.drift import drift_message, score_and_drift
    from churnkit.monitoring.holdout import apply_holdout, check_fraction
    from churnkit.progress import library_output
    from churnkit.targeting import select_customers
    from churnkit.tracking.runs import load_model

    _modes(quiet=quiet)
    if (budget is None) != (cost_per_contact is None):
        raise typer.BadParameter("--budget and --cost-per-contact go together", param_hint="--budget")
    if top is not None and budget is not None:
        raise typer.BadParameter("use either --top or --budget", param_hint="--top")
    if holdout is not None:
        check_fraction(holdout)
    cfg = _config(
        config,
        tracking_uri,
        transactions=transactions,
        events=events,
        customers=customers,
        as_of=as_of,
        engine=engine,
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        library_output(Path(tmp) / "score.log", show=_info),
        _progress(quiet) as step,
    ):
        step("loading the model")
        churn_model = load_model(model, cfg)
        step("loading and validating inputs")
        data = _load(cfg, out.parent)
        d = _as_of(data, cfg, horizon_days=churn_model.horizon_days)
        step("building features and scoring")
        scores, drift = score_and_drift(churn_model, data, as_of=d)
    if holdout is not None:
        selection = apply_holdout(
            scores, holdout, salt=holdout_salt, top=top, budget=budget, cost_per_contact=cost_per_contact
        )
    else:
        selection = select_customers(scores, top=top, budget=budget, cost_per_contact=cost_per_contact)
    if (warning := drift_message(drift)) is not None:
        typer.echo(f"warning: {warning}", err=True)
    write_table(selection.scores, out)
    _report(data)
    _echo(
        f"{len(scores):,} customers scored at {scores['as_of'].iloc[0]}; {len(selection.scores):,} written → {out}"
    )
    if selection.summary:
        _echo(selection.summary)


@app.command()
def segment(
    out: Annotated[Path, typer.Option("--out", "-o", help="Segments file (CSV or Parquet).")],
    transactions: TxOpt = None,
    events: EventsOpt = None,
    customers: CustomersOpt = None,
    as_of: AsOfOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Use this model's clusters, risk and value.")
    ] = None,
    compare_to: Annotated[
        str | None,
        typer.Option("--compare-to", help="Earlier as-of date: also write the RFM segment transitions."),
    ] = None,
    quiet: QuietOpt = False,
    engine: EngineOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """RFM segments and behavioural clusters (fitted on the fly, or the model's), with profiles."""
    from churnkit.data.readiness import check_as_of
    from churnkit.jobs.segment import segment_customers

    _modes(quiet=quiet)
    cfg = _config(
        config,
        tracking_uri,
        transactions=transactions,
        events=events,
        customers=customers,
        as_of=as_of,
        engine=engine,
    )
    earlier = _parse_date(compare_to, "--compare-to")
    data = _load(cfg, out.parent)
    _as_of(data, cfg)
    if earlier is not None:
        check_as_of(data, earlier, horizon_days=cfg.horizon_days, option="--compare-to")
    churn_model = None
    if model is not None:
        from churnkit.tracking.runs import load_model

        churn_model = load_model(model, cfg)
    written = segment_customers(data, cfg, out=out, model=churn_model, compare_to=earlier)
    _report(data)
    for label, path in written.items():
        _echo(f"{label}: {path}")


@app.command()
def runs(
    experiment: Annotated[str | None, typer.Option("--experiment", help="MLflow experiment name.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many recent runs.")] = 20,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Recent training runs side by side, with their baselines and the champion marked '*'.

    The table fits the terminal width (or $COLUMNS): the less important columns are dropped first.
    """
    import shutil

    from churnkit.tracking.runs import list_runs

    cfg = _config(config, tracking_uri)
    table = list_runs(cfg, experiment=experiment, max_results=limit)
    if table.empty:
        _echo("no runs yet")
        return
    for line in _fit_table(table, shutil.get_terminal_size((120, 24)).columns):
        _echo(line)


@app.command()
def report(
    run_id: Annotated[
        str, typer.Argument(help="MLflow run id (see `churnkit runs`), or `latest` for the most recent run.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file.")] = Path("report.html"),
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="MLflow experiment of `latest`.")
    ] = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Write one self-contained HTML report of a training run."""
    from churnkit.jobs.report import write_run_report
    from churnkit.tracking.runs import latest_run_id

    cfg = _config(config, tracking_uri)
    if run_id == "latest":
        run_id = latest_run_id(cfg, experiment=experiment)
    path = write_run_report(cfg, run_id, out)
    _echo(f"report: {path}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the demo writes everything.")] = Path(
        "churnkit-demo"
    ),
    customers: Annotated[int, typer.Option("--customers", "-n", min=200, help="Sample-shop size.")] = 5000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Sample shop → validate → KPIs → train → score → segment → report, all written under --out-dir."""
    from churnkit.jobs.demo import run_demo

    _modes(quiet=quiet)
    cfg = _config(config, tracking_uri)
    with _progress(quiet) as step:
        outputs = run_demo(out_dir, cfg, customers=customers, seed=seed, progress=step, show=_info)
    for line in [*outputs.facts, ""]:
        _info(line)
    for line in outputs.output_lines():
        _echo(line)


@app.command()
def evaluate(
    scores: Annotated[Path, typer.Option("--scores", "-s", help="An earlier `churnkit score` output.")],
    transactions: TxOpt = None,
    events: EventsOpt = None,
    customers: CustomersOpt = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="The model that made the scores: its backtest and horizon."),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option("--horizon", min=1, help="Horizon H in days (default: the model's, else 90)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML report of the evaluation.")] = None,
    contacted: Annotated[
        Path | None, typer.Option("--contacted", help="For the page's campaign section: customers contacted.")
    ] = None,
    cost_per_contact: Annotated[
        float | None, typer.Option("--cost-per-contact", min=0, help="For the page's campaign section.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object only.")] = False,
    engine: EngineOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Once [as_of, as_of + H) has passed: the realized metrics of old scores beside the backtest's."""
    from churnkit.data.io import read_table
    from churnkit.tracking.evaluation import evaluate_file

    _modes(json_out=json_out)
    cfg = _config(
        config, tracking_uri, transactions=transactions, events=events, customers=customers, engine=engine
    )
    table = read_table(scores)
    data = _load(cfg, Path("rejected"))
    evaluation, run_id = evaluate_file(
        cfg,
        data,
        table,
        scores_path=scores,
        model=model,
        horizon_days=horizon,
        out=out,
        contacted=contacted,
        cost_per_contact=cost_per_contact,
    )
    if json_out:
        _print_json({**evaluation.to_dict(), "run_id": run_id})
        return
    for line in evaluation.lines():
        _echo(line)
    if out is not None:
        _echo(f"report: {out}")
    if run_id is not None:
        _echo(f"evaluation run {run_id}")


@app.command("evaluate-campaign")
def evaluate_campaign(
    scores: Annotated[Path, typer.Option("--scores", "-s", help="A `churnkit score --holdout` output.")],
    transactions: TxOpt = None,
    contacted: Annotated[
        Path | None, typer.Option("--contacted", help="Customers actually contacted (a customer_id column).")
    ] = None,
    cost_per_contact: Annotated[
        float | None, typer.Option("--cost-per-contact", min=0, help="Cost of contacting one customer.")
    ] = None,
    horizon: HorizonOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object only.")] = False,
    engine: EngineOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Target vs control after a campaign: retention and revenue lift with 95% intervals, p-values, return."""
    from churnkit.data.io import read_table
    from churnkit.monitoring.campaign import measure_campaign

    _modes(json_out=json_out)
    cfg = _config(config, tracking_uri, transactions=transactions, horizon_days=horizon, engine=engine)
    table = read_table(scores)
    data = _load(cfg, Path("rejected"))
    result = measure_campaign(
        table, data, horizon_days=cfg.horizon_days, contacted=contacted, cost_per_contact=cost_per_contact
    )
    if json_out:
        _print_json(result.to_dict())
        return
    for line in result.lines():
        _echo(line)


def _report(data) -> None:  # type: ignore[no-untyped-def]
    """The load report (rows loaded, duplicates, rows set aside): a detail line, hidden by -q."""
    for line in data.report.lines():
        _info(line)


def _as_of(data, cfg, *, horizon_days: int | None = None) -> dt.date:  # type: ignore[no-untyped-def]
    """The as-of date of this command: the configured one if the data supports it (else exit 2), or the default."""
    from churnkit.data.readiness import check_as_of

    return check_as_of(data, cfg.as_of, horizon_days=horizon_days or cfg.horizon_days)


def _progress(quiet: bool):  # type: ignore[no-untyped-def]
    from churnkit.progress import progress

    return progress(quiet=quiet)


def _pandas_display():  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 3)


_SHORT = (
    ("baseline_recency_", "rec_"),
    ("baseline_btyd_", "btyd_"),
    ("churn_", ""),
    ("clv_gini_norm", "gini"),
)
"""Column-name abbreviations `churnkit runs` uses when the full names do not fit."""


def _fit_table(table, width: int) -> list[str]:  # type: ignore[no-untyped-def]
    """The runs table as lines no wider than ``width``: abbreviated headers, then columns dropped from the right
    (``start_time`` first, then the later metrics and their baselines).

    ``run_id`` and ``champion`` always stay (the id is what `churnkit report` takes); a last line says
    which columns were left out.
    """

    def render(t) -> list[str]:  # type: ignore[no-untyped-def]
        with _pandas_display():
            return t.to_string(index=False, float_format=lambda v: f"{v:.4f}").splitlines()

    lines = render(table)
    if max(map(len, lines)) <= width:
        return lines
    short = table.copy()
    for old, new in _SHORT:
        short.columns = [c.replace(old, new) if c not in ("run_id", "champion") else c for c in short.columns]
    keep = [c for c in short.columns if c != "start_time"] + [c for c in short.columns if c == "start_time"]
    dropped: list[str] = []
    while True:
        lines = render(short[keep])
        if max(map(len, lines)) <= width or len(keep) <= 2:
            break
        droppable = [c for c in keep if c not in ("run_id", "champion")]
        if not droppable:
            break
        dropped.insert(0, droppable[-1])
        keep.remove(droppable[-1])
    if dropped:
        import textwrap

        note = f"({len(dropped)} columns left out to fit {width} characters: {', '.join(dropped)})"
        lines += textwrap.wrap(note, width=max(width, 20))
    return lines


def _parse_date(value: str | dt.date | None, option: str = "--as-of") -> dt.date | None:
    """An option's date (churnkit.dates): YYYY-MM-DD, or exit 2 with one line naming the option."""
    from churnkit.dates import parse_optional_date

    return parse_optional_date(value, name=option)


def _print_json(obj: object) -> None:
    """The one JSON object of a --json command, on stdout."""
    typer.echo(json.dumps(obj, default=str))


def main() -> None:
    """Console-script entry point. SIGTERM exits through Python (143) so temp files are cleaned up."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    _interrupt_queries_on_signals()
    app()


def _interrupt_queries_on_signals() -> None:
    """Stop a running DuckDB statement at once on Ctrl-C or SIGTERM.

    Python runs its signal handlers between bytecodes, so during a long statement they wait (and DuckDB
    notices the interrupt only sometimes). The C-level handler also writes the signal number to a
    wake-up pipe; a helper thread reading it interrupts the statements, which then raise and unwind
    through the usual handlers (exit 130 or 143, temporary files removed).
    """
    import os
    import signal
    import threading

    from churnkit.data.load import interrupt_queries

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    wanted = {int(signal.SIGINT), int(signal.SIGTERM)}

    def watch() -> None:
        while True:
            if wanted & set(os.read(read_end, 64)):
                interrupt_queries()

    threading.Thread(target=watch, name="churnkit-interrupt", daemon=True).start()


if __name__ == "__main__":
    main()
