"""Did the campaign work? Target vs control on the realized window of a scores file made with ``--holdout``.

Per customer (see `realized`): retained = at least one purchase day in [as_of, as_of + H), revenue = net
revenue in that window. Retention is compared with a two-proportion z test, revenue per customer with
Welch's t test (see `stats`); both report target, control, lift = target − control, a 95 % interval and a
two-sided p-value. Incremental revenue = revenue lift × customers in target; with a cost per contact,
return on the campaign = (incremental revenue − cost) / cost.

Intention-to-treat by default: every ``target`` customer counts, reached or not. With ``contacted`` the
target group is restricted to the customers actually contacted (per-protocol: biased if whom the campaign
reached depends on the customer, which is why it is not the default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnkit.errors import InputError
from churnkit.monitoring.holdout import CONTROL, TARGET
from churnkit.monitoring.realized import (
    _check_passed,
    attributes,
    realized_outcomes,
    report_dict,
    scores_as_of,
)
from churnkit.monitoring.stats import TEST_NAMES, two_proportion_test, welch_test

__all__ = ["CampaignResult", "campaign_tests", "measure_campaign"]

_SPLITS = ("risk_tier", "value_tier", "segment")
MIN_GROUP = 100
"""Smallest target and control group for a per-tier or per-segment lift to be reported."""


def campaign_tests(
    retained_target: np.ndarray,
    revenue_target: np.ndarray,
    retained_control: np.ndarray,
    revenue_control: np.ndarray,
) -> dict[str, dict[str, float]]:
    """Retention (two-proportion z) and revenue per customer (Welch) of target against control."""
    rt, rc = np.asarray(retained_target, dtype=float), np.asarray(retained_control, dtype=float)
    return {
        "retention": two_proportion_test(rt.sum(), rt.size, rc.sum(), rc.size),
        "revenue_per_customer": welch_test(revenue_target, revenue_control),
    }


@dataclass
class CampaignResult:
    as_of: Any
    horizon_days: int
    analysis: str
    retention: dict[str, float]
    revenue_per_customer: dict[str, float]
    incremental_revenue: float
    incremental_revenue_ci: tuple[float, float]
    incremental_customers: float
    contacts: int
    cost: float | None
    roi: float | None
    by_group: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        fields = attributes(self, "analysis", "retention", "revenue_per_customer", "incremental_revenue")
        fields["incremental_revenue_ci"] = list(self.incremental_revenue_ci)
        fields["incremental_retained_customers"] = self.incremental_customers
        fields |= attributes(self, "contacts", "cost", "roi")
        fields["tests"] = TEST_NAMES
        return report_dict(self.as_of, self.horizon_days, fields, self.by_group, self.notes)

    def lines(self) -> list[str]:
        r, v = self.retention, self.revenue_per_customer
        out = [
            f"campaign on the scores of {self.as_of}, {self.horizon_days}-day window; {self.analysis}",
            f"  groups: {r['n_target']:,} target, {r['n_control']:,} control",
            f"  retention: target {r['target']:.2%}, control {r['control']:.2%}, lift {r['lift'] * 100:+.2f} pp "
            f"(95% CI {r['ci_low'] * 100:+.2f} to {r['ci_high'] * 100:+.2f} pp), p = {r['p_value']:.3g} "
            f"[{TEST_NAMES['retention']}]",
            f"  revenue per customer: target {v['target']:,.2f}, control {v['control']:,.2f}, lift {v['lift']:+,.2f} "
            f"(95% CI {v['ci_low']:+,.2f} to {v['ci_high']:+,.2f}), p = {v['p_value']:.3g} "
            f"[{TEST_NAMES['revenue_per_customer']}]",
            f"  incremental revenue {self.incremental_revenue:+,.2f} (95% CI {self.incremental_revenue_ci[0]:+,.2f} to "
            f"{self.incremental_revenue_ci[1]:+,.2f}); incremental retained customers {self.incremental_customers:+,.1f}",
        ]
        if self.cost is not None:
            roi = "undefined" if self.roi is None or not math.isfinite(self.roi) else f"{self.roi:+.1%}"
            out.append(
                f"  cost {self.cost:,.2f} for {self.contacts:,} contacts; return on the campaign {roi}"
            )
        if not self.by_group.empty:
            with pd.option_context("display.width", 220, "display.max_columns", 30, "display.precision", 3):
                out.append(self.by_group.to_string(index=False))
        out.extend(f"note: {n}" for n in self.notes)
        return out


def measure_campaign(
    scores: pd.DataFrame,
    data: Any,
    *,
    horizon_days: int = 90,
    contacted: pd.Series | str | Path | None = None,
    cost_per_contact: float | None = None,
    min_group: int = MIN_GROUP,
) -> CampaignResult:
    """Target vs control retention and revenue on ``data`` after the scores' as-of date (see the module doc)."""
    as_of = scores_as_of(scores)
    if "group" not in scores.columns:
        raise InputError(
            "the scores file has no 'group' column: score with --holdout FRACTION to keep a control group",
            column="group",
        )
    groups = set(scores["group"].astype(str))
    if not groups <= {TARGET, CONTROL}:
        raise InputError(
            f"'group' must hold only target and control, found {sorted(groups - {TARGET, CONTROL})}"
        )
    _check_passed(data, as_of, horizon_days)
    frame = scores.assign(customer_id=scores["customer_id"].astype(str), group=scores["group"].astype(str))
    outcomes = realized_outcomes(data, frame["customer_id"], as_of=as_of, horizon_days=horizon_days)
    frame = frame.merge(outcomes, on="customer_id", how="left", validate="one_to_one")
    frame["retained"] = 1 - frame["churned"]
    notes: list[str] = []
    is_target = frame["group"] == TARGET
    if isinstance(contacted, str | Path):
        contacted = _read_contacted(contacted)
    if contacted is not None:
        reached = set(pd.Series(contacted).astype(str))
        in_control = int(frame.loc[~is_target, "customer_id"].isin(reached).sum())
        if in_control:
            notes.append(
                f"{in_control:,} contacted customers are in the control group: the control is contaminated"
            )
        n_before = int(is_target.sum())
        keep = ~is_target | frame["customer_id"].isin(reached)
        frame = frame[keep]
        is_target = frame["group"] == TARGET
        analysis = (
            f"per-protocol: target = the {int(is_target.sum()):,} contacted of {n_before:,} target customers "
            "(biased if who was reached depends on the customer)"
        )
    else:
        analysis = "intention-to-treat: every target customer counts, contacted or not"
    t, c = frame[is_target], frame[~is_target]
    if t.empty or c.empty:
        raise InputError(f"need customers in both groups, found {len(t)} target and {len(c)} control")
    tests = campaign_tests(t["retained"], t["future_revenue"], c["retained"], c["future_revenue"])
    rev = tests["revenue_per_customer"]
    ret = tests["retention"]
    if (ret["ci_low"] > 0 or ret["ci_high"] < 0) != (ret["p_value"] < 0.05):
        notes.append(
            "the retention interval (unpooled) and the z test (pooled) disagree about significance at 5%: "
            "the lift is borderline"
        )
    n_t = len(t)
    incremental = rev["lift"] * n_t
    contacts = n_t
    cost = roi = None
    if cost_per_contact is not None:
        cost = float(cost_per_contact) * contacts
        roi = (incremental - cost) / cost if cost > 0 else math.nan
    return CampaignResult(
        as_of=as_of,
        horizon_days=horizon_days,
        analysis=analysis,
        retention=tests["retention"],
        revenue_per_customer=rev,
        incremental_revenue=float(incremental),
        incremental_revenue_ci=(float(rev["ci_low"] * n_t), float(rev["ci_high"] * n_t)),
        incremental_customers=float(tests["retention"]["lift"] * n_t),
        contacts=contacts,
        cost=cost,
        roi=roi,
        by_group=_by_group(frame, min_group, notes),
        notes=notes,
    )


def _read_contacted(path: str | Path) -> pd.Series:
    from churnkit.data.io import read_table

    table = read_table(path)
    if "customer_id" not in table.columns:
        raise InputError(
            f"{path}: the contacted file needs a customer_id column", path=str(path), column="customer_id"
        )
    return table["customer_id"].astype(str)


def _by_group(frame: pd.DataFrame, min_group: int, notes: list[str]) -> pd.DataFrame:
    rows = []
    small = []
    for col in _SPLITS:
        if col not in frame.columns:
            continue
        for level, part in frame.groupby(frame[col].astype(str), sort=True):
            t, c = part[part["group"] == TARGET], part[part["group"] == CONTROL]
            row: dict[str, Any] = {"split": col, "level": level, "n_target": len(t), "n_control": len(c)}
            if len(t) >= min_group and len(c) >= min_group:
                tests = campaign_tests(t["retained"], t["future_revenue"], c["retained"], c["future_revenue"])
                r, v = tests["retention"], tests["revenue_per_customer"]
                row.update(
                    retention_lift=r["lift"],
                    retention_ci_low=r["ci_low"],
                    retention_ci_high=r["ci_high"],
                    retention_p=r["p_value"],
                    revenue_lift=v["lift"],
                    revenue_p=v["p_value"],
                )
            else:
                small.append(f"{col}={level} ({len(t)} target, {len(c)} control)")
            rows.append(row)
    if small:
        notes.append(
            f"groups too small for a lift (fewer than {min_group} in target or control): " + ", ".join(small)
        )
    return pd.DataFrame(rows)
