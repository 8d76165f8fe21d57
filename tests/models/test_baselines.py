"""The recency baseline: monotone, calibrated on the training rows, spend rate carried forward."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnkit.errors import InputError, NotFittedError
from churnkit.models.baselines import RecencyBaseline
from churnkit.models.metrics import churn_metrics


@pytest.fixture(scope="module")
def training() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    days = rng.exponential(80, 3000).round() + 1
    churned = (rng.random(3000) < 1 / (1 + np.exp(-(np.log1p(days) * 1.5 - 6)))).astype(int)
    return pd.DataFrame({"days_since_last_purchase": days, "revenue_365d": rng.gamma(2, 100, 3000)}), churned


def test_probability_is_monotone_in_days_since_last_purchase(training):
    features, y = training
    model = RecencyBaseline().fit(features, y)
    grid = pd.DataFrame({"days_since_last_purchase": np.arange(0, 1000, 7)})
    p = model.predict_proba(grid)
    assert np.all(np.diff(p) > 0)
    assert np.all((p > 0) & (p < 1))


def test_ranking_equals_recency_and_probabilities_are_calibrated(training):
    features, y = training
    p = RecencyBaseline().fit(features, y).predict_proba(features)
    m = churn_metrics(y, p)
    assert m["churn_auc"] == pytest.approx(
        churn_metrics(y, features["days_since_last_purchase"] / 2000)["churn_auc"]
    )
    assert p.mean() == pytest.approx(y.mean(), abs=0.01)
    assert m["churn_ece"] < 0.03


def test_no_recency_effect_gives_the_base_rate():
    days = np.arange(1, 101, dtype=float)
    y = (days < 30).astype(int)  # churn falls with days: the baseline stays flat instead of reversing
    model = RecencyBaseline().fit(pd.DataFrame({"days_since_last_purchase": days}), y)
    p = model.predict_proba(pd.DataFrame({"days_since_last_purchase": [1.0, 50.0, 500.0]}))
    assert model.calibrator_.coef_ == 0.0
    np.testing.assert_allclose(p, p[0])
    assert p[0] == pytest.approx(y.mean(), abs=0.01)


def test_missing_days_get_the_base_rate(training):
    features, y = training
    model = RecencyBaseline().fit(features, y)
    p = model.predict_proba(pd.DataFrame({"days_since_last_purchase": [np.nan, 10.0]}))
    assert p[0] == pytest.approx(y.mean())


def test_clv_is_last_year_spend_rate_times_horizon():
    features = pd.DataFrame({"revenue_365d": [365.0, 0.0, np.nan, -20.0, 730.0]})
    clv = RecencyBaseline().predict_clv(features, horizon_days=90)
    np.testing.assert_allclose(clv, [90.0, 0.0, 0.0, 0.0, 180.0])
    with pytest.raises(ValueError, match="positive"):
        RecencyBaseline().predict_clv(features, horizon_days=0)


def test_custom_columns_and_errors(training):
    features, y = training
    renamed = features.rename(columns={"days_since_last_purchase": "dslp", "revenue_365d": "rev_180"})
    model = RecencyBaseline(recency_column="dslp", spend_column="rev_180", spend_window_days=180).fit(
        renamed, y
    )
    assert model.predict_clv(renamed.head(1), horizon_days=90)[0] == pytest.approx(
        renamed["rev_180"].iloc[0] / 2
    )
    with pytest.raises(InputError, match="'days_since_last_purchase'"):
        RecencyBaseline().fit(renamed, y)
    with pytest.raises(InputError, match="0 or 1"):
        RecencyBaseline().fit(features, y * 3)
    with pytest.raises(NotFittedError):
        RecencyBaseline().predict_proba(features)
