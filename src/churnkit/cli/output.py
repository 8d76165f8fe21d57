"""How a command prints: `-q` keeps only the result, `--json` keeps stdout for one JSON object.

Every command prints through `info` (details: load report, notes, metric tables) and `echo` (the result), so
the two modes behave the same everywhere. `runs` fits its table to the terminal here.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

import typer


@dataclass
class _Modes:
    quiet: bool = False
    json: bool = False


MODES = _Modes()
"""The output modes of the running command (reset before each command)."""


def set_modes(*, quiet: bool = False, json_out: bool = False) -> None:
    """Set the output modes of this command."""
    MODES.quiet, MODES.json = quiet, json_out


def info(msg: str = "") -> None:
    """A human detail line (load report, notes, metric table): hidden by -q, on stderr under --json."""
    if not MODES.quiet:
        typer.echo(msg, err=MODES.json)


def echo(msg: str = "") -> None:
    """A result line: on stdout; on stderr under --json (stdout holds only the JSON), none under --json -q."""
    if MODES.json and MODES.quiet:
        return
    typer.echo(msg, err=MODES.json)


def echo_lines(lines: list[str], *, detail: bool = False) -> None:
    """Several result lines (or detail lines with ``detail``)."""
    for line in lines:
        (info if detail else echo)(line)


def warn(msg: str) -> None:
    """A warning line on stderr, shown in every mode."""
    typer.echo(f"warning: {msg}", err=True)


def print_json(obj: object) -> None:
    """The one JSON object of a --json command, on stdout."""
    typer.echo(json.dumps(obj, default=str))


def pandas_display():  # type: ignore[no-untyped-def]
    """Wide tables, three decimals: how tables print on the terminal."""
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 3)


_SHORT = (
    ("baseline_recency_", "rec_"),
    ("baseline_btyd_", "btyd_"),
    ("churn_", ""),
    ("clv_gini_norm", "gini"),
)
"""Column-name abbreviations `churnkit runs` uses when the full names do not fit."""


def fit_table(table, width: int) -> list[str]:  # type: ignore[no-untyped-def]
    """The runs table as lines no wider than ``width``: abbreviated headers, then columns dropped from the right
    (``start_time`` first, then the later metrics and their baselines).

    ``run_id`` and ``champion`` always stay (the id is what `churnkit report` takes); a last line says
    which columns were left out.
    """

    def render(t) -> list[str]:  # type: ignore[no-untyped-def]
        with pandas_display():
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
        note = f"({len(dropped)} columns left out to fit {width} characters: {', '.join(dropped)})"
        lines += textwrap.wrap(note, width=max(width, 20))
    return lines
