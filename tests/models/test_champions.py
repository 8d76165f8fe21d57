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
