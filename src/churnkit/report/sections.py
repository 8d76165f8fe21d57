"""The report's sections in plain words: key numbers, campaign and segment profiles (data summary: `data_summary`).

Each function turns logged tables and facts into what the template shows (text, cards, small tables);
nothing here reads files or knows about MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from churnkit.models.metrics import lift_at
from churnkit.report.campaign import Campaign
from churnkit.report.formatting import Table, fmt_cell, fmt_money, fmt_pct, humanise, prepare_table
from churnkit.report.labels import column_label
from churnkit.report.metrics import BASE_METRICS, FLAG_COLUMN, baseline_text, metric_value

__all__ = [
    "KeyNumber",
    "backtest_facts",
    "campaign_view",
    "key_numbers",
    "profile_table",
]


@dataclass(frozen=True)
class KeyNumber:
    value: str
    caption: str
    detail: str


# --------------------------------------------------------------------------------------------- key numbers


def backtest_facts(predictions: pd.DataFrame | None) -> dict[str, float]:
    """Base churn rate, churn rate of the safest 10% and revenue share of the top CLV decile, from the backtest."""
    if predictions is None or "churned" not in predictions.columns:
        return {}
    y = pd.to_numeric(predictions["churned"], errors="coerce")
    out: dict[str, float] = {"n": float(y.notna().sum())}
    if not y.notna().any():
        return out
    out["base_rate"] = float(y.mean())
    if "churn_probability" in predictions.columns:
        p = pd.to_numeric(predictions["churn_probability"], errors="coerce")
        ok = y.notna() & p.notna()
        if ok.sum() >= 10 and 0 < y[ok].mean() < 1:
            # The 10% with the lowest churn probability = the top 10% of 1 - p (ties shared, as in the metric).
            out["safest_rate"] = float(lift_at(y[ok], 1.0 - p[ok].clip(0, 1), share=0.1) * y[ok].mean())
    if {"future_revenue", "predicted_clv"} <= set(predictions.columns):
        rev = pd.to_numeric(predictions["future_revenue"], errors="coerce").fillna(0.0)
        clv = pd.to_numeric(predictions["predicted_clv"], errors="coerce")
        k = math.ceil(0.1 * len(rev))
        if k and rev.sum() > 0 and clv.notna().any():
            top = clv.rank(method="first", ascending=False) <= k
            out["top_clv_revenue_share"] = float(rev[top].sum() / rev.sum())
    return out


def key_numbers(
    metrics: Mapping[str, float], table: pd.DataFrame, horizon: str, facts: Mapping[str, float]
) -> list[KeyNumber]:
    """Headline numbers that read the same at any churn rate, each only when its inputs are known."""
    out: list[KeyNumber] = []
    base = facts.get("base_rate", math.nan)
    lift = metric_value(metrics, "churn_lift_top10")
    times = baseline_text(metrics, "churn_lift_top10", lambda v: f"{v:.2f}×")
    if math.isfinite(lift) and math.isfinite(base) and base > 0:
        top = min(lift * base, 1.0)
        out.append(
            KeyNumber(
                fmt_pct(top),
                f"churn rate in the riskiest 10% vs {fmt_pct(base)} overall (lift {lift:.2f}×)",
                f"Of the 10% of customers the model rated riskiest, {fmt_pct(top)} made no purchase in "
                f"{horizon}, against {fmt_pct(base)} of all customers: a lift of {lift:.2f}× (random = 1×; "
                f"at this churn rate no ranking can do better than {1 / base:.2f}×)." + times,
            )
        )
    elif math.isfinite(lift):
        out.append(
            KeyNumber(
                f"{lift:.2f}×",
                "lift in the riskiest 10%: their churn rate ÷ the overall churn rate",
                f"The 10% of customers the model rated riskiest made no purchase in {horizon} {lift:.2f} times "
                f"as often as the average customer (random = 1×)." + times,
            )
        )
    safest = facts.get("safest_rate", math.nan)
    if math.isfinite(safest) and math.isfinite(base):
        out.append(
            KeyNumber(
                fmt_pct(safest),
                f"churn rate in the safest 10% vs {fmt_pct(base)} overall",
                f"Of the 10% of customers the model rated least at risk, {fmt_pct(safest)} made no purchase "
                f"in {horizon}: the customers a retention campaign can leave out.",
            )
        )
    auc = metric_value(metrics, "churn_auc")
    if math.isfinite(auc):
        words = baseline_text(metrics, "churn_auc", lambda v: f"{v:.3f} ({fmt_pct(v, 0)})")
        out.append(
            KeyNumber(
                f"{auc:.3f}",
                f"churn AUC: a churner is ranked riskier than a buyer {fmt_pct(auc, 0)} of the time",
                f"Given one customer who churned and one who kept buying, the model ranks the churner as riskier "
                f"{fmt_pct(auc, 0)} of the time (AUC {auc:.3f}); a coin flip manages 50%." + words,
            )
        )
    ece = metric_value(metrics, "churn_ece")
    if math.isfinite(ece):
        reading = (
            "so a predicted 30% means about 30% of such customers churn"
            if ece <= 0.05
            else "so use the scores to rank customers rather than as exact odds"
        )
        out.append(
            KeyNumber(
                f"{100 * ece:.1f} pts",
                "average gap between predicted and observed churn rates",
                f"The churn probabilities are off by {100 * ece:.1f} percentage points on average, {reading}."
                + baseline_text(metrics, "churn_ece", lambda v: f"{100 * v:.1f} pts"),
            )
        )
    flags = table.loc[list(BASE_METRICS), FLAG_COLUMN].dropna()
    if len(flags):
        wins = int(flags.sum())
        out.append(
            KeyNumber(
                f"{wins} of {len(flags)}",
                "measures where the model beats the best baseline",
                f"The model beats the best baseline on {wins} of the {len(flags)} measures that could be compared.",
            )
        )
    share = facts.get("top_clv_revenue_share", math.nan)
    mae = metric_value(metrics, "clv_mae")
    if math.isfinite(share) or math.isfinite(mae):
        parts = []
        if math.isfinite(share):
            parts.append(
                f"The 10% of customers with the highest predicted value brought {fmt_pct(share, 0)} of the revenue in {horizon}."
            )
        if math.isfinite(mae):
            parts.append(
                f"Predicted revenue misses the actual by {mae:,.2f} per customer on average."
                + baseline_text(metrics, "clv_mae", lambda v: f"{v:,.2f}")
            )
        out.append(KeyNumber("", "", " ".join(parts)))
    return out


# --------------------------------------------------------------------------------------------- campaign


def campaign_view(campaign: Campaign, *, as_of: str, horizon: str, save_rate: float | None) -> dict[str, Any]:
    """Cards, the action × risk-tier table and the budget sentence of the campaign section."""
    cards = [
        (f"{campaign.customers:,}", f"customers in the base at {as_of}"),
        (
            f"{campaign.expected_churners:,.0f}",
            f"expected churners in {horizon} ({fmt_pct(campaign.expected_churners / campaign.customers, 0) if campaign.customers else '—'})",
        ),
        (fmt_money(campaign.value_at_stake), "value at stake: Σ churn probability × predicted revenue"),
    ]
    pick = campaign.pick
    budget_text = ""
    if pick is not None:
        cards.append((f"{pick.chosen:,}", f"customers to contact for a budget of {fmt_money(pick.budget)}"))
        rate = f" (save rate {fmt_pct(save_rate, 0)})" if save_rate is not None else ""
        budget_text = (
            f"With a budget of {fmt_money(pick.budget)} at {pick.cost_per_contact:,.2f} per contact, "
            f"{pick.affordable:,} contacts are affordable and {pick.worth:,} customers have an expected saved "
            f"value{rate} of at least the cost of a contact. Chosen: {pick.chosen:,} customers, highest expected "
            f"saved value first, costing {fmt_money(pick.cost)}. Expected churners among them: "
            f"{pick.expected_churners:,.1f}; value at stake among them: {fmt_money(pick.value_at_stake)}; "
            f"expected value saved: {fmt_money(pick.expected_saved_value)}."
        )
    frame = campaign.table.rename(columns={"churn_rate": "expected_churn_rate"})
    headers = {
        "customers": "Customers",
        "share": "Share of base",
        "expected_churners": "Expected churners",
        "expected_churn_rate": "Expected churn rate",
        "value_at_stake": "Value at stake",
    }
    table = prepare_table(
        "Customers per recommended action and risk tier",
        frame,
        header=lambda c: headers.get(c) or column_label(c),
    )
    # expected churners and value at stake as whole numbers: they are sums of probabilities and money
    col = {name: i for i, name in enumerate(frame.columns)}
    for row, record in zip(table.rows, frame.itertuples(index=False), strict=False):
        row[col["expected_churners"]] = f"{record.expected_churners:,.1f}"
        row[col["value_at_stake"]] = f"{record.value_at_stake:,.0f}"
    return {"cards": cards, "table": table, "budget_text": budget_text, "notes": campaign.notes}


# --------------------------------------------------------------------------------------------- segments


def profile_table(
    profile: pd.DataFrame, *, scores: pd.DataFrame | None = None, snapshot: str = "", as_of: str = ""
) -> Table:
    """Segment profiles turned on their side: one column per segment, one row per characteristic.

    With ``scores`` (the base at the as-of date) a first row gives each segment's customers at that date.
    """
    frame = profile.reset_index(drop=True)
    names = (
        [humanise(str(n)) for n in frame["name"]]
        if "name" in frame.columns
        else [f"#{i}" for i in frame.index]
    )
    rows: list[list[str]] = []
    if scores is not None and len(scores):
        key = "cluster" if {"cluster"} <= set(scores.columns) & set(frame.columns) else "name"
        if key == "cluster" or ("segment" in scores.columns and "name" in frame.columns):
            counts = scores["cluster" if key == "cluster" else "segment"].astype(str).value_counts()
            ids = frame[key].astype(str)
            rows.append(
                [f"Customers at {as_of}" if as_of else "Customers at the as-of date"]
                + [f"{int(counts.get(i, 0)):,} ({fmt_pct(counts.get(i, 0) / len(scores), 1)})" for i in ids]
            )
    for column in frame.columns:
        if column in ("name", "cluster"):
            continue
        label = column_label(column)
        if column in ("size", "share") and snapshot:
            label += f" at {snapshot}"
        rows.append([label] + [fmt_cell(v, column) for v in frame[column]])
    note = ""
    if snapshot:
        note = (
            f"Sizes, churn rates and revenue shares are from the latest labelled snapshot, {snapshot}, where the "
            f"outcome of the following days is known; averages are per customer at that snapshot."
        )
        if as_of:
            note += f" The first row counts the scored customer base at the as-of date {as_of}."
    return Table("Segment profiles", ["", *names], [False] + [True] * len(names), rows, len(rows), note)
