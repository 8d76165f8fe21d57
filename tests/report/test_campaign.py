"""The campaign section: numbers from the score table of the base at D, worked out by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from churnkit.errors import InputError
from churnkit.report import render_report
from churnkit.report.campaign import campaign_summary


def hand_scores() -> pd.DataFrame:
    """Six customers; expected_saved_value = p × clv × 0.2 (written out, not computed by churnkit)."""
    return pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "E", "F"],
            "churn_probability": [0.9, 0.8, 0.5, 0.1, 0.7, 0.96],
            "predicted_clv": [100.0, 50.0, 200.0, 300.0, 10.0, 2.0],
            "recommended_action": [
                "win-back offer",
                "win-back offer",
                "loyalty reward",
                "VIP care",
                "win-back offer",
                "no action",
            ],
            "risk_tier": ["high", "high", "medium", "low", "medium", "high"],
            "expected_saved_value": [18.0, 8.0, 20.0, 6.0, 1.4, 0.384],
            "segment": ["x", "x", "y", "y", "x", "x"],
        }
    )


# By hand: expected churners Σp = 3.96; value at stake Σ p × clv = 90 + 40 + 100 + 30 + 7 + 1.92 = 268.92.
# Groups (action, tier): customers, Σp, Σ p × clv; actions ordered by their value at stake
# (win-back 137, loyalty 100, VIP 30, no action 1.92), tiers high before medium.
EXPECTED_ROWS = [
    ("win-back offer", "high", 2, 1.7, 130.0),
    ("win-back offer", "medium", 1, 0.7, 7.0),
    ("loyalty reward", "medium", 1, 0.5, 100.0),
    ("VIP care", "low", 1, 0.1, 30.0),
    ("no action", "high", 1, 0.96, 1.92),
]


def test_campaign_table_matches_a_hand_computation():
    campaign = campaign_summary(hand_scores())
    assert campaign.customers == 6
    assert campaign.expected_churners == pytest.approx(3.96)
    assert campaign.value_at_stake == pytest.approx(268.92)
    assert campaign.groups == ["recommended_action", "risk_tier"]
    got = [
        (r.recommended_action, r.risk_tier, r.customers, r.expected_churners, r.value_at_stake)
        for r in campaign.table.itertuples()
    ]
    assert [g[:3] for g in got] == [e[:3] for e in EXPECTED_ROWS]
    for g, e in zip(got, EXPECTED_ROWS, strict=True):
        assert g[3] == pytest.approx(e[3]) and g[4] == pytest.approx(e[4])
    assert campaign.table["share"].tolist() == pytest.approx([2 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6])
    assert campaign.table["churn_rate"].iloc[0] == pytest.approx(0.85)
    assert campaign.pick is None and campaign.notes  # no budget: said, not guessed


def test_budget_pick_matches_a_hand_computation():
    # Budget 25 at 5 per contact: 5 affordable; worth a contact (saved value >= 5): C 20, A 18, B 8, D 6.
    pick = campaign_summary(hand_scores(), budget=25.0, cost_per_contact=5.0).pick
    assert (pick.affordable, pick.worth, pick.chosen) == (5, 4, 4)
    assert pick.expected_churners == pytest.approx(0.5 + 0.9 + 0.8 + 0.1)
    assert pick.expected_saved_value == pytest.approx(20 + 18 + 8 + 6)
    assert pick.value_at_stake == pytest.approx(100 + 90 + 40 + 30)
    assert pick.cost == pytest.approx(20.0)
    # Budget 12: two contacts, the two largest saved values (C, A).
    small = campaign_summary(hand_scores(), budget=12.0, cost_per_contact=5.0).pick
    assert small.chosen == 2
    assert small.expected_churners == pytest.approx(1.4)
    assert small.expected_saved_value == pytest.approx(38.0)


def test_campaign_reads_columns_defensively():
    bare = hand_scores()[["customer_id", "churn_probability", "predicted_clv"]]
    campaign = campaign_summary(bare, budget=25.0, cost_per_contact=5.0)
    assert campaign.groups == []
    assert campaign.table["customers"].tolist() == [6]
    assert campaign.table["value_at_stake"].iloc[0] == pytest.approx(268.92)
    assert campaign.pick is None
    assert any("expected_saved_value" in n for n in campaign.notes)
    # Extra columns (a new p_purchase_30d, other tiers) change nothing.
    extra = hand_scores().assign(p_purchase_30d=0.3, risk_tier=["top 10%"] * 3 + ["rest"] * 3)
    assert campaign_summary(extra).value_at_stake == pytest.approx(268.92)
    with pytest.raises(InputError, match="Required column predicted_clv missing"):
        campaign_summary(bare.drop(columns="predicted_clv"))


def _cells(html: str, first: str, second: str) -> list[str]:
    row = re.search(rf"<tr><td>{re.escape(first)}</td><td>{re.escape(second)}</td>(.*?)</tr>", html)
    assert row, f"no campaign row {first} / {second}"
    return re.findall(r"<td class=num>([^<]*)</td>", row.group(1))


def test_report_shows_the_campaign_numbers(tmp_path: Path):
    out = render_report(
        tmp_path / "r.html",
        title="t",
        metrics={"churn_auc": 0.8},
        images={},
        scores=hand_scores(),
        budget=25.0,
        cost_per_contact=5.0,
        save_rate=0.2,
        summary={"as_of": "2026-01-01", "horizon_days": 90},
    )
    html = out.read_text(encoding="utf-8")
    assert '<section id="campaign">' in html
    assert "customers in the base at 2026-01-01" in html
    assert ">268.92<" in html  # value at stake
    # Customers, share, expected churners, expected churn rate, value at stake
    assert _cells(html, "win-back offer", "high") == ["2", "33.3%", "1.7", "85.0%", "130"]
    assert _cells(html, "no action", "high") == ["1", "16.7%", "1.0", "96.0%", "2"]
    pick = re.search(r'<p id="budget-pick">(.*?)</p>', html, re.S).group(1)
    assert "5 contacts are affordable and 4 customers" in pick
    assert "save rate 20%" in pick
    assert "Chosen: 4 customers" in pick and "costing 20.00" in pick
    assert "Expected churners among them: 2.3" in pick
    assert "value at stake among them: 260.00" in pick
    assert "expected value saved: 52.00" in pick


def test_report_without_scores_has_no_campaign(tmp_path: Path):
    out = render_report(tmp_path / "r.html", title="t", metrics={}, images={})
    assert 'id="campaign"' not in out.read_text(encoding="utf-8")
