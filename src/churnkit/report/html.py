"""The self-contained HTML report of a training run, for the marketer and the data scientist.

The report is one HTML file that opens anywhere, e-mail attachments included: images are embedded as
base64 data URIs, the CSS is inline, and there is no script, web font or external link. A content
security policy in the page forbids loading anything else. All text goes through jinja2's autoescape.
The page is the template ``templates/report.html.j2`` (with ``report.css``), through `churnkit.report.page`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

import churnkit
from churnkit.report.campaign import campaign_summary
from churnkit.report.data_summary import data_summary
from churnkit.report.formatting import config_text, fmt_cell, fmt_pct, humanise, prepare_table
from churnkit.report.metrics import (
    BASE_METRICS,
    FLAG_COLUMN,
    HIGHER_IS_BETTER,
    METRIC_INFO,
    PREFIXES,
    SPLITS,
    base_name,
    format_metric,
    is_missing,
    metric_value,
    metrics_table,
    split_of,
)
from churnkit.report.page import TEMPLATE_DIR, data_uri, generated_stamp, template, write_page
from churnkit.report.plots import PALETTE, PLOT_NAMES, SERIES_LABELS
from churnkit.report.sections import backtest_facts, campaign_view, key_numbers, profile_table

__all__ = [
    "BASE_METRICS",
    "FLAG_COLUMN",
    "HIGHER_IS_BETTER",
    "METRIC_INFO",
    "SPLITS",
    "TEMPLATE_DIR",
    "format_metric",
    "metrics_table",
    "render_report",
]

_WIDE_FIGURES = ("cohorts",)
"""Figures shown at their own size in a sideways-scrolling box (their cells carry numbers)."""

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
    "cohorts": (
        "Cohort retention",
        "Each row is a cohort: the customers whose first purchase fell in that period. Each cell is the share of "
        "the cohort that bought again n periods later (column 0, the first period, is 100%). Colours run from "
        "0% to the largest value on a square-root scale, so small shares still differ; scroll sideways when it is wide.",
    ),
}


def _split_sentence(metrics: Mapping[str, float]) -> str | None:
    parts = []
    for suffix in ("_one_time", "_repeat"):
        value = metric_value(metrics, "churn_auc" + suffix)
        if math.isfinite(value):
            parts.append(f"{SPLITS[suffix].lower()} {value:.3f}")
    if not parts:
        return None
    return "Churn AUC by customer group: " + ", ".join(parts) + "."


def _metric_groups(table: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for name, row in table.iterrows():
        base = base_name(str(name))
        info = METRIC_INFO[base]
        values = [float(row[c]) for c in columns]
        if split_of(str(name)) and not any(math.isfinite(v) for v in values):
            continue  # a group's metric that was not computed (e.g. CLV per group): leave the row out
        finite = [v for v in values if math.isfinite(v)]
        best = (max(finite) if info.higher_is_better else min(finite)) if len(finite) > 1 else None
        flag = row[FLAG_COLUMN]
        flag_class, flag_text = (
            ("na", "—") if flag is pd.NA else (("yes", "✓ yes") if flag else ("no", "✗ no"))
        )
        groups.setdefault(split_of(str(name)), []).append(
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


def _profile_snapshot(summary: Mapping[str, Any]) -> str:
    """The snapshot the segment profiles were fitted on: the latest labelled one of the final model."""
    dates = [str(d) for d in summary.get("final_as_ofs") or summary.get("train_as_ofs") or []]
    return max(dates) if dates else str(summary.get("test_as_of") or "")


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
    profile: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    predictions: pd.DataFrame | None = None,
    budget: float | None = None,
    cost_per_contact: float | None = None,
    save_rate: float | None = None,
) -> Path:
    """Write the run's report as one self-contained HTML file at ``out`` (atomically) and return its path.

    Sections: header (title, date, run id / as-of / horizon from ``summary``); key numbers in plain words
    (with the backtest ``predictions``: churn rates of the riskiest and safest 10% against the base rate);
    the campaign (from ``scores``, the score table of the base at the as-of date: customers, expected
    churners and value at stake per recommended action and risk tier, and the pick of
    :func:`~churnkit.targeting.select_customers` for ``budget`` and ``cost_per_contact``); the
    model-vs-baselines metric table; the ``images`` (PNG or JPEG files, embedded; names from
    :func:`~churnkit.report.plots.make_plots` get a title and a how-to-read caption); the segment
    ``profile`` (one column per segment, with the segment sizes at the as-of date from ``scores``);
    each of ``tables`` (first 50 rows); the data ``summary`` as a definition list; ``notes``; the
    ``config`` in a collapsible block. A missing or non-image file raises
    :class:`~churnkit.errors.InputError` before anything is written.
    """
    summary = dict(summary or {})
    config = dict(config or {})
    table = metrics_table(metrics)

    horizon_days = summary.get("horizon_days", config.get("horizon_days"))
    horizon = f"the next {horizon_days} days" if horizon_days else "the backtest horizon"

    header_facts = [
        (label, fmt_cell(summary[key], key) if key != "horizon_days" else f"{summary[key]} days")
        for key, label in (("run_id", "Run"), ("as_of", "As of"), ("horizon_days", "Horizon"))
        if key in summary and not is_missing(summary[key])
    ]
    if "horizon_days" not in summary and horizon_days:
        header_facts.append(("Horizon", f"{horizon_days} days"))

    columns = [c for c in PREFIXES if c == "model" or table[c].notna().any()]
    metric_columns = [{"label": SERIES_LABELS[c], "colour": PALETTE[c]} for c in columns]
    figures = []
    rank = {name: i for i, name in enumerate(PLOT_NAMES)}  # report order, whatever order the files came in
    for name, path in sorted(images.items(), key=lambda item: rank.get(item[0], len(rank))):
        heading, caption = _PLOT_TEXT.get(name, (humanise(name), ""))
        if name == "segment_profile" and _profile_snapshot(summary):
            caption += (
                f" Measured at the latest labelled snapshot, {_profile_snapshot(summary)}; the table "
                "of segment profiles also counts each segment in the base at the as-of date."
            )
        figures.append(
            {
                "name": name,
                "title": heading,
                "caption": caption,
                "uri": data_uri(name, path),
                "wide": name in _WIDE_FIGURES,
            }
        )

    facts = backtest_facts(predictions)
    intro = ""
    if "base_rate" in facts:
        when = f" snapshot {summary['test_as_of']}" if summary.get("test_as_of") else ""
        intro = (
            f"Backtest{when}: the model was trained on earlier data and scored the {facts['n']:,.0f} customers "
            f"in the base on that day; {fmt_pct(facts['base_rate'])} of them made no purchase in {horizon}."
        )
    as_of = str(summary.get("as_of") or "the as-of date")
    campaign = None
    if scores is not None:
        campaign = campaign_view(
            campaign_summary(scores, budget=budget, cost_per_contact=cost_per_contact),
            as_of=as_of,
            horizon=horizon,
            save_rate=save_rate,
        )
        campaign["intro"] = (
            f"The scored customer base at the as-of date {as_of}: every customer with a purchase before that day, "
            f"with the churn probability and predicted revenue for {horizon}."
        )
    profile_view = None
    if profile is not None and not profile.empty:
        profile_view = profile_table(
            profile, scores=scores, snapshot=_profile_snapshot(summary), as_of=str(summary.get("as_of") or "")
        )
    summary_facts, load_table = data_summary(
        {k: v for k, v in summary.items() if k != "run_id"}, horizon_days=horizon_days
    )
    html = template("report.html.j2").render(
        title=title,
        version=churnkit.__version__,
        generated=generated_stamp(),
        header_facts=header_facts,
        backtest_intro=intro,
        key_numbers=key_numbers(metrics, table, horizon, facts),
        split_sentence=_split_sentence(metrics),
        campaign=campaign,
        metric_columns=metric_columns,
        metric_groups=_metric_groups(table, columns),
        figures=figures,
        profile=profile_view,
        tables=[prepare_table(key, frame) for key, frame in (tables or {}).items()],
        summary_facts=summary_facts,
        load_table=load_table,
        notes=[str(n) for n in (notes or [])],
        config_text=config_text(config) if config else "",
    )
    return write_page(out, html)
