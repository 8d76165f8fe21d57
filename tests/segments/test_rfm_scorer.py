"""RFMScorer: cut points learned at D, row-by-row scoring that agrees with the batch function."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from churnkit.errors import InputError
from churnkit.segments import RFMScorer, rfm_segments


def _base(days, orders, spend) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(len(days))],
            "days_since_last_purchase": days,
            "orders": orders,
            "total_spend": spend,
        }
    )


@pytest.fixture
def base() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 200
    return _base(rng.integers(1, 400, n), rng.geometric(0.5, n), rng.lognormal(4, 1, n).round(2))


def test_agrees_with_batch_function_on_the_fitted_base(base):
    scorer = RFMScorer().fit(base)
    pd.testing.assert_frame_equal(scorer.transform(base), rfm_segments(base))


def test_row_by_row_equals_batch(base):
    scorer = RFMScorer().fit(base)
    whole = scorer.transform(base)
    one_by_one = pd.concat([scorer.transform(base.iloc[[i]]) for i in range(0, len(base), 17)])
    pd.testing.assert_frame_equal(one_by_one, whole.iloc[::17])


def test_new_values_hand_worked():
    # reference orders 1, 2, 2, 3 (n = 4): at 1 → p .125 → 1; at 2 → p .5 → 3; at 3 → p .875 → 5
    scorer = RFMScorer().fit(_base([10, 20, 20, 30], [1, 2, 2, 3], [5.0, 6.0, 6.0, 7.0]))
    new = _base([20, 5, 100, 15], [2, 0, 9, 2.5], [6.0, 1.0, 99.0, 6.5])
    out = scorer.transform(new)
    # below all → 1; above all → 5; between 2 and 3 → 3 of 4 customers below → p .75 → 4
    assert out["f_score"].tolist() == [3, 1, 5, 4]
    assert out["m_score"].tolist() == [3, 1, 5, 4]
    # recency inverse: 5 days is more recent than all → 5; 100 days → 1;
    # 15 days: 3 of 4 customers bought longer ago → p .75 → 4
    assert out["r_score"].tolist() == [3, 5, 1, 4]


def test_custom_map_and_bins(base):
    rule = [{"name": "Everyone", "r": [1, 5], "fm": [1, 5]}]
    out = RFMScorer(segment_map=rule, bins=3).fit_transform(base)
    assert set(out["rfm_segment"]) == {"Everyone"}
    assert out["r_score"].between(1, 3).all()


def test_pickle_and_not_fitted(base):
    scorer = pickle.loads(pickle.dumps(RFMScorer().fit(base)))
    pd.testing.assert_frame_equal(scorer.transform(base), rfm_segments(base))
    with pytest.raises(NotFittedError):
        RFMScorer().transform(base)
    with pytest.raises(InputError, match="empty"):
        RFMScorer().fit(base.iloc[:0])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 30), st.integers(1, 5), st.integers(0, 8)), min_size=1, max_size=30
    ),
    bins=st.integers(2, 9),
)
def test_two_implementations_agree(rows, bins):
    days, orders, spend = zip(*rows, strict=True)
    base = _base(list(days), list(orders), [float(s) for s in spend])
    pd.testing.assert_frame_equal(RFMScorer(bins=bins).fit_transform(base), rfm_segments(base, bins=bins))
