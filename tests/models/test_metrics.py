"""Metrics: tiny tables worked out by hand, and agreement with scikit-learn / scipy where they overlap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from churnkit.models.metrics import (
    CHURN_METRICS,
    CLV_METRICS,
    churn_metrics,
    clv_metrics,
    expected_calibration_error,
    lift_at,
    normalized_gini,
)

# --- churn -----------------------------------------------------------------------------------


def test_churn_metric_names_and_prefix():
    y, p = [0, 1, 0, 1], [0.1, 0.9, 0.3, 0.6]
    assert list(churn_metrics(y, p)) == list(CHURN_METRICS)
    prefixed = churn_metrics(y, p, prefix="baseline_recency_")
    assert list(prefixed) == [f"baseline_recency_{name}" for name in CHURN_METRICS]
    assert prefixed["baseline_recency_churn_auc"] == 1.0


def test_perfect_and_reversed_ranking():
    y = np.array([0, 0, 1, 1])
    assert churn_metrics(y, [0.1, 0.2, 0.8, 0.9])["churn_auc"] == 1.0
    assert churn_metrics(y, [0.9, 0.8, 0.2, 0.1])["churn_auc"] == 0.0
    assert churn_metrics(y, [0.1, 0.2, 0.8, 0.9])["churn_pr_auc"] == 1.0


def test_brier_and_logloss_by_hand():
    m = churn_metrics([0, 1], [0.2, 0.6])
    assert m["churn_brier"] == pytest.approx((0.04 + 0.16) / 2)
    assert m["churn_logloss"] == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)


def test_ece_by_hand_four_points():
    # bins: 0.12 and 0.18 share [0.1, 0.2): mean y 0.5, mean p 0.15 -> 2/4 * 0.35
    # 0.85 in [0.8, 0.9): 1/4 * 0.15; 0.95 in [0.9, 1]: 1/4 * 0.95
    y, p = [0, 1, 1, 0], [0.12, 0.18, 0.85, 0.95]
    assert expected_calibration_error(y, p) == pytest.approx(0.5 * 0.35 + 0.25 * 0.15 + 0.25 * 0.95)
    assert churn_metrics(y, p)["churn_ece"] == pytest.approx(0.45)


def test_ece_edges_go_to_upper_bin_and_one_is_in_last_bin():
    # 0.1 belongs to [0.1, 0.2), 1.0 to [0.9, 1.0]: each point alone in its bin
    assert expected_calibration_error([1, 0], [0.1, 1.0]) == pytest.approx((0.9 + 1.0) / 2)
    # one bin: |mean(y) - mean(p)|
    assert expected_calibration_error([1, 0, 0], [0.5, 0.2, 0.2], n_bins=1) == pytest.approx(1 / 3 - 0.3)


def test_ece_is_zero_when_every_bin_is_calibrated():
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    p = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75]
    assert expected_calibration_error(y, p) == pytest.approx(0.0)


def test_ece_agrees_with_sklearn_calibration_curve():
    rng = np.random.default_rng(3)
    p = rng.random(500)
    y = (rng.random(500) < p**1.5).astype(int)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    bins = np.searchsorted(np.linspace(0, 1, 11)[1:-1], p, side="right")
    counts = np.bincount(bins, minlength=10)
    weights = counts[counts > 0] / p.size
    expected = float(np.sum(weights * np.abs(prob_true - prob_pred)))
    assert expected_calibration_error(y, p) == pytest.approx(expected)


def test_lift_by_hand():
    # 20 rows, 5 churners (base 0.25); top 10% = 2 rows, both churners -> 1.0 / 0.25
    y = np.array([1, 1] + [1, 1, 1] + [0] * 15)
    p = np.r_[0.99, 0.98, np.linspace(0.5, 0.01, 18)]
    assert lift_at(y, p) == pytest.approx(4.0)
    assert churn_metrics(y, p)["churn_lift_top10"] == pytest.approx(4.0)


def test_lift_counts_ties_fractionally():
    # 10 rows, top 10% = 1 row, two rows tied at the top with one churner among them:
    # expected churners in the top row 0.5, base rate 0.2 -> lift 2.5
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.9, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1, 0.1, 0.0])
    assert lift_at(y, p) == pytest.approx(2.5)
    # the same whatever the order of the tied rows
    assert lift_at(y[[1, 0, *range(2, 10)]], p) == pytest.approx(2.5)
    assert lift_at(y, np.full(10, 0.3)) == pytest.approx(1.0)


def test_agrees_with_sklearn():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 300)
    y = (rng.random(300) < p).astype(int)
    m = churn_metrics(pd.Series(y), pd.Series(p))
    assert m["churn_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["churn_pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["churn_brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["churn_logloss"] == pytest.approx(log_loss(y, p))


def test_one_class_gives_nan_not_a_crash():
    m = churn_metrics([0, 0, 0], [0.1, 0.5, 0.2])
    assert math.isnan(m["churn_auc"])
    assert math.isnan(m["churn_pr_auc"])
    assert math.isnan(m["churn_lift_top10"])  # nobody churned
    assert m["churn_brier"] == pytest.approx((0.01 + 0.25 + 0.04) / 3)
    all_churn = churn_metrics([1, 1], [0.4, 0.8])
    assert math.isnan(all_churn["churn_auc"])
    assert all_churn["churn_lift_top10"] == pytest.approx(1.0)


def test_logloss_survives_hard_zero_and_one():
    m = churn_metrics([1, 0], [0.0, 1.0])
    assert math.isfinite(m["churn_logloss"]) and m["churn_logloss"] > 30


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 2], [0.1, 0.2], "only 0 and 1"),
        ([0, 1], [0.1, 1.2], r"probabilities in \[0, 1\]"),
        ([0, 1], [0.1, np.nan], "p contains NaN"),
        ([0, 1, 1], [0.1, 0.2], "different lengths"),
        ([], [], "empty"),
    ],
)
def test_bad_churn_inputs_are_named(y, p, match):
    with pytest.raises(ValueError, match=match):
        churn_metrics(y, p)


def test_nullable_pandas_inputs():
    y = pd.Series([0, 1, 1], dtype="Int64")
    p = pd.Series([0.2, 0.7, 0.9], dtype="Float64")
    assert churn_metrics(y, p)["churn_auc"] == 1.0


# --- CLV -------------------------------------------------------------------------------------


def test_clv_metric_names_and_prefix():
    m = clv_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], prefix="baseline_btyd_")
    assert list(m) == [f"baseline_btyd_{name}" for name in CLV_METRICS]


def test_clv_mae_rmse_by_hand():
    m = clv_metrics([0.0, 10.0, 20.0], [5.0, 10.0, 10.0])
    assert m["clv_mae"] == pytest.approx(5.0)
    assert m["clv_rmse"] == pytest.approx(math.sqrt((25 + 0 + 100) / 3))


def test_normalized_gini_perfect_reversed_constant():
    actual = [0.0, 5.0, 1.0, 20.0, 3.0]
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, [-a for a in actual]) == pytest.approx(-1.0)
    assert normalized_gini(actual, [7.0] * 5) == pytest.approx(0.0)


def test_normalized_gini_by_hand():
    # ideal order 3,1,0,0: cumulative shares .75,1,1,1 -> (3.75 - 2.5)/4 = .3125
    # predicted order 1,3,0,0: .25,1,1,1 -> (3.25 - 2.5)/4 = .1875; ratio 0.6
    actual, pred = [3.0, 1.0, 0.0, 0.0], [0.8, 0.9, 0.1, 0.2]
    assert normalized_gini(actual, pred) == pytest.approx(0.6)
    assert clv_metrics(actual, pred)["clv_gini_norm"] == pytest.approx(0.6)


def test_normalized_gini_ties_average_the_orders():
    # the two top predictions tie: the mean of the two orderings (1.0 and 0.6)
    assert normalized_gini([3.0, 1.0, 0.0, 0.0], [0.9, 0.9, 0.1, 0.2]) == pytest.approx(0.8)


def test_normalized_gini_undefined_cases_are_nan():
    assert math.isnan(normalized_gini([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]))
    assert math.isnan(normalized_gini([2.0, 2.0], [1.0, 2.0]))


def test_spearman_agrees_with_scipy_and_constant_is_nan():
    rng = np.random.default_rng(1)
    a, b = rng.gamma(1.0, 10.0, 50), rng.gamma(1.0, 10.0, 50)
    b[:10] = 0.0  # ties
    assert clv_metrics(a, b)["clv_spearman"] == pytest.approx(spearmanr(a, b).statistic)
    assert math.isnan(clv_metrics(a, np.zeros(50))["clv_spearman"])


# --- properties ------------------------------------------------------------------------------

_values = st.lists(st.integers(0, 50), min_size=2, max_size=30)


@settings(max_examples=60, deadline=None)
@given(_values, st.data())
def test_gini_bounds_symmetry_and_rank_invariance(actual, data):
    pred = data.draw(st.lists(st.integers(0, 10), min_size=len(actual), max_size=len(actual)))
    a, p = np.array(actual, float), np.array(pred, float)
    g = normalized_gini(a, p)
    if math.isnan(g):
        assert a.sum() == 0 or np.all(a == a[0])
        return
    assert -1 - 1e-12 <= g <= 1 + 1e-12
    assert normalized_gini(a, -p) == pytest.approx(-g, abs=1e-12)
    assert normalized_gini(a, np.exp(p / 3) + 5) == pytest.approx(g, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=40))
def test_ece_in_unit_interval_and_lift_bounded(rows):
    y = np.array([r[0] for r in rows], float)
    p = np.array([r[1] for r in rows], float)
    assert 0 <= expected_calibration_error(y, p) <= 1
    lift = lift_at(y, p)
    if y.sum() == 0:
        assert math.isnan(lift)
    else:
        assert 0 <= lift <= 1 / y.mean() + 1e-9
