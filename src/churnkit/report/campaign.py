"""The campaign view of a scored customer base: who gets which action, what is at stake, what a budget buys.

Numbers come from the score table of the customer base at the as-of date D (one row per customer):

- *expected churners* of a group = Σ churn_probability (the number of its customers expected to make no
  purchase in the horizon);
- *value at stake* = Σ churn_probability × predicted_clv (the horizon revenue expected to be lost with them);
- the *budget pick* is :func:`churnkit.targeting.select_customers` with the stated budget and cost per
  contact: customers in decreasing order of expected saved value (churn probability × predicted CLV × save
  rate) while the budget lasts and the value covers the contact's cost.

Columns are read by name and only when present, so a score table with other tiers or extra columns works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnkit.errors import InputError
from churnkit.targeting import select_customers

__all__ = ["GROUP_COLUMNS", "BudgetPick", "Campaign", "campaign_summary"]

GROUP_COLUMNS: tuple[str, ...] = ("recommended_action", "risk_tier")
"""Columns the campaign table groups by, when the score table has them."""

_TIER_ORDER = ("very high", "high", "medium", "low", "very low")


@dataclass(frozen=True)
class BudgetPick:
    """What :func:`~churnkit.targeting.select_customers` chose for a budget."""

    budget: float
    cost_per_contact: float
    affordable: int
    """Contacts the budget pays for: budget // cost per contact."""
    worth: int
    """Customers whose expected saved value is at least the cost of a contact."""
    chosen: int
    expected_churners: float
    expected_saved_value: float
    value_at_stake: float
    cost: float


@dataclass(frozen=True)
class Campaign:
    customers: int
    expected_churners: float
    value_at_stake: float
    groups: list[str]
    """The grouping columns found in the score table (a subset of :data:`GROUP_COLUMNS`)."""
    table: pd.DataFrame
    """One row per group: the grouping columns, customers, share, expected_churners, churn_rate, value_at_stake."""
    pick: BudgetPick | None = None
    notes: list[str] = field(default_factory=list)


def _numeric(scores: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(scores[column], errors="coerce").astype("float64").fillna(0.0)


def _tier_key(values: pd.Series) -> pd.Series:
    order = {t: i for i, t in enumerate(_TIER_ORDER)}
    return values.astype(str).str.lower().map(lambda t: order.get(t, len(order)))


def campaign_summary(
    scores: pd.DataFrame, *, budget: float | None = None, cost_per_contact: float | None = None
) -> Campaign:
    """Customers, expected churners and value at stake per recommended action and risk tier, and the budget pick.

    ``scores`` needs ``customer_id``, ``churn_probability`` and ``predicted_clv``; the budget pick also
    needs ``expected_saved_value`` (skipped with a note without it, or without a budget).
    """
    missing = [c for c in ("customer_id", "churn_probability", "predicted_clv") if c not in scores.columns]
    if missing:
        raise InputError(f"Required column {missing[0]} missing from the scores", column=missing[0])
    frame = scores.copy()
    frame["_p"] = _numeric(frame, "churn_probability")
    frame["_stake"] = frame["_p"] * _numeric(frame, "predicted_clv")
    groups = [c for c in GROUP_COLUMNS if c in frame.columns]
    for c in groups:
        frame[c] = frame[c].astype("string").fillna("(none)")
    if groups:
        table = (
            frame.groupby(groups, sort=False, dropna=False)
            .agg(
                customers=("customer_id", "size"),
                expected_churners=("_p", "sum"),
                value_at_stake=("_stake", "sum"),
            )
            .reset_index()
        )
    else:
        table = pd.DataFrame(
            {
                "customers": [len(frame)],
                "expected_churners": [float(frame["_p"].sum())],
                "value_at_stake": [float(frame["_stake"].sum())],
            }
        )
    n = len(frame)
    table["share"] = table["customers"] / n if n else np.nan
    table["churn_rate"] = table["expected_churners"] / table["customers"].where(table["customers"] > 0)
    # Actions by the value they hold, tiers from high to low risk within an action.
    sort = pd.DataFrame(index=table.index)
    sort["action"] = (
        table.groupby("recommended_action")["value_at_stake"].transform("sum")
        if "recommended_action" in groups
        else 0.0
    )
    sort["tier"] = _tier_key(table["risk_tier"]) if "risk_tier" in groups else 0
    sort["stake"] = table["value_at_stake"]
    order = sort.sort_values(["action", "tier", "stake"], ascending=[False, True, False], kind="stable").index
    columns = [*groups, "customers", "share", "expected_churners", "churn_rate", "value_at_stake"]
    table = table.loc[order, columns]

    notes: list[str] = []
    pick = None
    if budget is None or cost_per_contact is None:
        notes.append("No budget given: no budget pick.")
    elif "expected_saved_value" not in frame.columns:
        notes.append("The scores have no expected_saved_value column: no budget pick.")
    else:
        chosen = select_customers(scores, budget=budget, cost_per_contact=cost_per_contact).scores
        saved = pd.to_numeric(scores["expected_saved_value"], errors="coerce")
        p = pd.to_numeric(chosen["churn_probability"], errors="coerce").fillna(0.0)
        clv = pd.to_numeric(chosen["predicted_clv"], errors="coerce").fillna(0.0)
        pick = BudgetPick(
            budget=float(budget),
            cost_per_contact=float(cost_per_contact),
            affordable=int(budget // cost_per_contact),
            worth=int((saved >= cost_per_contact).sum()),
            chosen=len(chosen),
            expected_churners=float(p.sum()),
            expected_saved_value=float(
                pd.to_numeric(chosen["expected_saved_value"], errors="coerce").fillna(0.0).sum()
            ),
            value_at_stake=float((p * clv).sum()),
            cost=len(chosen) * float(cost_per_contact),
        )
    total_stake = float(frame["_stake"].sum())
    return Campaign(
        customers=n,
        expected_churners=float(frame["_p"].sum()),
        value_at_stake=total_stake if math.isfinite(total_stake) else math.nan,
        groups=groups,
        table=table.reset_index(drop=True),
        pick=pick,
        notes=notes,
    )
