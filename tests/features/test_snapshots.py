"""The snapshot scheduler: hand-worked dates, the leakage rule, short histories and seasons."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from churnkit.features.snapshots import months_not_learned, schedule

D = dt.date


def test_history_that_ends_at_the_as_of_date_cdnow():
    """CDNOW cut at 1997-10-01: test = D - H; three 30-day-spaced origins end their labels by it."""
    plan = schedule(D(1997, 1, 1), D(1997, 9, 30), D(1997, 10, 1), horizon_days=90, min_history_days=30)
    assert plan.test == D(1997, 7, 3)  # 1997-10-01 - 90 days
    assert plan.evidence == "time"
    assert plan.train == (D(1997, 2, 3), D(1997, 3, 5), D(1997, 4, 4))
    assert plan.spacing_days == 30
    # final: every labelled origin up to D, six 30 days apart back from D - H
    assert plan.final == (
        D(1997, 2, 3),
        D(1997, 3, 5),
        D(1997, 4, 4),
        D(1997, 5, 4),
        D(1997, 6, 3),
        D(1997, 7, 3),
    )
    assert plan.seasonal == ()  # nine months: no year of history


def test_old_data_with_the_future_in_the_file_tests_at_the_as_of_date():
    plan = schedule(D(1997, 1, 1), D(1998, 6, 30), D(1997, 10, 1), horizon_days=90, min_history_days=30)
    assert plan.test == D(1997, 10, 1)
    assert max(plan.train) == D(1997, 7, 3)
    assert max(plan.final) == D(1997, 7, 3)


def test_short_history_shrinks_the_spacing():
    """Six months of history, H = 60: at 30 days two origins end their labels by the test (03-03, 02-02,
    each with 30 days of history since 01-01); 14 days gives three."""
    plan = schedule(D(2024, 1, 1), D(2024, 6, 30), D(2024, 7, 1), horizon_days=60, min_history_days=30)
    assert plan.test == D(2024, 5, 2)
    assert plan.spacing_days == 14
    assert plan.train == (D(2024, 2, 4), D(2024, 2, 18), D(2024, 3, 3))
    assert all(d + dt.timedelta(days=60) <= plan.test for d in plan.train)


def test_too_short_for_a_time_based_test_holds_customers_out():
    """Four months, H = 90: the only labelled origins overlap the test window: customer hold-out, said."""
    plan = schedule(D(2024, 1, 1), D(2024, 4, 30), D(2024, 5, 1), horizon_days=90, min_history_days=30)
    assert plan.test == D(2024, 2, 1)  # 2024 is a leap year
    assert plan.evidence == "customer_holdout"
    assert plan.train == (D(2024, 2, 1),)
    assert "held out" in plan.notes[0] and "not a time-based test" in plan.notes[0]
    assert "held-out customers" in plan.describe()


def test_no_labelled_snapshot_at_all():
    plan = schedule(D(2024, 1, 1), D(2024, 3, 1), D(2024, 3, 2), horizon_days=90, min_history_days=30)
    assert plan.test is None and plan.evidence == "none"


def test_a_year_plus_h_of_history_adds_last_years_season():
    plan = schedule(D(2023, 1, 1), D(2025, 10, 31), D(2025, 11, 1), horizon_days=90, min_history_days=30)
    assert D(2024, 11, 1) in plan.final  # the scoring date a year earlier: last year's Nov-Jan window
    assert set(plan.seasonal) >= {D(2024, 10, 2), D(2024, 11, 1)}
    assert D(2024, 8, 3) in plan.train  # the test date (2025-08-03) a year earlier
    off = schedule(
        D(2023, 1, 1), D(2025, 10, 31), D(2025, 11, 1), horizon_days=90, min_history_days=30, seasonal=False
    )
    assert off.seasonal == () and D(2024, 11, 1) not in off.final


@settings(max_examples=300, deadline=None)
@given(
    first_offset=st.integers(0, 400),
    history=st.integers(30, 1200),
    as_of_shift=st.integers(-200, 120),
    horizon=st.integers(7, 200),
    n=st.integers(1, 8),
    spacing=st.integers(1, 60),
    min_history=st.integers(1, 120),
    seasonal=st.booleans(),
)
def test_no_label_window_leaks_past_what_it_may_see(
    first_offset, history, as_of_shift, horizon, n, spacing, min_history, seasonal
):
    """For any dates: training labels end by the test origin (time evidence), all labels end by D and the end
    of the data, every origin has its minimum history."""
    first = D(2020, 1, 1) + dt.timedelta(days=first_offset)
    last = first + dt.timedelta(days=history)
    as_of = last + dt.timedelta(days=1 + as_of_shift)
    if as_of <= first:
        return
    plan = schedule(
        first,
        last,
        as_of,
        horizon_days=horizon,
        n_snapshots=n,
        spacing_days=spacing,
        min_history_days=min_history,
        seasonal=seasonal,
    )
    h = dt.timedelta(days=horizon)
    observed = min(as_of, last + dt.timedelta(days=1))
    if plan.test is None:
        return
    assert plan.test + h <= last + dt.timedelta(days=1)
    assert plan.test <= as_of
    for d in (*plan.train, *plan.final):
        assert (d - first).days >= min_history
        assert d + h <= observed
    if plan.evidence == "time":
        assert all(d + h <= plan.test for d in plan.train)
    else:
        assert all(d <= plan.test for d in plan.train)


def test_months_not_learned():
    assert months_not_learned(D(1997, 10, 1), 90, [D(1997, 4, 4), D(1997, 7, 3)]) == [10, 11, 12]
    assert months_not_learned(D(2025, 11, 1), 61, [D(2024, 11, 1)]) == []
