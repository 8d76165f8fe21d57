"""The champion choice per target and the customer hold-out: pure functions, hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnkit.errors import ModelError
from churnkit.models.backtest import choose_champions, held_out_customers

BEST = {"churn": "best", "clv": "best"}
BOTH = {"churn": True, "clv": True}


def test_each_target_is_chosen_on_its_own_metric():
    """BTYD wins churn AUC by 0.001, the boosted CLV is clearly better: churn → BTYD, CLV → boosted."""
    metrics = {
        "boosted_churn_auc": 0.760,
        "baseline_btyd_churn_auc": 0.761,
        "boosted_clv_gini_norm": 0.70,
        "baseline_btyd_clv_gini_norm": 0.64,
    }
    champions, notes = choose_champions(metrics, BEST, boosted=BOTH, btyd=True)
    assert champions == {"churn": "btyd", "clv": "boosted"}
    assert len(notes) == 1 and notes[0].startswith("churn:") and "0.760" in notes[0] and "0.761" in notes[0]


def test_ties_go_to_the_boosted_model_and_forced_choices_are_said():
    metrics = {
        "boosted_churn_auc": 0.7,
        "baseline_btyd_churn_auc": 0.7,
        "boosted_clv_gini_norm": 0.5,
        "baseline_btyd_clv_gini_norm": 0.6,
    }
    champions, _ = choose_champions(metrics, BEST, boosted=BOTH, btyd=True)
    assert champions["churn"] == "boosted"
    champions, notes = choose_champions(metrics, {"churn": "btyd", "clv": "boosted"}, boosted=BOTH, btyd=True)
    assert champions == {"churn": "btyd", "clv": "boosted"}
    assert any("forces" in n for n in notes)


def test_without_a_btyd_model_the_boosted_models_score_and_without_either_it_stops():
    metrics = {"boosted_churn_auc": 0.7, "boosted_clv_gini_norm": 0.5}
    champions, notes = choose_champions(metrics, {"churn": "btyd", "clv": "best"}, boosted=BOTH, btyd=False)
    assert champions == {"churn": "boosted", "clv": "boosted"}
    assert notes and "no BTYD model" in notes[0]
    champions, _ = choose_champions({}, BEST, boosted={"churn": False, "clv": False}, btyd=True)
    assert champions == {"churn": "btyd", "clv": "btyd"}
    with pytest.raises(ModelError, match="no churn model"):
        choose_champions({}, BEST, boosted={"churn": False, "clv": False}, btyd=False)


def test_missing_btyd_metric_never_blocks_the_boosted_model():
    metrics = {"boosted_churn_auc": 0.6, "boosted_clv_gini_norm": 0.4}  # BTYD failed on the test snapshot
    champions, _ = choose_champions(metrics, BEST, boosted=BOTH, btyd=True)
    assert champions == {"churn": "boosted", "clv": "boosted"}


def test_customer_hold_out_is_a_stable_seeded_share():
    ids = pd.Series([f"c{i}" for i in range(20_000)])
    mask = held_out_customers(ids, seed=0)
    assert abs(mask.mean() - 0.2) < 0.01
    shuffled = ids.sample(frac=1.0, random_state=1)
    np.testing.assert_array_equal(held_out_customers(shuffled, seed=0), mask[shuffled.index.to_numpy()])
    other = held_out_customers(ids, seed=1)
    assert 0.1 < (mask & other).sum() / mask.sum() < 0.3  # another seed: a different, independent split


# --- the rule, case by case ------------------------------------------------------------------------------
def _metrics(churn: tuple[float, float], clv: tuple[float, float]) -> dict[str, float]:
    """(boosted, BTYD) per target; NaN stands for a metric the backtest could not compute."""
    return {
        "boosted_churn_auc": churn[0],
        "baseline_btyd_churn_auc": churn[1],
        "boosted_clv_gini_norm": clv[0],
        "baseline_btyd_clv_gini_norm": clv[1],
    }


@pytest.mark.parametrize(
    ("churn", "clv", "expected"),
    [
        ((0.80, 0.70), (0.60, 0.50), {"churn": "boosted", "clv": "boosted"}),
        ((0.70, 0.80), (0.50, 0.60), {"churn": "btyd", "clv": "btyd"}),
        ((0.70, 0.80), (0.60, 0.50), {"churn": "btyd", "clv": "boosted"}),
        ((0.80, 0.70), (0.50, 0.60), {"churn": "boosted", "clv": "btyd"}),
        ((0.75, 0.75), (0.55, 0.55), {"churn": "boosted", "clv": "boosted"}),  # exact ties: boosted
    ],
    ids=["both-boosted", "both-btyd", "churn-btyd", "clv-btyd", "ties"],
)
def test_best_chooses_each_target_on_its_own_metric(churn, clv, expected):
    champions, notes = choose_champions(_metrics(churn, clv), BEST, boosted=BOTH, btyd=True)
    assert champions == expected
    said = sorted(n.split(":")[0] for n in notes)  # one note per BTYD pick, none otherwise
    assert said == sorted(t for t, c in expected.items() if c == "btyd")


def test_the_other_target_metric_never_decides():
    """Churn is chosen by churn_auc only: a large CLV gap (or any other metric) does not move it."""
    metrics = {
        **_metrics((0.70, 0.71), (0.90, 0.10)),
        "boosted_churn_brier": 0.01,
        "baseline_btyd_churn_brier": 0.9,
    }
    champions, _ = choose_champions(metrics, BEST, boosted=BOTH, btyd=True)
    assert champions == {"churn": "btyd", "clv": "boosted"}


def test_forced_champions_are_kept_and_only_a_forced_worse_boosted_model_is_said():
    metrics = _metrics((0.80, 0.70), (0.50, 0.60))
    forced = {"churn": "btyd", "clv": "boosted"}
    champions, notes = choose_champions(metrics, forced, boosted=BOTH, btyd=True)
    assert champions == forced  # BTYD forced although the boosted churn model is better: kept, not said
    assert len(notes) == 1 and notes[0].startswith("clv:") and "forces" in notes[0]
    assert "0.500" in notes[0] and "0.600" in notes[0]


@pytest.mark.parametrize(
    "metrics",
    [
        {},
        _metrics((np.nan, 0.7), (np.nan, 0.6)),
        _metrics((0.7, np.nan), (0.6, np.nan)),
        {"boosted_churn_auc": 0.5, "boosted_clv_gini_norm": 0.1},
    ],
    ids=["no-metrics", "boosted-nan", "btyd-nan", "btyd-missing"],
)
def test_missing_or_nan_metrics_give_the_boosted_model_under_best(metrics):
    """Without two numbers to compare there is no evidence against the boosted model: it stays, unsaid."""
    champions, notes = choose_champions(metrics, BEST, boosted=BOTH, btyd=True)
    assert champions == {"churn": "boosted", "clv": "boosted"}
    assert notes == []


def test_a_target_without_a_boosted_model_falls_to_btyd_and_a_forced_boosted_one_is_said():
    metrics = _metrics((0.8, 0.7), (0.6, 0.5))
    champions, notes = choose_champions(
        metrics, {"churn": "boosted", "clv": "best"}, boosted={"churn": False, "clv": True}, btyd=True
    )
    assert champions == {"churn": "btyd", "clv": "boosted"}
    assert notes == ["churn: the boosted model could not be trained; BTYD scores churn."]


def test_without_btyd_at_the_as_of_date_best_is_boosted_without_a_note():
    champions, notes = choose_champions(_metrics((0.6, 0.9), (0.1, 0.9)), BEST, boosted=BOTH, btyd=False)
    assert champions == {"churn": "boosted", "clv": "boosted"}
    assert notes == []
    with pytest.raises(ModelError, match="no clv model"):
        choose_champions({}, BEST, boosted={"churn": True, "clv": False}, btyd=False)
