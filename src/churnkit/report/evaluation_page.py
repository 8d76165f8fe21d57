"""The "After the campaign" page of `churnkit evaluate --out F.html`: did the scores hold up, did the campaign work?

One self-contained HTML file in the training report's house style (same CSS, images as base64 PNG data URIs,
no script): the realized metrics beside the backtest's promise and the verdict, the realized calibration and
cumulative gains plots (the training report's plot functions, fed the realized outcomes), the campaign
section (target vs control, from `churnkit.monitoring.campaign.measure_campaign`) when the scores file has
a ``group`` column, and the per-tier / per-segment tables of `Evaluation.by_group`. No MLflow here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

import churnkit
from churnkit.report.formatting import Table, fmt_money, fmt_pct, humanise, prepare_table
from churnkit.report.labels import column_label
from churnkit.report.metrics import METRIC_INFO
from churnkit.report.page import data_uri, generated_stamp, template, write_page
from churnkit.report.plots import calibration_plot, gains_plot
from churnkit.report.plotting import PALETTE, house_style, save_png

if TYPE_CHECKING:
    from churnkit.monitoring.campaign import CampaignResult
    from churnkit.monitoring.realized import Evaluation

__all__ = ["lift_plot", "render_evaluation_page", "write_evaluation_page"]

_TIER_ORDER = ("very high", "high", "medium", "low", "very low")
_SPLIT_TITLES = {
    "risk_tier": "By risk tier",
    "value_tier": "By value tier",
    "segment": "By segment",
    "buyer_type": "One-time vs repeat buyers",
    "group": "By holdout group (target / control)",
}


_HEADERS = {
    "level": "Group",
    "customers": "Customers",
    "predicted_churn": "Predicted churn rate",
    "realized_churn": "Realized churn rate",
    "predicted_clv": "Predicted revenue per customer (CLV)",
    "realized_revenue": "Realized revenue per customer",
    "split": "Split",
    "n_target": "Target customers",
    "n_control": "Control customers",
    "retention_lift": "Retention lift (pp)",
    "retention_ci_low": "95% CI low (pp)",
    "retention_ci_high": "95% CI high (pp)",
    "retention_p": "Retention p-value",
    "revenue_lift": "Revenue per customer lift",
    "revenue_p": "Revenue p-value",
}
_PERCENT_COLUMNS = ("predicted_churn", "realized_churn")
_PP_COLUMNS = ("retention_lift", "retention_ci_low", "retention_ci_high")


def _header(column: str) -> str:
    if column in _HEADERS:
        return _HEADERS[column]
    if column in METRIC_INFO:
        return METRIC_INFO[column].label
    return column_label(column)


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """Shares as percentages and retention lifts in percentage points, as text where the rule differs."""
    out = frame.copy()
    for col in _PERCENT_COLUMNS:
        if col in out.columns:
            out[col] = [fmt_pct(v) for v in out[col]]
    for col in _PP_COLUMNS:
        if col in out.columns:
            out[col] = ["—" if not math.isfinite(v) else f"{100 * v:+.2f}" for v in out[col].astype(float)]
    for col in ("retention_p", "revenue_p"):
        if col in out.columns:
            out[col] = ["—" if not math.isfinite(v) else f"{v:.3g}" for v in out[col].astype(float)]
    return out


def _table(title: str, frame: pd.DataFrame) -> Table:
    """`prepare_table` of the display frame, numbers right-aligned as in the original frame."""
    table = prepare_table(title, _display(frame), header=_header)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    return dataclasses.replace(table, numeric=numeric)


def _metric_label(name: str) -> tuple[str, str]:
    info = METRIC_INFO.get(name)
    return (info.label, info.meaning) if info else (humanise(name), "")


def _num(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _metric_rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    checks = {c["metric"]: c for c in evaluation.checks}
    rows = []
    for name, value in evaluation.metrics.items():
        label, meaning = _metric_label(name)
        bt = evaluation.backtest.get(name, math.nan)
        check = checks.get(name)
        rows.append(
            {
                "name": name,
                "label": label,
                "meaning": meaning,
                "realized": _num(value),
                "backtest": _num(bt),
                "difference": "—"
                if not math.isfinite(bt) or not math.isfinite(value)
                else f"{value - bt:+.4f}",
                "check": "" if check is None else ("held" if check["held"] else "worse"),
                "tolerance": "" if check is None else f"±{check['tolerance']}",
                "checked": "" if check is None else f"{check['realized']:.4f}",
            }
        )
    return rows


def _verdict(evaluation: Evaluation) -> tuple[str, str]:
    """(css class, sentence in words)."""
    if evaluation.held_up is None:
        return (
            "unknown",
            "No verdict: there is no backtest to compare with (give --model, the model or run that made these "
            f"scores). Predicted churn rate {fmt_pct(evaluation.predicted_churn_rate)}, realized "
            f"{fmt_pct(evaluation.realized_churn_rate)}.",
        )
    parts = []
    for c in evaluation.checks:
        label, _ = _metric_label(c["metric"])
        word = "within" if c["held"] else "outside"
        parts.append(
            f"{label} {c['realized']:.3f} against {c['backtest']:.3f} promised ({word} the ±{c['tolerance']} rule)"
        )
    head = "The model held up" if evaluation.held_up else "The model did NOT hold up"
    return (
        "held" if evaluation.held_up else "worse",
        f"{head}, checked on {evaluation.checked_on}: " + "; ".join(parts) + ".",
    )


def lift_plot(campaign: CampaignResult, path: str | Path) -> Path:
    """Retention lift (percentage points) and revenue lift per customer: point, 95 % interval, zero line."""
    items = [
        ("Retention lift (pp)", campaign.retention, 100.0),
        ("Revenue per customer lift", campaign.revenue_per_customer, 1.0),
    ]
    with house_style():
        fig = Figure(figsize=(10.5, 3.4), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax, (title, test, scale) in zip(axes, items, strict=True):
            lift, lo, hi = (test[k] * scale for k in ("lift", "ci_low", "ci_high"))
            ax.axvline(0.0, ls="--", lw=1.2, color=PALETTE["reference"])
            ax.errorbar(
                [lift],
                [0],
                xerr=[[lift - lo], [hi - lift]],
                fmt="o",
                ms=8,
                capsize=6,
                lw=2,
                color=PALETTE["model"],
            )
            span = max(abs(lo), abs(hi), 1e-9) * 1.25
            ax.set(xlim=(-span, span), ylim=(-1, 1), yticks=[])
            ax.set_title(
                f"{title}: {lift:+.2f}\n95% CI {lo:+.2f} to {hi:+.2f}, p = {test['p_value']:.3g}",
                loc="left",
                fontsize=10,
            )
        fig.suptitle("Campaign lift, target − control, with its 95% interval")
        return save_png(fig, path)


def _campaign_context(campaign: CampaignResult, uri: str) -> dict[str, Any]:
    r, v = campaign.retention, campaign.revenue_per_customer
    lo, hi = campaign.incremental_revenue_ci
    rows = [
        ["Customers", f"{int(r['n_target']):,}", f"{int(r['n_control']):,}", "", "", ""],
        [
            "Retention (bought again in the window)",
            fmt_pct(r["target"], 2),
            fmt_pct(r["control"], 2),
            f"{r['lift'] * 100:+.2f} pp",
            f"{r['ci_low'] * 100:+.2f} to {r['ci_high'] * 100:+.2f} pp",
            f"{r['p_value']:.3g}",
        ],
        [
            "Revenue per customer",
            fmt_money(v["target"]),
            fmt_money(v["control"]),
            f"{v['lift']:+,.2f}",
            f"{v['ci_low']:+,.2f} to {v['ci_high']:+,.2f}",
            f"{v['p_value']:.3g}",
        ],
    ]
    significant = r["p_value"] < 0.05 and (r["ci_low"] > 0 or r["ci_high"] < 0)
    if significant and r["lift"] > 0:
        said = "The campaign kept more customers than leaving them alone would have: the retention lift is significant at 5%."
    elif significant:
        said = "The target group kept FEWER customers than the control group: the campaign did harm."
    else:
        said = (
            "The retention difference between target and control is not significant at 5%: no proven effect."
        )
    facts = [
        f"Incremental revenue {campaign.incremental_revenue:+,.2f} (95% CI {lo:+,.2f} to {hi:+,.2f}).",
        f"Incremental retained customers {campaign.incremental_customers:+,.1f}.",
    ]
    if campaign.cost is not None:
        roi = (
            "undefined" if campaign.roi is None or not math.isfinite(campaign.roi) else f"{campaign.roi:+.1%}"
        )
        facts.append(
            f"Cost {campaign.cost:,.2f} for {campaign.contacts:,} contacts; return on the campaign {roi}."
        )
    groups = None
    if not campaign.by_group.empty:
        frame = _ordered(campaign.by_group)
        frame["split"] = frame["split"].map(humanise)
        groups = _table("campaign lift by tier and segment", frame)
    return {
        "analysis": campaign.analysis,
        "rows": rows,
        "said": said,
        "facts": facts,
        "plot": uri,
        "groups": groups,
        "notes": list(campaign.notes),
    }


def _ordered(by_group: pd.DataFrame) -> pd.DataFrame:
    """Splits in their first-seen order; tiers from the riskiest / most valuable down, other levels as given."""
    splits = {split: i for i, split in enumerate(dict.fromkeys(by_group["split"]))}
    rank = {level: i for i, level in enumerate(_TIER_ORDER)}
    key = pd.DataFrame(
        {
            "split": by_group["split"].map(splits),
            "tier": by_group["level"].astype(str).map(lambda v: rank.get(v, len(rank))),
            "row": range(len(by_group)),
        },
        index=by_group.index,
    )
    order = key.sort_values(["split", "tier", "row"]).index
    return by_group.loc[order].reset_index(drop=True)


def _group_tables(by_group: pd.DataFrame) -> list[Any]:
    if by_group.empty:
        return []
    tables = []
    for split, part in _ordered(by_group).groupby("split", sort=False):
        frame = part.drop(columns="split").dropna(axis=1, how="all").reset_index(drop=True)
        title = _SPLIT_TITLES.get(str(split), humanise(str(split)))
        tables.append(_table(title, frame))
    return tables


def render_evaluation_page(
    evaluation: Evaluation, campaign: CampaignResult | None = None, *, generated: dt.datetime | None = None
) -> str:
    """The page as a string. ``campaign``: `measure_campaign` on the same scores and data (or None)."""
    frame = evaluation.outcomes
    figures = []
    with tempfile.TemporaryDirectory(prefix="churnkit-evaluation-") as tmp:
        if frame is not None and frame["churned"].notna().any():
            plot_frame = frame[["churned", "churn_probability"]]
            for name, func, title, caption in (
                (
                    "calibration",
                    calibration_plot,
                    "Realized calibration",
                    "Customers grouped by the churn probability they were given; up, the share that really made no "
                    "purchase in the window. On the dashed line the scores were right.",
                ),
                (
                    "gains",
                    gains_plot,
                    "Realized cumulative gains",
                    "Customers sorted by their score, riskiest first: the share of the real churners found by "
                    "contacting the first x%. The bars give the realized lift in the top 10%.",
                ),
            ):
                path = func(plot_frame, Path(tmp) / f"{name}.png", horizon_days=evaluation.horizon_days)
                figures.append(
                    {"name": name, "title": title, "caption": caption, "uri": data_uri(name, path)}
                )
        campaign_ctx = None
        if campaign is not None:
            uri = data_uri("lift", lift_plot(campaign, Path(tmp) / "lift.png"))
            campaign_ctx = _campaign_context(campaign, uri)
    verdict_class, verdict = _verdict(evaluation)
    top = float(evaluation.metrics.get("churn_lift_top10", math.nan))
    return template("evaluation.html.j2").render(
        title=f"After the campaign: scores of {evaluation.as_of}",
        version=churnkit.__version__,
        generated=generated_stamp(generated),
        header_facts=[
            ("Scores as of", str(evaluation.as_of)),
            ("Horizon", f"{evaluation.horizon_days} days"),
            ("Customers", f"{evaluation.customers:,}"),
        ],
        cards=[
            (fmt_pct(evaluation.predicted_churn_rate), "churn rate predicted"),
            (fmt_pct(evaluation.realized_churn_rate), "churn rate realized"),
            *([(f"{top:.2f}×", "realized lift in the top 10% by score")] if math.isfinite(top) else []),
        ],
        verdict=verdict,
        verdict_class=verdict_class,
        has_backtest=bool(evaluation.backtest),
        checked_on=evaluation.checked_on,
        metric_rows=_metric_rows(evaluation),
        figures=figures,
        campaign=campaign_ctx,
        group_tables=_group_tables(evaluation.by_group),
        notes=list(evaluation.notes),
    )


def write_evaluation_page(
    evaluation: Evaluation, path: str | Path, campaign: CampaignResult | None = None
) -> Path:
    """Write the page to ``path`` atomically; returns the path."""
    return write_page(path, render_evaluation_page(evaluation, campaign))
