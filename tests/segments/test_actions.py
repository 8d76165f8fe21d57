"""Value × risk grid: tiers by hand, configurable grid, input checks."""

from __future__ import annotations

import pandas as pd
import pytest

from churnkit.errors import ConfigError, InputError
from churnkit.segments import DEFAULT_ACTION_GRID, TIERS, action_grid, recommended_actions


@pytest.fixture
def scores() -> pd.DataFrame:
    # CLV 0..9: median 4.5 and 80th percentile 7.2 → low 0–4, medium 5–7, high 8–9
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(10)],
            "predicted_clv": [float(i) for i in range(10)],
            "churn_probability": [0.1, 0.3, 0.59, 0.6, 0.9, 0.0, 0.45, 0.7, 0.2, 0.65],
        }
    )


def test_tiers_by_hand(scores):
    out = recommended_actions(scores)
    assert out["value_tier"].tolist() == ["low"] * 5 + ["medium"] * 3 + ["high"] * 2
    # thresholds belong to the higher risk tier: 0.3 is medium, 0.6 is high
    assert out["risk_tier"].tolist() == [
        "low", "medium", "medium", "high", "high", "low", "medium", "high", "low", "high"
    ]  # fmt: skip
    assert out.loc[9, "recommended_action"] == DEFAULT_ACTION_GRID[("high", "high")]
    assert out.loc[8, "recommended_action"] == DEFAULT_ACTION_GRID[("high", "low")]
    assert out.loc[4, "recommended_action"] == "no action"
    assert out.loc[6, "recommended_action"] == "nurture"


def test_input_is_not_modified_and_columns_kept(scores):
    original = scores.copy()
    out = recommended_actions(scores)
    pd.testing.assert_frame_equal(scores, original)
    assert list(out.columns) == [*scores.columns, "value_tier", "risk_tier", "recommended_action"]


def test_default_grid_is_complete():
    assert set(DEFAULT_ACTION_GRID) == {(v, r) for v in TIERS for r in TIERS}
    assert all(a.strip() for a in DEFAULT_ACTION_GRID.values())


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
    assert out.loc[9, "recommended_action"] == "call them"
    # cells not in the configured grid keep their default
    assert out.loc[4, "recommended_action"] == DEFAULT_ACTION_GRID[("low", "high")]
    assert action_grid(grid)[("high", "high")] == "call them"


def test_thresholds_are_configurable(scores):
    out = recommended_actions(scores, value_quantiles=(0.2, 0.5), risk_thresholds=(0.5, 0.95))
    assert out["value_tier"].value_counts().to_dict() == {"high": 5, "medium": 3, "low": 2}
    assert set(out["risk_tier"]) == {"low", "medium"}
    fixed = recommended_actions(scores, value_thresholds=(100.0, 1000.0))
    assert set(fixed["value_tier"]) == {"low"}
    # equal cuts (mostly zero CLV when they were learned) leave the medium tier empty
    equal = recommended_actions(scores, value_thresholds=(0.0, 0.0))
    assert equal["value_tier"].tolist() == ["low"] + ["high"] * 9


def test_mass_of_zero_clv_stays_low():
    scores = pd.DataFrame({"predicted_clv": [0.0] * 8 + [5.0, 50.0], "churn_probability": 0.5})
    out = recommended_actions(scores)
    assert out["value_tier"].tolist() == ["low"] * 8 + ["high", "high"]


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
        ({"value_quantiles": (0.8, 0.5)}, "value_quantiles"),
        ({"value_quantiles": (0.0, 0.5)}, "value_quantiles"),
        ({"risk_thresholds": (0.3, 1.5)}, "risk_thresholds"),
        ({"value_thresholds": (5.0, 1.0)}, "value_thresholds"),
        ({"value_thresholds": (float("nan"), 1.0)}, "value_thresholds"),
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
