"""Value × risk grid: tiers relative to the base, segment overrides, configurable grid, input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnkit.errors import ConfigError, InputError
from churnkit.segments import (
    DEFAULT_ACTION_GRID,
    DEFAULT_SEGMENT_ACTIONS,
    TIERS,
    action_grid,
    recommended_actions,
    risk_cuts,
    value_cuts,
)


@pytest.fixture
def scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(10)],
            "predicted_clv": [float(i) for i in range(10)],
            "churn_probability": [0.1, 0.3, 0.59, 0.6, 0.9, 0.0, 0.45, 0.7, 0.2, 0.65],
        }
    )


def test_tiers_by_hand(scores):
    out = recommended_actions(scores)
    # CLV 9, 8, 7 hold 24 of 45 (53 % >= 50 %): high; down to 3 they hold 42 (93 % >= 90 %): medium
    assert out["value_tier"].tolist() == ["low"] * 3 + ["medium"] * 4 + ["high"] * 3
    # risk: the i-th smallest of 10 distinct probabilities sits at percentile (i + 0.5) / 10, so the cuts
    # are the 6th (0.59, the first at >= 0.5) and the 9th (0.7, the first at >= 0.8)
    assert out["risk_tier"].tolist() == [
        "low", "low", "medium", "medium", "high", "low", "low", "high", "low", "medium"
    ]  # fmt: skip
    assert risk_cuts(scores["churn_probability"]) == (0.59, 0.7)
    assert value_cuts(scores["predicted_clv"]) == (2.0, 6.0)
    assert out.loc[7, "recommended_action"] == DEFAULT_ACTION_GRID[("high", "high")]
    assert out.loc[4, "recommended_action"] == DEFAULT_ACTION_GRID[("medium", "high")]
    assert out.loc[0, "recommended_action"] == DEFAULT_ACTION_GRID[("low", "low")]


def test_value_quantile_method(scores):
    # CLV 0..9: median 4.5 and 80th percentile 7.2 → low 0–4, medium 5–7, high 8–9
    out = recommended_actions(scores, value_method="quantile")
    assert out["value_tier"].tolist() == ["low"] * 5 + ["medium"] * 3 + ["high"] * 2


def test_fixed_risk_thresholds_belong_to_the_higher_tier(scores):
    out = recommended_actions(scores, risk_thresholds=(0.3, 0.6))
    assert out["risk_tier"].tolist() == [
        "low", "medium", "medium", "high", "high", "low", "medium", "high", "low", "high"
    ]  # fmt: skip


def test_skewed_base_high_risk_is_the_top_fifth_not_everyone():
    """88 % of the base churns: fixed cut-offs call nearly everyone high risk, the base's quantiles do not."""
    rng = np.random.default_rng(3)
    p = rng.beta(8.0, 1.1, 20_000)
    assert p.mean() == pytest.approx(0.88, abs=0.01)
    base = pd.DataFrame({"churn_probability": p, "predicted_clv": rng.gamma(0.5, 40.0, len(p))})
    cuts = risk_cuts(base["churn_probability"])  # learned once on the base ...
    fixed = recommended_actions(base, risk_thresholds=(0.3, 0.6))["risk_tier"].value_counts(normalize=True)
    assert fixed["high"] > 0.85
    # ... and applied to new rows one at a time: same shares on a fresh sample of the same base
    new = pd.DataFrame({"churn_probability": rng.beta(8.0, 1.1, 5_000), "predicted_clv": 1.0})
    for table in (base, new):
        shares = recommended_actions(table, risk_thresholds=cuts)["risk_tier"].value_counts(normalize=True)
        assert shares["high"] == pytest.approx(0.20, abs=0.02)
        assert shares["medium"] == pytest.approx(0.30, abs=0.02)
        assert shares["low"] == pytest.approx(0.50, abs=0.02)
    # a block of tied probabilities is not split: the 0.2s sit at percentile 0.3, the 0.99s at 0.8
    tied = pd.DataFrame({"churn_probability": [0.2] * 6 + [0.99] * 4, "predicted_clv": 1.0})
    assert recommended_actions(tied)["risk_tier"].tolist() == ["low"] * 6 + ["high"] * 4


def test_value_share_tiers_on_a_skewed_base():
    """Most customers are worth ~0: the medium tier starts where value starts, not at the median of zeros."""
    clv = pd.Series([0.05] * 700 + [1.0] * 200 + [20.0] * 80 + [200.0] * 20)
    lo, hi = value_cuts(clv)
    assert lo >= 1.0 and hi >= 20.0  # 200 × 20 = 4,000 of 5,835 (69 %): the top 20 are high
    tiers = recommended_actions(pd.DataFrame({"predicted_clv": clv, "churn_probability": 0.5}))["value_tier"]
    assert tiers.value_counts().to_dict() == {"low": 900, "medium": 80, "high": 20}


def test_mass_of_zero_clv_stays_low():
    scores = pd.DataFrame({"predicted_clv": [0.0] * 8 + [5.0, 50.0], "churn_probability": 0.5})
    # 50 alone holds 91 % of the value: high; 5 is in the last 10 %: low with the zeros
    assert recommended_actions(scores)["value_tier"].tolist() == ["low"] * 9 + ["high"]
    assert recommended_actions(scores, value_method="quantile")["value_tier"].tolist() == ["low"] * 8 + [
        "high",
        "high",
    ]
    zeros = pd.DataFrame({"predicted_clv": [0.0] * 5, "churn_probability": 0.5})
    assert set(recommended_actions(zeros)["value_tier"]) == {"low"}


def _is_discount_or_nothing(action: str) -> bool:
    a = action.lower()
    return "no action" in a or "offer" in a or ("discount" in a and "no discount" not in a)


@pytest.mark.parametrize("segment", ["Champions", "Can't Lose Them"])
def test_best_customers_at_high_risk_get_a_personal_save_call_whatever_their_value(segment):
    n = 30
    scores = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "predicted_clv": np.linspace(0, 300, n),  # all three value tiers
            "churn_probability": 0.95,
            "rfm_segment": segment,
        }
    )
    # even when a configured grid puts a discount in every high-risk cell
    discount_grid = {f"{v}/high": "20% discount" for v in TIERS}
    for grid in (None, discount_grid):
        out = recommended_actions(scores, risk_thresholds=(0.3, 0.6), grid=grid)
        assert set(out["value_tier"]) == set(TIERS)
        assert set(out["recommended_action"]) == {"personal save call (VIP)"}
    for risk in TIERS:  # and no tier of theirs gets a discount or nothing
        action = DEFAULT_SEGMENT_ACTIONS[segment][risk]
        assert not _is_discount_or_nothing(action), (segment, risk, action)


def test_default_grid_reads_right():
    assert set(DEFAULT_ACTION_GRID) == {(v, r) for v in TIERS for r in TIERS}
    assert all(a.strip() for a in DEFAULT_ACTION_GRID.values())
    assert not any("no action" in a for a in DEFAULT_ACTION_GRID.values())
    assert DEFAULT_ACTION_GRID[("high", "high")] == "personal save call"
    assert "automated" in DEFAULT_ACTION_GRID[("low", "high")]  # low value, high risk: cheap and automated
    assert "no discount" in DEFAULT_ACTION_GRID[("high", "low")]


def test_other_segments_follow_the_grid(scores):
    out = recommended_actions(scores.assign(rfm_segment="Hibernating"))
    assert out["recommended_action"].tolist() == recommended_actions(scores)["recommended_action"].tolist()


def test_segment_actions_are_configurable(scores):
    champions = scores.assign(rfm_segment="Champions")
    out = recommended_actions(
        champions, risk_thresholds=(0.3, 0.6), segment_actions={"Champions": {"high": "CEO calls"}}
    )
    assert set(out.loc[out["risk_tier"] == "high", "recommended_action"]) == {"CEO calls"}
    assert set(out.loc[out["risk_tier"] == "low", "recommended_action"]) == {"VIP care, no discount"}
    # an empty text hands that cell back to the grid
    back = recommended_actions(
        champions, risk_thresholds=(0.3, 0.6), segment_actions={"Champions": {"high": ""}}
    )
    high = back["risk_tier"] == "high"
    grid = [DEFAULT_ACTION_GRID[(v, "high")] for v in back.loc[high, "value_tier"]]
    assert back.loc[high, "recommended_action"].tolist() == grid


def test_input_is_not_modified_and_columns_kept(scores):
    original = scores.copy()
    out = recommended_actions(scores)
    pd.testing.assert_frame_equal(scores, original)
    assert list(out.columns) == [*scores.columns, "value_tier", "risk_tier", "recommended_action"]


@pytest.mark.parametrize(
    "grid",
    [
        {("high", "high"): "call them"},
        {"high/high": "call them"},
        {"high": {"high": "call them"}},  # nested, as written in YAML
    ],
)
def test_grid_is_configurable(scores, grid):
    out = recommended_actions(scores, grid=grid)
    assert out.loc[7, "recommended_action"] == "call them"  # high value, high risk
    # cells not in the configured grid keep their default
    assert out.loc[4, "recommended_action"] == DEFAULT_ACTION_GRID[("medium", "high")]
    assert action_grid(grid)[("high", "high")] == "call them"


def test_fixed_value_thresholds(scores):
    fixed = recommended_actions(scores, value_thresholds=(100.0, 1000.0))
    assert set(fixed["value_tier"]) == {"low"}
    # equal cuts (mostly zero CLV when they were learned) leave the medium tier empty
    equal = recommended_actions(scores, value_thresholds=(0.0, 0.0))
    assert equal["value_tier"].tolist() == ["low"] + ["high"] * 9


def test_custom_columns_and_empty_table(scores):
    renamed = scores.rename(columns={"predicted_clv": "clv", "churn_probability": "p"})
    out = recommended_actions(renamed, value_col="clv", risk_col="p")
    assert out["recommended_action"].tolist() == recommended_actions(scores)["recommended_action"].tolist()
    empty = recommended_actions(scores.iloc[:0])
    assert len(empty) == 0 and "recommended_action" in empty.columns


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": {("huge", "high"): "x"}}, "value_tier, risk_tier"),
        ({"grid": {"high/extreme": "x"}}, "value_tier, risk_tier"),
        ({"grid": {"high": {"extreme": "x"}}}, "risk tier"),
        ({"grid": {("high", "high"): ""}}, "non-empty"),
        ({"grid": ["high"]}, "mapping"),
        ({"value_quantiles": (0.8, 0.5), "value_method": "quantile"}, "value_quantiles"),
        ({"value_quantiles": (0.0, 0.5), "value_method": "quantile"}, "value_quantiles"),
        ({"value_shares": (0.9, 0.5)}, "value_shares"),
        ({"value_method": "magic"}, "value_method"),
        ({"risk_quantiles": (0.8, 0.5)}, "risk_quantiles"),
        ({"risk_thresholds": (0.3, 1.5)}, "risk_thresholds"),
        ({"value_thresholds": (5.0, 1.0)}, "value_thresholds"),
        ({"value_thresholds": (float("nan"), 1.0)}, "value_thresholds"),
        ({"segment_actions": {"Champions": {"extreme": "x"}}}, "risk tier"),
        ({"segment_actions": {"Champions": "call"}}, "map a risk tier"),
    ],
)
def test_bad_config(scores, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        recommended_actions(scores, **kwargs)


def test_bad_input(scores):
    with pytest.raises(InputError, match="predicted_clv"):
        recommended_actions(scores.drop(columns="predicted_clv"))
    with pytest.raises(InputError, match="missing or non-numeric"):
        recommended_actions(scores.assign(churn_probability=[None] + [0.5] * 9))
