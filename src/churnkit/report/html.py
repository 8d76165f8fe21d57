"""The metric table and the self-contained HTML report of a training run.

The report is one HTML file that opens anywhere, e-mail attachments included: images are embedded as
base64 data URIs, the CSS is inline, and there is no script, web font or external link. A content
security policy in the page forbids loading anything else. All text goes through jinja2's autoescape.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import yaml

import churnkit
from churnkit.data.io import atomic_path
from churnkit.errors import InputError
from churnkit.report.plots import PALETTE, SERIES_LABELS

__all__ = [
    "BASE_METRICS",
    "FLAG_COLUMN",
    "HIGHER_IS_BETTER",
    "METRIC_INFO",
    "SPLITS",
    "format_metric",
    "metrics_table",
    "render_report",
]


@dataclass(frozen=True)
class MetricInfo:
    """How to show one metric: display name, direction, number format and a one-line meaning."""

    label: str
    higher_is_better: bool
    fmt: str
    meaning: str


METRIC_INFO: dict[str, MetricInfo] = {
    "churn_auc": MetricInfo(
        "Churn AUC",
        True,
        "{:.3f}",
        "Chance a churner is ranked riskier than a non-churner (0.5 = coin flip).",
    ),
    "churn_pr_auc": MetricInfo(
        "Churn PR-AUC", True, "{:.3f}", "Precision over all list sizes; a random list scores the churn rate."
    ),
    "churn_brier": MetricInfo(
        "Churn Brier score",
        False,
        "{:.3f}",
        "Mean squared gap between probability and outcome (0 = perfect).",
    ),
    "churn_logloss": MetricInfo(
        "Churn log-loss", False, "{:.3f}", "Penalises probabilities that were confident and wrong."
    ),
    "churn_ece": MetricInfo(
        "Calibration error (ECE)",
        False,
        "{:.3f}",
        "Average gap between predicted and observed churn rate over 10 bins.",
    ),
    "churn_lift_top10": MetricInfo(
        "Lift in top 10%",
        True,
        "{:.2f}×",
        "Churn rate of the riskiest 10% ÷ overall churn rate (1 = random).",
    ),
    "clv_mae": MetricInfo(
        "CLV mean absolute error", False, "{:,.2f}", "Average miss of predicted revenue per customer."
    ),
    "clv_rmse": MetricInfo(
        "CLV root mean squared error", False, "{:,.2f}", "Like the MAE, but large misses weigh more."
    ),
    "clv_spearman": MetricInfo(
        "CLV rank correlation",
        True,
        "{:.3f}",
        "Spearman correlation of predicted and actual revenue (1 = same order).",
    ),
    "clv_gini_norm": MetricInfo(
        "CLV normalised Gini",
        True,
        "{:.3f}",
        "How well the ranking puts revenue at the top, relative to a perfect ranking (0 = random).",
    ),
}
"""Display name, direction, format and meaning of each DESIGN.md metric (without prefix)."""

BASE_METRICS: tuple[str, ...] = tuple(METRIC_INFO)
"""The ten metric names, in table order."""

HIGHER_IS_BETTER: dict[str, bool] = {name: info.higher_is_better for name, info in METRIC_INFO.items()}

SPLITS: dict[str, str] = {"": "All customers", "_one_time": "One-time buyers", "_repeat": "Repeat buyers"}
"""Metric-name suffix of each customer group, and its display name."""

_PREFIXES: dict[str, str] = {
    "model": "",
    "baseline_recency": "baseline_recency_",
    "baseline_btyd": "baseline_btyd_",
}
FLAG_COLUMN = "better_than_baseline"

_MAX_TABLE_ROWS = 50

_PLOT_TEXT: dict[str, tuple[str, str]] = {
    "calibration": (
        "Are the churn probabilities right?",
        "Each point is a group of customers with similar predicted churn probability: across, the average "
        "prediction; up, the share who really churned. On the dashed line a predicted 30% means 30% churn. "
        "The lower panel shows how many customers got each score.",
    ),
    "gains": (
        "Who to contact first",
        "Customers are sorted from most to least at risk. The curves show which share of all churners you "
        "reach by contacting the first x% of that list; the higher the curve, the fewer contacts are wasted. "
        "The bars give the lift in the top 10%: how many times the overall churn rate it holds.",
    ),
    "importance": (
        "What drives the model",
        "The customer characteristics the model relies on most, as a share of its total gain. "
        "Importance shows what the model uses, not what causes churn.",
    ),
    "clv_deciles": (
        "Customer value: predicted vs actual",
        "Customers are split into ten equal groups by predicted revenue. Bars are what each group really "
        "spent, the line what was predicted. Good predictions rise from left to right and follow the bars.",
    ),
    "segment_profile": (
        "Behavioural segments",
        "Each segment's share of customers, its churn rate and its share of revenue.",
    ),
}

_PERCENT_COLUMNS = ("share", "rate", "pct", "probability")
_IN_SENTENCE = {"baseline_recency": "recency", "baseline_btyd": "BG/NBD"}


# --------------------------------------------------------------------------------------------- metric table


def _to_float(key: str, value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError) as e:
        raise InputError(f"metric {key} is not a number: {value!r}") from e


def _better(model: float, baselines: list[float], higher: bool) -> bool | None:
    known = [b for b in baselines if math.isfinite(b)]
    if not math.isfinite(model) or not known:
        return None
    return model > max(known) if higher else model < min(known)


def metrics_table(metrics: Mapping[str, float]) -> pd.DataFrame:
    """Model vs baselines, one row per metric: index ``metric``, columns model, baseline_recency, baseline_btyd.

    Rows are the ten DESIGN.md metric names, then the same names with ``_one_time`` / ``_repeat`` for each
    customer group that has at least one value. Missing values are NaN. ``better_than_baseline`` (nullable
    boolean) is True when the model strictly beats the best available baseline (higher is better for
    AUC, PR-AUC, lift, Spearman and Gini; lower for Brier, log-loss, ECE, MAE and RMSE), NA when the
    model or every baseline is missing. Other keys in ``metrics`` are ignored.
    """
    rows: list[str] = []
    for suffix in SPLITS:
        names = [name + suffix for name in BASE_METRICS]
        present = any(prefix + name in metrics for name in names for prefix in _PREFIXES.values())
        if suffix == "" or present:
            rows.extend(names)
    data = {
        column: [_to_float(prefix + row, metrics.get(prefix + row)) for row in rows]
        for column, prefix in _PREFIXES.items()
    }
    table = pd.DataFrame(data, index=pd.Index(rows, name="metric"), dtype="float64")
    flags = [
        _better(model, [rec, btyd], HIGHER_IS_BETTER[_base_name(row)])
        for row, model, rec, btyd in zip(
            rows, data["model"], data["baseline_recency"], data["baseline_btyd"], strict=True
        )
    ]
    table[FLAG_COLUMN] = pd.array(flags, dtype="boolean")
    return table


def _base_name(row: str) -> str:
    for suffix in ("_one_time", "_repeat"):
        if row.endswith(suffix):
            return row[: -len(suffix)]
    return row


def _split_of(row: str) -> str:
    return next((s for s in ("_one_time", "_repeat") if row.endswith(s)), "")


# --------------------------------------------------------------------------------------------- formatting


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def format_metric(name: str, value: float) -> str:
    """A metric value as shown in the report; '—' when missing."""
    if _is_missing(value) or not math.isfinite(value):
        return "—"
    text = METRIC_INFO[_base_name(name)].fmt.format(value)
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def _fmt_number(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3f}"


def _fmt_cell(value: Any, column: str) -> str:
    if _is_missing(value):
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        value = float(value)
        if any(word in column.lower() for word in _PERCENT_COLUMNS) and -1.0 <= value <= 1.0:
            return f"{100 * value:.1f}%"
        return _fmt_number(value)
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _humanise(key: str) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class _Table:
    title: str
    columns: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    total_rows: int


def _prepare_table(key: str, frame: pd.DataFrame) -> _Table:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"table {key!r} must be a pandas DataFrame, got {type(frame).__name__}")
    shown = frame.head(_MAX_TABLE_ROWS)
    if not isinstance(shown.index, pd.RangeIndex):
        shown = shown.reset_index()
    columns = [str(c) for c in shown.columns]
    numeric = [
        pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
        for c in shown.columns
    ]
    rows = [
        [_fmt_cell(value, column) for value, column in zip(record, columns, strict=True)]
        for record in shown.itertuples(index=False, name=None)
    ]
    return _Table(_humanise(key), [_humanise(c) for c in columns], numeric, rows, len(frame))


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flatten(value, prefix=f"{name}."))
        else:
            out.append((name, value))
    return out


def _config_text(config: Mapping[str, Any]) -> str:
    plain = json.loads(json.dumps(config, default=str))
    return yaml.safe_dump(plain, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip()


# --------------------------------------------------------------------------------------------- images

_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def _data_uri(name: str, path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: image {name!r} not found", path=str(path))
    data = path.read_bytes()
    mime = next((m for magic, m in _MAGIC.items() if data.startswith(magic)), None)
    if mime is None:
        raise InputError(f"{path}: image {name!r} is not a PNG or JPEG file", path=str(path))
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# --------------------------------------------------------------------------------------------- key numbers


@dataclass(frozen=True)
class _KeyNumber:
    value: str
    caption: str
    detail: str


def _baseline_text(metrics: Mapping[str, float], name: str, fmt: Any) -> str:
    parts = []
    for column in ("baseline_recency", "baseline_btyd"):
        value = _to_float(name, metrics.get(_PREFIXES[column] + name))
        if math.isfinite(value):
            parts.append(f"{_IN_SENTENCE[column]} {fmt(value)}")
    return f" Baselines: {', '.join(parts)}." if parts else ""


def _key_numbers(metrics: Mapping[str, float], table: pd.DataFrame, horizon: str) -> list[_KeyNumber]:
    """Plain-language headline numbers, each only when its metric is known."""

    def get(name: str) -> float:
        value = _to_float(name, metrics.get(name))
        return value if math.isfinite(value) else math.nan

    out: list[_KeyNumber] = []
    lift = get("churn_lift_top10")
    if math.isfinite(lift):
        share = min(lift * 0.10, 1.0)
        out.append(
            _KeyNumber(
                f"{100 * share:.0f}%",
                f"of the customers who stopped buying in {horizon} are in the model's top 10%",
                f"Of the customers who made no purchase in {horizon}, the model finds {100 * share:.0f}% "
                f"among its 10% riskiest customers: {lift:.1f} times what a random 10% would hold."
                + _baseline_text(metrics, "churn_lift_top10", lambda v: f"{10 * v:.0f}%"),
            )
        )
    auc = get("churn_auc")
    if math.isfinite(auc):
        out.append(
            _KeyNumber(
                f"{100 * auc:.0f}%",
                "of the time a churner is ranked riskier than a loyal customer",
                f"Given one customer who churned and one who kept buying, the model ranks the churner as riskier "
                f"{100 * auc:.0f}% of the time; a coin flip would manage 50% (AUC {auc:.3f})."
                + _baseline_text(metrics, "churn_auc", lambda v: f"{100 * v:.0f}%"),
            )
        )
    ece = get("churn_ece")
    if math.isfinite(ece):
        reading = (
            "so a predicted 30% means about 30% of such customers churn"
            if ece <= 0.05
            else "so use the scores to rank customers rather than as exact odds"
        )
        out.append(
            _KeyNumber(
                f"{100 * ece:.1f} pts",
                "average gap between predicted and observed churn rates",
                f"The churn probabilities are off by {100 * ece:.1f} percentage points on average, {reading}."
                + _baseline_text(metrics, "churn_ece", lambda v: f"{100 * v:.1f} pts"),
            )
        )
    mae = get("clv_mae")
    if math.isfinite(mae):
        out.append(
            _KeyNumber(
                f"{mae:,.2f}",
                f"average miss of predicted revenue per customer over {horizon}",
                f"Predicted revenue over {horizon} misses the actual by {mae:,.2f} per customer on average."
                + _baseline_text(metrics, "clv_mae", lambda v: f"{v:,.2f}"),
            )
        )
    flags = table.loc[list(BASE_METRICS), FLAG_COLUMN].dropna()
    if len(flags):
        wins = int(flags.sum())
        out.append(
            _KeyNumber(
                f"{wins} of {len(flags)}",
                "measures where the model beats the best baseline",
                f"The model beats the best baseline on {wins} of the {len(flags)} measures that could be compared.",
            )
        )
    return out


def _split_sentence(metrics: Mapping[str, float]) -> str | None:
    parts = []
    for suffix in ("_one_time", "_repeat"):
        value = _to_float("churn_auc" + suffix, metrics.get("churn_auc" + suffix))
        if math.isfinite(value):
            parts.append(f"{SPLITS[suffix].lower()} {value:.3f}")
    if not parts:
        return None
    return "Churn AUC by customer group: " + ", ".join(parts) + "."


# --------------------------------------------------------------------------------------------- template

_TEMPLATE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="generator" content="churnkit {{ version }}">
<title>{{ title }}</title>
<style>
  :root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --soft: #f5f7fa; --model: #0072B2;
          --good: #1a7f37; --bad: #b42318; }
  * { box-sizing: border-box; }
  body { margin: 0; background: #eef1f4; color: var(--ink);
         font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
  main { max-width: 1080px; margin: 24px auto; background: #fff; padding: 32px 40px 40px;
         border-radius: 10px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  header { border-bottom: 3px solid var(--model); padding-bottom: 14px; margin-bottom: 8px; }
  h1 { font-size: 28px; margin: 0 0 6px; letter-spacing: -.01em; }
  h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
  h3 { font-size: 16px; margin: 24px 0 6px; }
  .meta { color: var(--muted); font-size: 14px; margin: 0; }
  .meta span + span::before { content: "·"; margin: 0 8px; color: #9aa5b1; }
  code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
  .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0 8px; }
  .card { flex: 1 1 180px; background: var(--soft); border-left: 4px solid var(--model);
          border-radius: 6px; padding: 12px 14px; }
  .card .value { font-size: 26px; font-weight: 700; color: var(--model); line-height: 1.2; }
  .card .caption { font-size: 13px; color: var(--muted); }
  ul.plain { padding-left: 20px; margin: 8px 0; }
  ul.plain li { margin: 4px 0; }
  table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 8px 0; }
  th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
  th { background: var(--soft); font-weight: 600; white-space: nowrap; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  tbody tr:nth-child(even) td { background: #fbfcfd; }
  tr.group td { background: #e9eef5 !important; font-weight: 700; color: #334e68; }
  td.best { font-weight: 700; }
  .meaning { color: var(--muted); font-size: 12.5px; }
  .name code { color: var(--muted); font-size: 11.5px; }
  .mark { font-weight: 700; white-space: nowrap; }
  .mark.yes { color: var(--good); } .mark.no { color: var(--bad); } .mark.na { color: #9aa5b1; }
  .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
  .scroll { overflow-x: auto; }
  figure { margin: 24px 0; }
  figure img { display: block; max-width: 100%; height: auto; margin: 8px auto;
               border: 1px solid var(--line); border-radius: 6px; }
  figcaption { color: var(--muted); font-size: 13.5px; max-width: 820px; }
  figcaption strong { color: var(--ink); font-size: 15px; display: block; margin-bottom: 2px; }
  .note { color: var(--muted); font-size: 12.5px; }
  details { background: var(--soft); border-radius: 6px; padding: 10px 14px; }
  summary { cursor: pointer; font-weight: 600; }
  pre { white-space: pre-wrap; word-break: break-word; margin: 10px 0 0; }
  footer { margin-top: 36px; color: #9aa5b1; font-size: 12px; text-align: center; }
  @media (max-width: 700px) { main { padding: 20px 16px; margin: 0; border-radius: 0; } }
  @media print { body { background: #fff; } main { box-shadow: none; margin: 0; max-width: none; }
                 figure { break-inside: avoid; } }
</style>
</head>
<body>
<main>
<header>
  <h1>{{ title }}</h1>
  <p class="meta">
    <span>Generated {{ generated }}</span>
    {% for label, value in header_facts %}<span>{{ label }}: {{ value }}</span>{% endfor %}
  </p>
</header>

{% if key_numbers %}
<section id="key-numbers">
  <h2>Key numbers</h2>
  <div class="cards">
    {% for k in key_numbers %}
    <div class="card"><div class="value">{{ k.value }}</div><div class="caption">{{ k.caption }}</div></div>
    {% endfor %}
  </div>
  <ul class="plain">
    {% for k in key_numbers %}<li>{{ k.detail }}</li>{% endfor %}
    {% if split_sentence %}<li>{{ split_sentence }}</li>{% endif %}
  </ul>
</section>
{% endif %}

<section id="metrics">
  <h2>Model vs baselines</h2>
  <p class="note">Measured on a held-out period the model never saw (a time-based backtest).
    ✓ marks a metric where the model beats the best baseline; the better value in each row is in bold.</p>
  <div class="scroll">
  <table class="metrics">
    <thead><tr>
      <th>Metric</th><th>What it means</th>
      {% for col in metric_columns %}<th class="num"><span class="swatch" style="background: {{ col.colour }}"></span>{{ col.label }}</th>{% endfor %}
      <th>Beats baselines</th>
    </tr></thead>
    <tbody>
    {% for group in metric_groups %}
      {% if metric_groups | length > 1 %}<tr class="group"><td colspan="{{ metric_columns | length + 3 }}">{{ group.title }}</td></tr>{% endif %}
      {% for row in group.rows %}
      <tr>
        <td class="name">{{ row.label }}<br><code>{{ row.name }}</code></td>
        <td class="meaning">{{ row.meaning }} <em>{{ "Higher" if row.higher else "Lower" }} is better.</em></td>
        {% for cell in row.cells %}<td class="num{{ ' best' if cell.best else '' }}">{{ cell.text }}</td>{% endfor %}
        <td><span class="mark {{ row.flag_class }}">{{ row.flag_text }}</span></td>
      </tr>
      {% endfor %}
    {% endfor %}
    </tbody>
  </table>
  </div>
</section>

{% if figures %}
<section id="plots">
  <h2>Plots</h2>
  {% for fig in figures %}
  <figure id="plot-{{ fig.name }}">
    <figcaption><strong>{{ fig.title }}</strong>{{ fig.caption }}</figcaption>
    <img src="{{ fig.uri }}" alt="{{ fig.title }}">
  </figure>
  {% endfor %}
</section>
{% endif %}

{% for table in tables %}
<section class="table">
  <h2>{{ table.title }}</h2>
  <div class="scroll">
  <table>
    <thead><tr>{% for col in table.columns %}<th{{ ' class=num' | safe if table.numeric[loop.index0] else '' }}>{{ col }}</th>{% endfor %}</tr></thead>
    <tbody>
    {% for row in table.rows %}
      <tr>{% for cell in row %}<td{{ ' class=num' | safe if table.numeric[loop.index0] else '' }}>{{ cell }}</td>{% endfor %}</tr>
    {% endfor %}
    </tbody>
  </table>
  </div>
  {% if table.total_rows > table.rows | length %}<p class="note">Showing the first {{ table.rows | length }} of {{ "{:,}".format(table.total_rows) }} rows.</p>{% endif %}
</section>
{% endfor %}

{% if summary_rows %}
<section id="data-summary">
  <h2>Data summary</h2>
  <table>
    <tbody>
    {% for label, value in summary_rows %}<tr><th>{{ label }}</th><td>{{ value }}</td></tr>{% endfor %}
    </tbody>
  </table>
</section>
{% endif %}

{% if notes %}
<section id="notes">
  <h2>Notes</h2>
  <ul class="plain">{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
</section>
{% endif %}

{% if config_text %}
<section id="configuration">
  <h2>Configuration</h2>
  <details>
    <summary>Settings used for this run</summary>
    <pre>{{ config_text }}</pre>
  </details>
</section>
{% endif %}

<footer>churnkit {{ version }}</footer>
</main>
</body>
</html>
"""


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.from_string(_TEMPLATE)


# --------------------------------------------------------------------------------------------- report


def _metric_groups(table: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for name, row in table.iterrows():
        base = _base_name(str(name))
        info = METRIC_INFO[base]
        values = [float(row[c]) for c in columns]
        if _split_of(str(name)) and not any(math.isfinite(v) for v in values):
            continue  # a group's metric that was not computed (e.g. CLV per group): leave the row out
        finite = [v for v in values if math.isfinite(v)]
        best = (max(finite) if info.higher_is_better else min(finite)) if len(finite) > 1 else None
        flag = row[FLAG_COLUMN]
        flag_class, flag_text = (
            ("na", "—") if flag is pd.NA else (("yes", "✓ yes") if flag else ("no", "✗ no"))
        )
        groups.setdefault(_split_of(str(name)), []).append(
            {
                "name": str(name),
                "label": info.label,
                "meaning": info.meaning,
                "higher": info.higher_is_better,
                "cells": [
                    {"text": format_metric(base, v), "best": best is not None and v == best} for v in values
                ],
                "flag_class": flag_class,
                "flag_text": flag_text,
            }
        )
    return [{"title": SPLITS[suffix], "rows": rows} for suffix, rows in groups.items()]


def render_report(
    out: str | Path,
    *,
    title: str,
    metrics: Mapping[str, float],
    images: Mapping[str, str | Path],
    tables: Mapping[str, pd.DataFrame] | None = None,
    summary: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    notes: Sequence[str] | None = None,
) -> Path:
    """Write the run's report as one self-contained HTML file at ``out`` (atomically) and return its path.

    Sections: header (title, date, run id / as-of / horizon from ``summary``), key numbers in plain words,
    the model-vs-baselines metric table, the ``images`` (PNG or JPEG files, embedded; names from
    :func:`~churnkit.report.plots.make_plots` get a title and a how-to-read caption), each of ``tables``
    (first 50 rows), the data ``summary``, ``notes`` and the ``config`` in a collapsible block.
    A missing or non-image file raises :class:`~churnkit.errors.InputError` before anything is written.
    """
    summary = dict(summary or {})
    config = dict(config or {})
    table = metrics_table(metrics)

    horizon_days = summary.get("horizon_days", config.get("horizon_days"))
    horizon = f"the next {horizon_days} days" if horizon_days else "the backtest horizon"

    header_facts = [
        (label, _fmt_cell(summary[key], key) if key != "horizon_days" else f"{summary[key]} days")
        for key, label in (("run_id", "Run"), ("as_of", "As of"), ("horizon_days", "Horizon"))
        if key in summary and not _is_missing(summary[key])
    ]
    if "horizon_days" not in summary and horizon_days:
        header_facts.append(("Horizon", f"{horizon_days} days"))

    columns = [c for c in _PREFIXES if c == "model" or table[c].notna().any()]
    metric_columns = [{"label": SERIES_LABELS[c], "colour": PALETTE[c]} for c in columns]
    figures = []
    for name, path in images.items():
        heading, caption = _PLOT_TEXT.get(name, (_humanise(name), ""))
        figures.append({"name": name, "title": heading, "caption": caption, "uri": _data_uri(name, path)})

    summary_rows = [
        (_humanise(key), _fmt_cell(value, key))
        for key, value in _flatten(summary)
        if key not in ("run_id", "as_of", "horizon_days")
    ]
    html = _template().render(
        title=title,
        version=churnkit.__version__,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        header_facts=header_facts,
        key_numbers=_key_numbers(metrics, table, horizon),
        split_sentence=_split_sentence(metrics),
        metric_columns=metric_columns,
        metric_groups=_metric_groups(table, columns),
        figures=figures,
        tables=[_prepare_table(key, frame) for key, frame in (tables or {}).items()],
        summary_rows=summary_rows,
        notes=[str(n) for n in (notes or [])],
        config_text=_config_text(config) if config else "",
    )
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return out
