"""The campaign statistics: calibrated intervals and p-values, and agreement with scipy's own tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from churnkit.monitoring.stats import minimum_detectable_lift, two_proportion_test, welch_test

N_SIMS = 500


def _simulate(p_target: float, p_control: float, *, n_target: int, n_control: int, seed: int):
    rng = np.random.default_rng(seed)
    st = rng.binomial(n_target, p_target, N_SIMS)
    sc = rng.binomial(n_control, p_control, N_SIMS)
    return [two_proportion_test(a, n_target, b, n_control) for a, b in zip(st, sc, strict=True)]


@pytest.mark.parametrize(
    ("n_target", "n_control", "seed"), [(5000, 5000, 1), (9000, 1000, 2), (2000, 600, 3)]
)
def test_interval_covers_a_true_two_point_lift_95_percent_of_the_time(n_target, n_control, seed):
    results = _simulate(0.32, 0.30, n_target=n_target, n_control=n_control, seed=seed)
    covered = np.mean([r["ci_low"] <= 0.02 <= r["ci_high"] for r in results])
    assert 0.93 <= covered <= 0.97, covered


@pytest.mark.parametrize(
    ("n_target", "n_control", "seed"), [(5000, 5000, 4), (9000, 1000, 5), (2000, 600, 6)]
)
def test_without_an_effect_p_below_5_percent_in_5_percent_of_campaigns(n_target, n_control, seed):
    results = _simulate(0.30, 0.30, n_target=n_target, n_control=n_control, seed=seed)
    rejected = np.mean([r["p_value"] < 0.05 for r in results])
    assert 0.03 <= rejected <= 0.07, rejected


def test_welch_interval_covers_a_true_revenue_lift_on_skewed_amounts():
    rng = np.random.default_rng(7)
    covered, rejected_null = [], []
    for _ in range(N_SIMS):
        # revenue: zero for non-buyers, gamma-distributed for buyers (mean 60); true lift 0.3 × 60 × 0.1 = 1.8
        t = rng.gamma(2.0, 30.0, 3000) * (rng.random(3000) < 0.33)
        c = rng.gamma(2.0, 30.0, 3000) * (rng.random(3000) < 0.30)
        r = welch_test(t, c)
        covered.append(r["ci_low"] <= 60 * 0.03 <= r["ci_high"])
        c2 = rng.gamma(2.0, 30.0, 3000) * (rng.random(3000) < 0.33)
        rejected_null.append(welch_test(t, c2)["p_value"] < 0.05)
    assert 0.93 <= np.mean(covered) <= 0.97
    assert 0.03 <= np.mean(rejected_null) <= 0.07


def test_two_proportion_p_value_equals_the_uncorrected_chi_square_test():
    r = two_proportion_test(640, 2000, 170, 600)
    table = np.array([[640, 2000 - 640], [170, 600 - 170]])
    _, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert r["p_value"] == pytest.approx(p, rel=1e-9)
    assert r["lift"] == pytest.approx(640 / 2000 - 170 / 600, abs=1e-15)
    se = np.sqrt(0.32 * 0.68 / 2000 + (170 / 600) * (1 - 170 / 600) / 600)
    assert r["ci_high"] - r["ci_low"] == pytest.approx(2 * 1.959963984540054 * se, rel=1e-12)


def test_welch_matches_scipy():
    rng = np.random.default_rng(8)
    x, y = rng.gamma(1.5, 40.0, 700), rng.gamma(1.2, 40.0, 250)
    r = welch_test(x, y)
    ref = stats.ttest_ind(x, y, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert r["lift"] == pytest.approx(x.mean() - y.mean(), rel=1e-12)


def test_degenerate_groups():
    assert two_proportion_test(0, 100, 0, 50)["p_value"] == 1.0
    assert np.isnan(two_proportion_test(5, 0, 3, 10)["lift"])
    assert np.isnan(welch_test([], [1.0])["lift"])
    assert np.isnan(minimum_detectable_lift(0, 10, 0.5))


def test_minimum_detectable_lift_by_hand():
    # (1.959964 + 0.841621) * sqrt(0.5 * 0.5 * (1/1000 + 1/1000)) = 2.801585 * 0.0223607 = 0.062645
    assert minimum_detectable_lift(1000, 1000, 0.5) == pytest.approx(0.062645, abs=1e-6)
    # four times the customers halve it
    assert minimum_detectable_lift(4000, 4000, 0.5) == pytest.approx(0.062645 / 2, abs=1e-6)
