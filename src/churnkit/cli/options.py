"""The options several commands share, declared once, and the decorator that adds them to a command.

A command names the shared options it takes (``@command(app, "transactions", "events", ..., "config")``) and
receives them as one `Shared` object (its first parameter); `Shared.config()` builds the run's `Config` from
them. In ``--help`` the shared inputs come after the command's required arguments and options, the output
modes, engine, config and tracking URI last.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from churnkit.cli.output import set_modes

Config_ = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML config file, or a packaged one: default, cdnow (see `churnkit init`)."
    ),
]
Tracking = Annotated[
    str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: sqlite:///mlflow.db).")
]
Transactions = Annotated[
    str | None, typer.Option("--transactions", "-t", help="Transactions file (CSV or Parquet).")
]
Events = Annotated[str | None, typer.Option("--events", "-e", help="Browsing events file (CSV or Parquet).")]
Customers = Annotated[str | None, typer.Option("--customers", help="Customers file (CSV or Parquet).")]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="As-of date D (YYYY-MM-DD); default: the day after the last purchase."),
]
Horizon = Annotated[int | None, typer.Option("--horizon", help="Horizon H in days (default 90).")]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the result: no progress, no load report.")
]
Json = Annotated[
    bool, typer.Option("--json", help="Print only one JSON object on stdout (everything else on stderr).")
]
Engine = Annotated[
    str | None,
    typer.Option(
        "--engine", help="duckdb (one machine, default) or spark (needs churnkit[spark]); overrides config."
    ),
]
MemoryLimit = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        help="DuckDB's memory limit (e.g. 3GB, 512MB; default 3GB): above it DuckDB spills to a temp folder. "
        "Overrides config.",
    ),
]
Experiment = Annotated[str | None, typer.Option("--experiment", help="MLflow experiment name.")]
CostPerContact = Annotated[
    float | None, typer.Option("--cost-per-contact", min=0, help="Cost of contacting one customer.")
]


@dataclass
class Shared:
    """The values of the shared options a command was given (None: not an option of this command)."""

    transactions: str | None = None
    events: str | None = None
    customers: str | None = None
    as_of: str | None = None
    horizon: int | None = None
    quiet: bool = False
    json: bool = False
    engine: str | None = None
    memory_limit: str | None = None
    config: Path | None = None
    tracking_uri: str | None = None

    def load_config(self, **overrides: Any):  # type: ignore[no-untyped-def]
        """The run's Config: the --config file (or defaults) with the given options and ``overrides`` on top.

        ``overrides`` are dotted config keys (None values are left out); --as-of is parsed here (exit 2 with
        one line naming the option when it is not a date).
        """
        from churnkit.config import load_config
        from churnkit.dates import parse_optional_date

        keys: dict[str, Any] = {
            "inputs.transactions.path": self.transactions,
            "inputs.events.path": self.events,
            "inputs.customers.path": self.customers,
            "tracking.tracking_uri": self.tracking_uri,
        }
        chosen = {
            "as_of": parse_optional_date(self.as_of, name="--as-of"),
            "horizon_days": self.horizon,
            "engine": self.engine,
            "duckdb.memory_limit": self.memory_limit,
            **overrides,
        }
        keys.update({k: v for k, v in chosen.items() if v is not None})
        return load_config(self.config, **keys)


_TYPES: dict[str, tuple[Any, Any]] = {
    "transactions": (Transactions, None),
    "events": (Events, None),
    "customers": (Customers, None),
    "as_of": (AsOf, None),
    "horizon": (Horizon, None),
    "quiet": (Quiet, False),
    "json": (Json, False),
    "engine": (Engine, None),
    "memory_limit": (MemoryLimit, None),
    "config": (Config_, None),
    "tracking_uri": (Tracking, None),
}
"""Each shared option: its annotated type and default, in ``--help`` order."""

SHOP = ("transactions", "events", "customers", "as_of")
"""The input files and the as-of date: what every command on a shop takes."""
STORE = ("config", "tracking_uri")
"""What every command takes."""


def command(app: typer.Typer, *shared: str, name: str | None = None) -> Callable[[Callable], Callable]:
    """Register ``fn(opts: Shared, **own)`` as a command that also takes the ``shared`` options.

    The output modes (-q, --json) are set before ``fn`` runs.
    """
    unknown = set(shared) - set(_TYPES)
    if unknown:
        raise ValueError(f"unknown shared options: {sorted(unknown)}")

    def register(fn: Callable) -> Callable:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]
        required = [p for p in own if p.default is inspect.Parameter.empty]
        optional = [p for p in own if p.default is not inspect.Parameter.empty]
        ordered = [n for n in _TYPES if n in shared]
        inputs = [n for n in ordered if n in (*SHOP, "horizon")]
        rest = [n for n in ordered if n not in inputs]

        def param(n: str) -> inspect.Parameter:
            annotation, default = _TYPES[n]
            return inspect.Parameter(
                n, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )

        params = [
            *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in required),
            *map(param, inputs),
            *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in optional),
            *map(param, rest),
        ]

        @functools.wraps(fn)
        def run(**values: Any) -> Any:
            opts = Shared(**{f.name: values.pop(f.name) for f in fields(Shared) if f.name in shared})
            set_modes(quiet=opts.quiet, json_out=opts.json)
            return fn(opts, **values)

        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return app.command(name)(run)

    return register
