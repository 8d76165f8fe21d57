"""Choosing whom to contact: the top N, or as many as a budget allows by expected saved value.

Expected saved value of contacting a customer = churn probability × predicted CLV × save rate (the share of
would-be churners a campaign keeps, from config). Under a budget, customers are taken in decreasing order of
that value while the budget lasts and the value is at least the cost of the contact.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from churnkit.errors import InputError


@dataclass
class Selection:
    scores: pd.DataFrame
    summary: str = ""


def select_customers(
    scores: pd.DataFrame,
    *,
    top: int | None = None,
    budget: float | None = None,
    cost_per_contact: float | None = None,
) -> Selection:
    """All customers (ranked), the `top` N by expected saved value, or those a budget pays for."""
    ranked = scores.sort_values(["expected_saved_value", "customer_id"], ascending=[False, True]).reset_index(
        drop=True
    )
    if top is None and budget is None:
        return Selection(ranked)
    if top is not None:
        chosen = ranked.head(top)
        return Selection(chosen, _summary(chosen, "top"))
    if cost_per_contact is None or cost_per_contact <= 0:
        raise InputError("--cost-per-contact must be a positive amount when --budget is given")
    affordable = int(budget // cost_per_contact)
    worth = ranked[ranked["expected_saved_value"] >= cost_per_contact]
    chosen = worth.head(affordable)
    text = _summary(chosen, "budget")
    text += f"; cost {len(chosen) * cost_per_contact:,.2f} of a budget of {budget:,.2f}"
    if len(worth) < affordable:
        text += f" (only {len(worth):,} customers are worth more than a contact's cost)"
    return Selection(chosen, text)


def _summary(chosen: pd.DataFrame, how: str) -> str:
    return (
        f"chosen ({how}): {len(chosen):,} customers; expected churners among them "
        f"{chosen['churn_probability'].sum():,.1f}; expected value saved {chosen['expected_saved_value'].sum():,.2f}"
    )
