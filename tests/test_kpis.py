"""Retention KPIs against tables worked out by hand, plus a brute-force check of the active-base identity."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnkit.errors import ConfigError, InputError
from churnkit.kpis import KPI_COLUMNS, cohort_retention, plot_cohort_heatmap, retention_kpis

NAN = math.nan
INF = math.inf


def _table(rows: list[tuple[str, str, str, float, bool]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "is_return"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], format="ISO8601")
    return df


@pytest.fixture
def monthly() -> pd.DataFrame:
    """Four customers over January-April 2024.

    A: Jan (one order of two lines 10 + 20), Feb (two orders), Apr (last second of the month).
    B: Jan, a return of 15 in Feb (not a purchase), Apr.  C: Feb, Mar, Apr.  D: Mar, Apr.
    """
    return _table(
        [
            ("A", "o1", "2024-01-05 10:00", 10.0, False),
            ("A", "o1", "2024-01-05 10:00", 20.0, False),
            ("B", "o2", "2024-01-20", 50.0, False),
            ("A", "o3", "2024-02-03", 40.0, False),
            ("A", "o4", "2024-02-25", 20.0, False),
            ("C", "o5", "2024-02-10", 60.0, False),
            ("B", "o2", "2024-02-12", -15.0, True),
            ("C", "o6", "2024-03-01", 30.0, False),
            ("D", "o7", "2024-03-15", 100.0, False),
            ("B", "o8", "2024-04-02", 25.0, False),
            ("A", "o9", "2024-04-30 23:59:59", 10.0, False),
            ("D", "o10", "2024-04-10", 50.0, False),
            ("C", "o11", "2024-04-20", 15.0, False),
        ]
    )


@pytest.fixture
def weekly() -> pd.DataFrame:
    """Three customers over the four ISO weeks starting Monday 2024-01-01; week 3 has no purchase."""
    return _table(
        [
            ("A", "w1", "2024-01-07 23:00", 10.0, False),  # Sunday: still week 1
            ("B", "w2", "2024-01-01 00:00", 20.0, False),
            ("A", "w3", "2024-01-08 00:00", 30.0, False),  # Monday 00:00: week 2
            ("C", "w4", "2024-01-10", 15.0, False),
            ("C", "w4", "2024-01-10", 25.0, False),
            ("A", "w1", "2024-01-09", -5.0, True),
            ("B", "w5", "2024-01-22", 12.0, False),
            ("C", "w6", "2024-01-23", 8.0, False),
        ]
    )


def _check(actual: pd.DataFrame, expected: dict[str, list[float]]) -> None:
    for column, values in expected.items():
        np.testing.assert_allclose(
            actual[column].to_numpy(dtype="float64"), values, rtol=1e-12, err_msg=column
        )


def test_monthly_kpis_by_hand(monthly: pd.DataFrame) -> None:
    kpis = retention_kpis(monthly, period="month")
    assert list(kpis.columns) == list(KPI_COLUMNS)
    assert list(kpis["period"]) == list(
        pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])
    )
    # Buyers: Jan {A,B}; Feb {A,C}; Mar {C,D}; Apr {A,B,C,D}.  lookback 1: active at end of p = bought in p.
    _check(
        kpis,
        {
            "customers_start": [0, 2, 2, 2],  # S = buyers of the previous month
            "new_customers": [2, 1, 1, 0],  # A,B | C | D | -
            "reactivated_customers": [0, 0, 0, 2],  # Apr: B (last Jan), A (last Feb)
            "customers_end": [2, 2, 2, 4],  # E = buyers of the month
            "retained_customers": [0, 1, 1, 2],  # E - N: 2-2 | 2-1 (A) | 2-1 (C) | 4-2 (C,D)
            "lost_customers": [0, 1, 1, 0],  # S - retained: - | B | A | -
            "customers": [2, 2, 2, 4],
            "orders": [
                2,
                3,
                2,
                4,
            ],  # o1 (two lines) + o2 | o3,o4,o5 | o6,o7 | o8..o11; the return is no order
            "revenue": [80.0, 105.0, 130.0, 100.0],  # 30+50 | 40+20+60-15 | 30+100 | 25+10+50+15
            "retention_rate": [NAN, 0.5, 0.5, 1.0],  # (E-N)/S: S=0 | (2-1)/2 | (2-1)/2 | (4-2)/2
            "churn_rate": [NAN, 0.5, 0.5, 0.0],
            # share of buyers with >= 2 orders ever: A1,B1 | A3 yes,C1 | C2 yes,D1 | A4,B2,C3,D2 all
            "repeat_customer_rate": [0.0, 0.5, 0.5, 1.0],
            "purchase_frequency": [1.0, 1.5, 1.0, 1.0],  # orders / customers: 2/2 | 3/2 | 2/2 | 4/4
            "average_order_value": [40.0, 35.0, 65.0, 25.0],  # revenue / orders: 80/2 | 105/3 | 130/2 | 100/4
            "expected_lifespan_periods": [NAN, 2.0, 2.0, INF],  # 1/churn: - | 1/0.5 | 1/0.5 | 1/0
            "simple_clv": [NAN, 105.0, 130.0, NAN],  # AOV*freq*life: - | 35*1.5*2 | 65*1*2 | unbounded
        },
    )
    counts = ["customers_start", "new_customers", "customers_end", "customers", "orders"]
    assert all(pd.api.types.is_integer_dtype(kpis[c]) for c in counts)


def test_monthly_kpis_lookback_two(monthly: pd.DataFrame) -> None:
    kpis = retention_kpis(monthly, period="month", lookback=2)
    # Active at end of p = bought in p or p-1: Jan {A,B}; Feb {A,B,C}; Mar {A,C,D}; Apr {A,B,C,D}.
    _check(
        kpis,
        {
            "customers_start": [0, 2, 3, 3],
            "customers_end": [2, 3, 3, 4],
            "new_customers": [2, 1, 1, 0],
            "reactivated_customers": [0, 0, 0, 1],  # Apr: B (gap Jan->Apr = 3 > 2); A's gap is 2
            "retained_customers": [0, 2, 2, 3],  # E-N: 2-2 | 3-1 (A,B) | 3-1 (A,C) | 4-1 (A,C,D)
            "lost_customers": [0, 0, 1, 0],  # Mar: B
            "retention_rate": [NAN, 1.0, 2 / 3, 1.0],  # 2/2 | 2/3 | 3/3
            "churn_rate": [NAN, 0.0, 1 / 3, 0.0],
            "expected_lifespan_periods": [NAN, INF, 3.0, INF],
            "simple_clv": [NAN, NAN, 195.0, NAN],  # Mar: 65 * 1 * 3
            "customers": [2, 2, 2, 4],  # the period's buyers do not depend on lookback
        },
    )


def test_weekly_kpis_by_hand(weekly: pd.DataFrame) -> None:
    kpis = retention_kpis(weekly, period="week")
    # Weeks start Monday; the empty third week is still a row.
    assert list(kpis["period"]) == list(
        pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"])
    )
    # Buyers: W1 {A,B}; W2 {A,C}; W3 {}; W4 {B,C}.
    _check(
        kpis,
        {
            "customers_start": [0, 2, 2, 0],
            "new_customers": [2, 1, 0, 0],
            "reactivated_customers": [0, 0, 0, 2],  # W4: B (last W1), C (last W2)
            "customers_end": [2, 2, 0, 2],
            "retained_customers": [0, 1, 0, 0],
            "lost_customers": [0, 1, 2, 0],  # W2: B; W3: A, C
            "customers": [2, 2, 0, 2],
            "orders": [2, 2, 0, 2],  # w4 has two lines, one order
            "revenue": [30.0, 65.0, 0.0, 20.0],  # 10+20 | 30+15+25-5 | 0 | 12+8
            "retention_rate": [NAN, 0.5, 0.0, NAN],  # S=0 | (2-1)/2 | (0-0)/2 | S=0 again
            "churn_rate": [NAN, 0.5, 1.0, NAN],
            "repeat_customer_rate": [0.0, 0.5, NAN, 1.0],  # W2: A (2 orders); W4: B 2, C 2
            "purchase_frequency": [1.0, 1.0, NAN, 1.0],  # 2/2 | 2/2 | 0/0 | 2/2
            "average_order_value": [15.0, 32.5, NAN, 10.0],  # 30/2 | 65/2 | 0/0 | 20/2
            "expected_lifespan_periods": [NAN, 2.0, 1.0, NAN],
            "simple_clv": [NAN, 65.0, NAN, NAN],  # 32.5 * 1 * 2; W3 has no AOV
        },
    )


def test_quarter_periods(monthly: pd.DataFrame) -> None:
    kpis = retention_kpis(monthly, period="quarter")
    assert list(kpis["period"]) == list(pd.to_datetime(["2024-01-01", "2024-04-01"]))
    # Q1 buyers {A,B,C,D}, orders 7, revenue 80+105+130; Q2 buyers {A,B,C,D}, all retained.
    _check(
        kpis, {"customers": [4, 4], "orders": [7, 4], "revenue": [315.0, 100.0], "retention_rate": [NAN, 1.0]}
    )


def test_returns_subtract_and_are_not_orders(monthly: pd.DataFrame) -> None:
    without = retention_kpis(monthly[~monthly["is_return"]])
    with_return = retention_kpis(monthly)
    assert with_return["revenue"].iloc[1] == without["revenue"].iloc[1] - 15.0
    assert with_return["orders"].tolist() == without["orders"].tolist()
    assert with_return["customers"].tolist() == without["customers"].tolist()
    # A return recorded with a positive amount still subtracts.
    flipped = monthly.assign(amount=monthly["amount"].abs())
    assert retention_kpis(flipped)["revenue"].tolist() == with_return["revenue"].tolist()


def test_multi_line_orders_count_once(monthly: pd.DataFrame) -> None:
    kpis = retention_kpis(monthly)
    assert kpis["orders"].iloc[0] == 2  # o1 has two lines
    # Without order ids every purchase row is its own order.
    no_ids = retention_kpis(monthly.drop(columns="order_id"))
    assert no_ids["orders"].tolist() == [3, 3, 2, 4]
    # Rows with a missing order id are one order each; the others still group.
    partial = monthly.assign(order_id=monthly["order_id"].where(monthly["order_id"] != "o5"))
    assert retention_kpis(partial)["orders"].tolist() == [2, 3, 2, 4]


def test_is_return_defaults_to_negative_amount(monthly: pd.DataFrame) -> None:
    expected = retention_kpis(monthly)
    pd.testing.assert_frame_equal(retention_kpis(monthly.drop(columns="is_return")), expected)


def test_input_is_not_modified(monthly: pd.DataFrame) -> None:
    before = monthly.copy()
    retention_kpis(monthly, period="week")
    cohort_retention(monthly)
    pd.testing.assert_frame_equal(monthly, before)


def test_tz_aware_timestamps_are_read_as_utc(monthly: pd.DataFrame) -> None:
    shifted = monthly.assign(timestamp=monthly["timestamp"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"))
    pd.testing.assert_frame_equal(retention_kpis(shifted), retention_kpis(monthly))


def test_bad_input_names_the_problem(monthly: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="required column amount missing"):
        retention_kpis(monthly.drop(columns="amount"))
    with pytest.raises(InputError, match="empty"):
        retention_kpis(monthly.iloc[0:0])
    with pytest.raises(InputError, match="timestamp must hold timestamps"):
        retention_kpis(monthly.assign(timestamp=monthly["timestamp"].astype(str)))
    with pytest.raises(InputError, match="1 rows have no customer_id"):
        retention_kpis(monthly.assign(customer_id=monthly["customer_id"].where(monthly.index != 3)))
    with pytest.raises(ConfigError, match="period must be one of week, month, quarter"):
        retention_kpis(monthly, period="day")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lookback"):
        retention_kpis(monthly, lookback=0)


def test_cohort_matrix_monthly_by_hand(monthly: pd.DataFrame) -> None:
    shares = cohort_retention(monthly, period="month")
    # First purchase: A, B Jan; C Feb; D Mar.  Cells after April are not observed (NaN).
    # Jan (2): k0 A,B | k1 Feb A | k2 Mar - | k3 Apr A,B.  Feb (1): C C C | -.  Mar (1): D D | - -.
    expected = pd.DataFrame(
        [[1.0, 0.5, 0.0, 1.0], [1.0, 1.0, 1.0, NAN], [1.0, 1.0, NAN, NAN]],
        index=pd.DatetimeIndex(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]), name="cohort"),
        columns=pd.RangeIndex(4, name="periods_since"),
    )
    pd.testing.assert_frame_equal(shares, expected, check_index_type=False)
    counts = cohort_retention(monthly, period="month", normalize=False)
    assert counts.dtypes.eq("Int64").all()
    assert counts.iloc[0].tolist() == [2, 1, 0, 2]
    assert counts.iloc[2, :2].tolist() == [1, 1] and counts.iloc[2, 2:].isna().all()


def test_cohort_matrix_weekly_by_hand(weekly: pd.DataFrame) -> None:
    shares = cohort_retention(weekly, period="week")
    # Week 1 cohort {A,B}: k0 2/2 | k1 A 1/2 | k2 0/2 | k3 B 1/2.  Week 2 cohort {C}: 1 | 0 | 1 | not seen.
    np.testing.assert_allclose(shares.to_numpy(), [[1.0, 0.5, 0.0, 0.5], [1.0, 0.0, 1.0, NAN]])
    assert list(shares.index) == list(pd.to_datetime(["2024-01-01", "2024-01-08"]))


def test_heatmap_png_written(monthly: pd.DataFrame, tmp_path) -> None:
    path = plot_cohort_heatmap(cohort_retention(monthly), tmp_path / "plots" / "cohorts.png")
    assert path == tmp_path / "plots" / "cohorts.png"
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    counts_path = plot_cohort_heatmap(
        cohort_retention(monthly, normalize=False), str(tmp_path / "counts.png")
    )
    assert counts_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the identity behind retention_rate, against plain Python sets -----------------------------------------
_rows = st.lists(
    st.tuples(st.sampled_from("abcde"), st.integers(0, 9), st.booleans()), min_size=1, max_size=25
)


@settings(max_examples=60, deadline=None)
@given(rows=_rows, lookback=st.integers(1, 3))
def test_retention_equals_share_of_start_base_still_active(rows, lookback) -> None:
    months = [(c, m) for c, m, is_return in rows if not is_return]
    df = pd.DataFrame(
        {
            "customer_id": [c for c, _, _ in rows],
            "order_id": [f"{c}{m}{i}" for i, (c, m, _) in enumerate(rows)],
            "timestamp": pd.to_datetime([f"2023-{m + 1:02d}-15" for _, m, _ in rows]),
            "amount": [-3.0 if r else 7.0 for _, _, r in rows],
            "is_return": [r for _, _, r in rows],
        }
    )
    kpis = retention_kpis(df, period="month", lookback=lookback)
    first = min(m for _, m, _ in rows)

    def active(month: int) -> set[str]:
        return {c for c, m in months if month - lookback < m <= month}

    for i, row in enumerate(kpis.itertuples()):
        month = first + i
        start, end = active(month - 1), active(month)
        ever_before = {c for c, m in months if m < month}
        buyers = {c for c, m in months if m == month}
        assert row.customers_start == len(start)
        assert row.customers_end == len(end)
        assert row.retained_customers == len(start & end)
        assert row.new_customers == len(buyers - ever_before)
        assert row.reactivated_customers == len((buyers & ever_before) - start)
        assert row.customers_end == row.customers_start - row.lost_customers + row.new_customers + (
            row.reactivated_customers
        )
        if start:
            assert row.retention_rate == pytest.approx(len(start & end) / len(start))
            assert 0.0 <= row.retention_rate <= 1.0
        else:
            assert math.isnan(row.retention_rate)
