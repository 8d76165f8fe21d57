"""How numbers, dates and tables are written in the report."""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml

from churnkit.errors import InputError
from churnkit.report.labels import column_label, feature_unit
from churnkit.report.metrics import is_missing

__all__ = [
    "MAX_TABLE_ROWS",
    "Table",
    "config_text",
    "fmt_cell",
    "fmt_money",
    "fmt_number",
    "fmt_pct",
    "humanise",
    "is_percent_column",
    "prepare_table",
]

MAX_TABLE_ROWS = 50
_PERCENT_WORDS = ("share", "rate", "pct", "probability")


def fmt_number(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3f}"


def fmt_pct(value: float, digits: int = 1) -> str:
    """0.884 → '88.4%'; '—' when missing."""
    return "—" if is_missing(value) or not math.isfinite(value) else f"{100 * value:.{digits}f}%"


def fmt_money(value: float) -> str:
    """Amounts in the shop's currency: thousands separators, no decimals from 1,000 on."""
    if is_missing(value) or not math.isfinite(value):
        return "—"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"


def is_percent_column(column: str) -> bool:
    """A column of shares or rates (by its name, or a catalogue feature with unit 'share')."""
    return any(word in column.lower() for word in _PERCENT_WORDS) or feature_unit(column) == "share"


def fmt_cell(value: Any, column: str) -> str:
    if is_missing(value):
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        value = float(value)
        if is_percent_column(column) and -1.0 <= value <= 1.0:
            return f"{100 * value:.1f}%"
        return fmt_number(value)
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def humanise(key: str) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    total_rows: int
    note: str = ""


def prepare_table(
    key: str, frame: pd.DataFrame, *, header: Callable[[str], str] = column_label, note: str = ""
) -> Table:
    """The first :data:`MAX_TABLE_ROWS` rows of ``frame`` as text, with readable column headers."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"table {key!r} must be a pandas DataFrame, got {type(frame).__name__}")
    shown = frame.head(MAX_TABLE_ROWS)
    if not isinstance(shown.index, pd.RangeIndex):
        shown = shown.reset_index()
    columns = [str(c) for c in shown.columns]
    numeric = [
        pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
        for c in shown.columns
    ]
    rows = [
        [fmt_cell(value, column) for value, column in zip(record, columns, strict=True)]
        for record in shown.itertuples(index=False, name=None)
    ]
    return Table(humanise(key), [header(c) for c in columns], numeric, rows, len(frame), note)


def config_text(config: Mapping[str, Any]) -> str:
    plain = json.loads(json.dumps(config, default=str))
    return yaml.safe_dump(plain, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip()
