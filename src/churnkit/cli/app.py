"""The `churnkit` commands: each parses its options, builds the Config, calls one job (churnkit.jobs) and prints.

User mistakes (`ChurnkitError`) become exit code 2 with one readable message, in one place
(`churnkit.cli.edge`); anything else is a bug and exits 1 with a traceback. Shared options: `churnkit.cli.options`; output modes
(-q, --json): `churnkit.cli.output`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from churnkit.cli.edge import ErrorsToExitCodes
from churnkit.cli.options import (
    SHOP,
    STORE,
    CostPerContact,
    Experiment,
    Shared,
    command,
)
from churnkit.cli.output import (
    MODES,
    echo,
    echo_lines,
    fit_table,
    info,
    pandas_display,
    print_json,
    warn,
)

app = typer.Typer(
    cls=ErrorsToExitCodes,
    help="Churn prediction, customer lifetime value and segmentation for non-contractual retail.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _progress():  # type: ignore[no-untyped-def]
    """The progress of this command's long steps (none under -q)."""
    from churnkit.progress import progress

    return progress(quiet=MODES.quiet)


def _load_report(data) -> None:  # type: ignore[no-untyped-def]
    """The load report (rows loaded, duplicates, rows set aside): detail lines, hidden by -q."""
    echo_lines(data.report.lines(), detail=True)


def _date(value: str | None, option: str):  # type: ignore[no-untyped-def]
    """An option's date (churnkit.dates): YYYY-MM-DD, or exit 2 with one line naming the option."""
    from churnkit.dates import parse_optional_date

    return parse_optional_date(value, name=option)


@command(app, "quiet", *STORE)
def generate(
    opts: Shared,
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
) -> None:
    """Write a realistic sample shop (purchases, browsing, customers, and the latent truth for tests)."""
    from churnkit.jobs.generate import generate as generate_job

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("use csv or parquet", param_hint="--format")
    opts.load_config()
    paths = generate_job(
        out_dir,
        customers=customers,
        seed=seed,
        fmt=fmt,
        continue_from=continue_from,
        days=days,
        campaign_effect=campaign_effect,
    )
    echo_lines([f"{name}: {path}" for name, path in paths.items()])


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
    from churnkit.data.io import atomic_path

    source = packaged_config(template)
    if path.exists() and not force:
        raise typer.BadParameter(f"{path} exists; use --force to overwrite it", param_hint="PATH")
    with atomic_path(path) as tmp:
        tmp.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    echo(f"config: {path} (use it with --config {path})")


@command(app, *SHOP, "horizon", "quiet", "engine", "memory_limit", *STORE)
def validate(
    opts: Shared,
    rejected_dir: Annotated[
        Path, typer.Option("--rejected-dir", help="Where rows set aside are written.")
    ] = Path("rejected"),
) -> None:
    """Check the inputs and say what the history supports (data-readiness report)."""
    from churnkit.jobs.validate import validate as validate_job

    result = validate_job(opts.load_config(), rejected_dir=rejected_dir)
    _load_report(result.data)  # -q: only what the history supports
    echo_lines(result.readiness.lines())


@command(app, "transactions", "quiet", *STORE)
def kpis(
    opts: Shared,
    period: Annotated[str, typer.Option("--period", help="week, month or quarter.")] = "month",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="KPI table (CSV or Parquet).")] = None,
) -> None:
    """Retention KPIs per period (CRR, churn, repeat rate, frequency, AOV, simple CLV) and cohort retention."""
    from churnkit.jobs.kpis import KpiFiles
    from churnkit.jobs.kpis import kpis as kpis_job

    if period not in ("week", "month", "quarter"):
        raise typer.BadParameter("use week, month or quarter", param_hint="--period")
    files = KpiFiles.beside(out) if out is not None else None
    result = kpis_job(
        opts.load_config(),
        period=period,  # type: ignore[arg-type]
        files=files,
        rejected_dir=out.parent if out else Path("."),
    )
    _load_report(result.data)
    if files is not None:
        echo_lines(result.lines())
    else:
        with pandas_display():
            echo(result.table.to_string(index=False))


@command(app, *SHOP, "quiet", "engine", "memory_limit", *STORE)
def features(
    opts: Shared,
    horizon: Annotated[
        int | None, typer.Option("--horizon", help="Also add labels for this horizon (days), if observed.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Feature table (CSV or Parquet).")] = Path(
        "features.csv"
    ),
) -> None:
    """Build the feature table at an as-of date: one row per customer in the base."""
    from churnkit.jobs.features import features as features_job

    result = features_job(opts.load_config(horizon_days=horizon), out=out, labels=bool(horizon))
    _load_report(result.data)
    echo_lines(result.lines())


@command(app, *SHOP, "horizon", "json", "quiet", "engine", "memory_limit", *STORE)
def train(
    opts: Shared,
    experiment: Experiment = None,
    promote: Annotated[bool, typer.Option("--promote", help="Move the champion alias to this run.")] = False,
) -> None:
    """Backtest against baselines, fit the final model, log one MLflow run and register the model.

    Library warnings and log lines (MLflow, lifetimes, ...) go to the run's `logs/train.log` artifact.
    """
    import time

    from churnkit.jobs.train import train as train_job

    started = time.time()
    cfg = opts.load_config(**{"tracking.experiment": experiment})
    with _progress() as step:
        trained = train_job(cfg, promote=promote, started=started, progress=step, show=info)
    _load_report(trained.data)
    echo_lines(trained.detail_lines(), detail=True)
    echo(trained.result_line())
    if opts.json:
        print_json(trained.to_dict())


@command(app, *SHOP, "quiet", "engine", "memory_limit", *STORE)
def score(
    opts: Shared,
    model: Annotated[str, typer.Option("--model", "-m", help="MLflow model URI or local model folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Scores file (CSV or Parquet).")],
    top: Annotated[
        int | None, typer.Option("--top", min=1, help="Keep only the N customers most worth contacting.")
    ] = None,
    budget: Annotated[float | None, typer.Option("--budget", min=0, help="Campaign budget.")] = None,
    cost_per_contact: CostPerContact = None,
    holdout: Annotated[
        float | None,
        typer.Option("--holdout", help="Share kept as a control group (adds group = target | control)."),
    ] = None,
    holdout_salt: Annotated[
        str, typer.Option("--holdout-salt", help="Salt of the group hash: same salt, same groups.")
    ] = "churnkit",
) -> None:
    """Score the customer base: churn probability, CLV, segment, risk tier, reasons and an action."""
    from churnkit.jobs.score import Targeting
    from churnkit.jobs.score import score as score_job

    if (budget is None) != (cost_per_contact is None):
        raise typer.BadParameter("--budget and --cost-per-contact go together", param_hint="--budget")
    if top is not None and budget is not None:
        raise typer.BadParameter("use either --top or --budget", param_hint="--top")
    if holdout is not None:
        from churnkit.monitoring.holdout import check_fraction

        check_fraction(holdout)
    cfg = opts.load_config()
    with _progress() as step:
        scored = score_job(
            cfg,
            model=model,
            out=out,
            targeting=Targeting(top, budget, cost_per_contact, holdout, holdout_salt),
            progress=step,
            show=info,
        )
    if scored.drift_warning is not None:
        warn(scored.drift_warning)
    _load_report(scored.data)
    echo_lines(scored.lines())


@command(app, *SHOP, "quiet", "engine", "memory_limit", *STORE)
def segment(
    opts: Shared,
    out: Annotated[Path, typer.Option("--out", "-o", help="Segments file (CSV or Parquet).")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Use this model's clusters, risk and value.")
    ] = None,
    compare_to: Annotated[
        str | None,
        typer.Option("--compare-to", help="Earlier as-of date: also write the RFM segment transitions."),
    ] = None,
) -> None:
    """RFM segments and behavioural clusters (fitted on the fly, or the model's), with profiles."""
    from churnkit.jobs.segment import segment as segment_job

    cfg = opts.load_config()
    result = segment_job(cfg, out=out, model=model, compare_to=_date(compare_to, "--compare-to"))
    _load_report(result.data)
    echo_lines(result.lines())


@command(app, *STORE)
def runs(
    opts: Shared,
    experiment: Experiment = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many recent runs.")] = 20,
) -> None:
    """Recent training runs side by side, with their baselines and the champion marked '*'.

    The table fits the terminal width (or $COLUMNS): the less important columns are dropped first.
    """
    import shutil

    from churnkit.tracking.runs import list_runs

    table = list_runs(opts.load_config(), experiment=experiment, max_results=limit)
    if table.empty:
        echo("no runs yet")
        return
    echo_lines(fit_table(table, shutil.get_terminal_size((120, 24)).columns))


@command(app, "quiet", *STORE)
def report(
    opts: Shared,
    run_id: Annotated[
        str, typer.Argument(help="MLflow run id (see `churnkit runs`), or `latest` for the most recent run.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file.")] = Path("report.html"),
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="MLflow experiment of `latest`.")
    ] = None,
) -> None:
    """Write one self-contained HTML report of a training run."""
    from churnkit.jobs.report import report as report_job

    echo(f"report: {report_job(opts.load_config(), run_id, out, experiment=experiment)}")


@command(app, "quiet", *STORE)
def demo(
    opts: Shared,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the demo writes everything.")] = Path(
        "churnkit-demo"
    ),
    customers: Annotated[int, typer.Option("--customers", "-n", min=200, help="Sample-shop size.")] = 5000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Sample shop → validate → KPIs → train → score → segment → report, all written under --out-dir."""
    from churnkit.jobs.demo import run_demo

    cfg = opts.load_config()
    with _progress() as step:
        outputs = run_demo(out_dir, cfg, customers=customers, seed=seed, progress=step, show=info)
    echo_lines([*outputs.facts, ""], detail=True)
    echo_lines(outputs.output_lines())


@command(app, "transactions", "events", "customers", "json", "engine", "memory_limit", *STORE)
def evaluate(
    opts: Shared,
    scores: Annotated[Path, typer.Option("--scores", "-s", help="An earlier `churnkit score` output.")],
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
) -> None:
    """Once [as_of, as_of + H) has passed: the realized metrics of old scores beside the backtest's."""
    from churnkit.jobs.evaluate import evaluate as evaluate_job

    result = evaluate_job(
        opts.load_config(),
        scores=scores,
        model=model,
        horizon_days=horizon,
        out=out,
        contacted=contacted,
        cost_per_contact=cost_per_contact,
    )
    if opts.json:
        print_json(result.to_dict())
    else:
        echo_lines(result.lines())


@command(app, "transactions", "horizon", "json", "engine", "memory_limit", *STORE, name="evaluate-campaign")
def evaluate_campaign(
    opts: Shared,
    scores: Annotated[Path, typer.Option("--scores", "-s", help="A `churnkit score --holdout` output.")],
    contacted: Annotated[
        Path | None, typer.Option("--contacted", help="Customers actually contacted (a customer_id column).")
    ] = None,
    cost_per_contact: CostPerContact = None,
) -> None:
    """Target vs control after a campaign: retention and revenue lift with 95% intervals, p-values, return."""
    from churnkit.jobs.evaluate import evaluate_campaign as campaign_job

    result = campaign_job(
        opts.load_config(), scores=scores, contacted=contacted, cost_per_contact=cost_per_contact
    )
    if opts.json:
        print_json(result.to_dict())
    else:
        echo_lines(result.lines())
