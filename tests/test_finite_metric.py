"""The finite-metric check of tests/conftest.py rejects what a comparison would let through."""

from __future__ import annotations

import math

import numpy as np
import pytest


@pytest.mark.parametrize("bad", [math.nan, np.float64("nan"), math.inf, -math.inf, None, "0.8", True])
def test_rejects_nan_inf_and_non_numbers(finite_metric, bad):
    """NaN would pass `not (x < 0.5)` and `isinstance(x, float)`; the check fails it."""
    with pytest.raises(AssertionError):
        finite_metric(bad, "churn_auc")


def test_accepts_finite_numbers_within_bounds(finite_metric):
    assert finite_metric(np.float64(0.81), "churn_auc", low=0.0, high=1.0) == 0.81
    assert finite_metric(3, "clv_mae") == 3.0
    with pytest.raises(AssertionError, match="outside"):
        finite_metric(1.2, "churn_auc", low=0.0, high=1.0)
