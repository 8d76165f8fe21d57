"""RFM scores and named segments: hand-built customers, ties, tiny bases, custom maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnkit.errors import ConfigError, InputError
from churnkit.segments import (
    DEFAULT_SEGMENT_MAP,
    SEGMENT_ORDER,
    UNMATCHED_SEGMENT,
    assign_segments,
    quantile_scores,
    rfm_scores,
    rfm_segments,
)

# 20 hand-built customers: every score 1..5 is used by exactly 4 customers in each of R, F and M,
# so the quantile scores are known by construction; the segment follows from the map in docs/segments.md.
# (r, f, m, expected segment)
HAND_BUILT = [
    (5, 4, 4, "Champions"),
    (4, 4, 5, "Champions"),
    (5, 5, 5, "Champions"),
    (3, 4, 5, "Loyal"),
    (4, 4, 3, "Loyal"),
    (4, 2, 3, "Potential Loyalist"),
    (5, 1, 4, "Potential Loyalist"),
    (5, 1, 1, "New Customers"),
    (4, 1, 2, "Promising"),
    (3, 3, 2, "Need Attention"),
    (3, 1, 2, "About to Sleep"),
    (3, 2, 1, "About to Sleep"),
    (1, 5, 3, "Can't Lose Them"),
    (1, 2, 4, "At Risk"),
    (2, 2, 5, "At Risk"),
    (1, 5, 1, "At Risk"),
    (2, 3, 3, "At Risk"),
    (2, 5, 4, "At Risk"),
    (2, 3, 1, "Hibernating"),
    (1, 3, 2, "Lost"),
]
DAYS = {5: 3, 4: 20, 3: 60, 2: 150, 1: 400}  # days since last purchase for each R score
ORDERS = {1: 1, 2: 2, 3: 3, 4: 5, 5: 9}  # tied within a score group on purpose
SPEND = {1: 20.0, 2: 60.0, 3: 150.0, 4: 400.0, 5: 1200.0}


@pytest.fixture
def hand_built() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:02d}" for i in range(len(HAND_BUILT))],
            "days_since_last_purchase": [DAYS[r] + i for i, (r, *_) in enumerate(HAND_BUILT)],
            "orders": [ORDERS[f] for _, f, _, _ in HAND_BUILT],
            "total_spend": [SPEND[m] + i / 10 for i, (_, _, m, _) in enumerate(HAND_BUILT)],
            "other": 1.0,
        }
    )


def test_hand_built_customers_get_known_scores_and_segments(hand_built):
    out = rfm_segments(hand_built)
    assert list(out.columns) == ["customer_id", "r_score", "f_score", "m_score", "rfm_score", "rfm_segment"]
    assert out["r_score"].tolist() == [r for r, *_ in HAND_BUILT]
    assert out["f_score"].tolist() == [f for _, f, _, _ in HAND_BUILT]
    assert out["m_score"].tolist() == [m for _, _, m, _ in HAND_BUILT]
    assert out["rfm_score"].tolist() == [f"{r}{f}{m}" for r, f, m, _ in HAND_BUILT]
    assert out["rfm_segment"].tolist() == [s for *_, s in HAND_BUILT]
    assert set(out["rfm_segment"]) == set(SEGMENT_ORDER)  # all 11 segments reached


def test_scores_do_not_depend_on_row_order(hand_built):
    shuffled = hand_built.sample(frac=1.0, random_state=3)
    a = rfm_segments(hand_built).set_index("customer_id").sort_index()
    b = rfm_segments(shuffled).set_index("customer_id").sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_quantile_scores_hand_worked_ties():
    # average ranks 1, 2.5, 2.5, 4 → mid-rank percentiles .125, .5, .5, .875 → scores 1, 3, 3, 5
    assert quantile_scores(pd.Series([10, 20, 20, 30])).tolist() == [1, 3, 3, 5]
    # recency is scored inversely: fewest days = highest score
    assert quantile_scores(pd.Series([10, 20, 20, 30]), ascending=False).tolist() == [5, 3, 3, 1]
    # ten distinct values fill the five bins two by two
    assert quantile_scores(pd.Series(range(10))).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_typical_retail_frequency_ties():
    # 60 % one-time buyers share one score; the top tie group reaches 5, so Champions stay reachable
    orders = pd.Series([1] * 6 + [2] * 2 + [3, 8])
    assert quantile_scores(orders).tolist() == [2] * 6 + [4] * 2 + [5, 5]


@pytest.mark.parametrize(
    ("days", "orders", "spend", "expected"),
    [
        ([30], [1], [50.0], [(3, 3, 3)]),  # a single customer: the middle score
        ([5, 5, 5], [1, 1, 1], [9.0, 9.0, 9.0], [(3, 3, 3)] * 3),  # everyone tied
        ([2, 90], [1, 4], [10.0, 300.0], [(4, 2, 2), (2, 4, 4)]),  # two customers straddle the middle
    ],
)
def test_tiny_bases_and_all_ties(days, orders, spend, expected):
    features = pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(len(days))],
            "days_since_last_purchase": days,
            "orders": orders,
            "total_spend": spend,
        }
    )
    out = rfm_segments(features)
    assert list(zip(out["r_score"], out["f_score"], out["m_score"], strict=True)) == expected
    assert out["rfm_segment"].isin(SEGMENT_ORDER).all()


def test_empty_base_gives_empty_table():
    empty = pd.DataFrame({"customer_id": [], "days_since_last_purchase": [], "orders": [], "total_spend": []})
    out = rfm_segments(empty)
    assert len(out) == 0
    assert "rfm_segment" in out.columns


def test_default_map_covers_every_score_combination():
    r, f, m = (pd.Series(v) for v in zip(*np.ndindex(5, 5, 5), strict=True))
    names = assign_segments(r + 1, f + 1, m + 1)
    assert UNMATCHED_SEGMENT not in set(names)
    assert set(names) == set(SEGMENT_ORDER)


def test_first_matching_rule_wins_on_boundaries():
    # R=4, FM=3 lies in both "Loyal" (fm 3–5) and "Potential Loyalist" (fm 2–3): Loyal comes first
    assert assign_segments(pd.Series([4]), pd.Series([3]), pd.Series([3])).tolist() == ["Loyal"]
    assert assign_segments(pd.Series([4]), pd.Series([3]), pd.Series([2])).tolist() == ["Potential Loyalist"]


def test_other_bin_counts_use_the_1_to_5_map(hand_built):
    out = rfm_segments(hand_built, bins=3)
    assert out["r_score"].between(1, 3).all()
    best = out["rfm_score"] == "333"
    worst = out["rfm_score"] == "111"
    assert (out.loc[best, "rfm_segment"] == "Champions").all()
    assert (out.loc[worst, "rfm_segment"] == "Lost").all()


def test_custom_segment_map_from_config(hand_built):
    config_map = [  # as it would come from YAML: lists, first match wins, a gap on purpose
        {"name": "Recent", "r": [4, 5], "fm": [1, 5]},
        {"name": "Old big spenders", "r": [1, 3], "fm": [4, 5]},
    ]
    out = rfm_segments(hand_built, segment_map=config_map)
    expected = [
        "Recent" if r >= 4 else "Old big spenders" if (f + m) / 2 >= 4 else UNMATCHED_SEGMENT
        for r, f, m, _ in HAND_BUILT
    ]
    assert out["rfm_segment"].tolist() == expected


def test_default_map_is_not_mutated(hand_built):
    before = [dict(rule) for rule in DEFAULT_SEGMENT_MAP]
    rfm_segments(hand_built)
    assert before == DEFAULT_SEGMENT_MAP


@pytest.mark.parametrize(
    ("bad_map", "match"),
    [
        ([], "no rules"),
        ([{"r": [1, 5], "fm": [1, 5]}], "non-empty name"),
        ([{"name": "x", "r": [1, 5]}], "needs an fm range"),
        ([{"name": "x", "r": [4, 2], "fm": [1, 5]}], "low <= high"),
        ([{"name": "x", "r": [0, 5], "fm": [1, 5]}], "low <= high"),
        ([{"name": "x", "r": "1-5", "fm": [1, 5]}], r"\[low, high\] pair"),
        ([{"name": "x", "r": [1, 5], "fm": [1, 5], "f": [1, 2]}], "unknown keys"),
        ({"name": "x"}, "list of rules"),
    ],
)
def test_bad_segment_map_is_a_config_error(hand_built, bad_map, match):
    with pytest.raises(ConfigError, match=match):
        rfm_segments(hand_built, segment_map=bad_map)


def test_input_errors_name_the_column(hand_built):
    with pytest.raises(InputError, match="Required column orders missing") as err:
        rfm_scores(hand_built.drop(columns="orders"))
    assert err.value.column == "orders"
    with pytest.raises(InputError, match="missing values"):
        rfm_scores(hand_built.assign(total_spend=np.nan))
    with pytest.raises(InputError, match="duplicate customer_id"):
        rfm_scores(pd.concat([hand_built, hand_built]))
    with pytest.raises(ConfigError, match="bins"):
        rfm_scores(hand_built, bins=10)


def test_custom_column_names(hand_built):
    renamed = hand_built.rename(columns={"orders": "n_orders"})
    out = rfm_scores(renamed, frequency_col="n_orders")
    pd.testing.assert_frame_equal(out, rfm_scores(hand_built))


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=40),
    bins=st.integers(min_value=2, max_value=9),
)
def test_quantile_scores_properties(values, bins):
    series = pd.Series(values)
    scores = quantile_scores(series, bins=bins)
    assert scores.between(1, bins).all()
    # ties share a score and a larger value never scores lower
    by_value = scores.groupby(series).agg(["min", "max"])
    assert (by_value["min"] == by_value["max"]).all()
    assert by_value["min"].is_monotonic_increasing
    # inverse scoring mirrors the scale up to ties on a bin boundary
    inverse = quantile_scores(series, bins=bins, ascending=False)
    assert ((scores + inverse - (bins + 1)).abs() <= 1).all()
