"""The `churnkit` command line: each command parses its options, calls one library function and prints.

User mistakes (`ChurnkitError`) become exit code 2 with one readable message, in one place (`_Group`);
anything else is a bug and exits 1 with a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from churnkit.errors import ChurnkitError


class _Group(TyperGroup):
    """Turns library errors into exit code 2 and a one-line message, for every command."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except ChurnkitError as e:
            typer.echo(f"Error: {e}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Group,
    help="Churn prediction, customer lifetime value and segmentation for non-contractual retail.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config (see configs/default.yaml).")
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
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


def _echo(msg: str = "") -> None:
    typer.echo(msg)


def _config(config: Path | None, tracking_uri: str | None = None, **overrides):  # type: ignore[no-untyped-def]
    from churnkit.config import load_config

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
    from churnkit.data.load import load_shop
    from churnkit.errors import InputError

    tx = cfg.inputs.transactions.path
    if tx is None:
        raise InputError(
            "no transactions file given: use --transactions or inputs.transactions.path in --config"
        )
    return load_shop(
        tx,
        cfg.inputs.events.path,
        cfg.inputs.customers.path,
        inputs=cfg.inputs,
        rejected_dir=rejected_dir,
    )


@app.command()
def generate(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder for transactions, events, customers and truth files.")
    ],
    customers: Annotated[int, typer.Option("--customers", "-n", min=1, help="Number of customers.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Write a realistic sample shop (purchases, browsing, customers, and the latent truth for tests)."""
    from churnkit.data.sample import generate_shop, write_shop

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("use csv or parquet", param_hint="--format")
    _config(config, tracking_uri)
    paths = write_shop(generate_shop(customers, seed=seed), out_dir, fmt=fmt)
    for name, path in paths.items():
        _echo(f"{name}: {path}")


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
    )
    data = _load(cfg, rejected_dir)
    for line in data.report.lines():
        _echo(line)
    for line in readiness(data, as_of=cfg.as_of, horizon_days=cfg.horizon_days).lines():
        _echo(line)


@app.command()
def kpis(
    transactions: TxOpt = None,
    period: Annotated[str, typer.Option("--period", help="week, month or quarter.")] = "month",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="KPI table (CSV or Parquet).")] = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Retention KPIs per period (CRR, churn, repeat rate, frequency, AOV, simple CLV) and cohort retention."""
    from churnkit.data.io import write_table
    from churnkit.kpis import cohort_retention, plot_cohort_heatmap, retention_kpis

    if period not in ("week", "month", "quarter"):
        raise typer.BadParameter("use week, month or quarter", param_hint="--period")
    cfg = _config(config, tracking_uri, transactions=transactions)
    out_dir = out.parent if out else Path(".")
    data = _load(cfg, out_dir)
    for line in data.report.lines():
        _echo(line)
    tx = data.frame("transactions")
    table = retention_kpis(tx, period=period)
    cohorts = cohort_retention(tx, period=period)
    if out is not None:
        write_table(table, out)
        stem = out.name.split(".")[0]
        cohort_path = write_table(cohorts.reset_index(), out.with_name(f"{stem}_cohorts.csv"))
        heatmap = plot_cohort_heatmap(cohorts, out.with_name(f"{stem}_cohorts.png"))
        _echo(f"KPIs: {out}\ncohort retention: {cohort_path}\nheatmap: {heatmap}")
    else:
        with _pandas_display():
            _echo(table.to_string(index=False))


def _pandas_display():  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 3)


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date like 2024-01-31, got {value!r}") from None


def _print_json(obj: object) -> None:
    typer.echo(json.dumps(obj, default=str))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
