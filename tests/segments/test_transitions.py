"""Segment transitions D1 → D2: counts by hand, rows add up, CSV and PNG."""

from __future__ import annotations

import pandas as pd
import pytest

from churnkit.errors import InputError
from churnkit.segments import NOT_IN_BASE, plot_transitions, rfm_segments, segment_transitions


@pytest.fixture
def before() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f"],
            "rfm_segment": ["Champions", "Champions", "At Risk", "At Risk", "Lost", "Loyal"],
        }
    )


@pytest.fixture
def after() -> pd.DataFrame:
    # b slips, c is won back, f left the base; g is new at D2 and not counted
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "g"],
            "rfm_segment": ["Champions", "Loyal", "Champions", "Lost", "Lost", "New Customers"],
        }
    )


def test_counts_by_hand(before, after):
    counts, shares = segment_transitions(before, after)
    assert counts.index.tolist() == ["Champions", "Loyal", "At Risk", "Lost"]  # default map order
    assert counts.columns.tolist() == ["Champions", "Loyal", "At Risk", "Lost", NOT_IN_BASE]
    assert counts.loc["Champions"].tolist() == [1, 1, 0, 0, 0]
    assert counts.loc["At Risk"].tolist() == [1, 0, 0, 1, 0]
    assert counts.loc["Loyal", NOT_IN_BASE] == 1
    assert counts.loc["Lost", "Lost"] == 1
    assert shares.loc["At Risk", "Champions"] == pytest.approx(0.5)
    assert counts.index.name == "from" and counts.columns.name == "to"


def test_rows_add_up_to_customers_at_d1(before, after):
    counts, shares = segment_transitions(before, after)
    assert counts.to_numpy().sum() == len(before)
    assert counts.sum(axis=1).to_dict() == before["rfm_segment"].value_counts().to_dict()
    assert shares.sum(axis=1).to_numpy() == pytest.approx(1.0)


def test_real_rfm_tables_and_other_column(before, after):
    rng = pd.Series(range(40))
    d1 = pd.DataFrame(
        {
            "customer_id": rng.astype(str),
            "days_since_last_purchase": (rng * 7) % 50 + 1,
            "orders": rng % 6 + 1,
            "total_spend": (rng * 13) % 97 + 5.0,
        }
    )
    d2 = d1.iloc[5:].assign(days_since_last_purchase=lambda f: f["days_since_last_purchase"] + 30)
    counts, _ = segment_transitions(rfm_segments(d1), rfm_segments(d2))
    assert counts.to_numpy().sum() == len(d1)
    assert counts[NOT_IN_BASE].sum() == 5
    # any column works, e.g. behavioural cluster names
    cl_counts, _ = segment_transitions(
        before.rename(columns={"rfm_segment": "segment"}),
        after.rename(columns={"rfm_segment": "segment"}),
        col="segment",
    )
    assert cl_counts.to_numpy().sum() == len(before)


def test_csv_roundtrip(before, after, tmp_path):
    counts, shares = segment_transitions(before, after)
    counts.to_csv(tmp_path / "counts.csv")
    back = pd.read_csv(tmp_path / "counts.csv", index_col="from")
    assert back.to_numpy().tolist() == counts.to_numpy().tolist()
    assert back.columns.tolist() == counts.columns.tolist()
    shares.to_csv(tmp_path / "shares.csv")
    back_shares = pd.read_csv(tmp_path / "shares.csv", index_col="from")
    assert back_shares.to_numpy() == pytest.approx(shares.to_numpy())


def test_png_written(before, after, tmp_path):
    counts, _ = segment_transitions(before, after)
    path = plot_transitions(counts, tmp_path / "plots" / "transitions.png")
    assert path.exists()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_segment_and_bad_input(before, after):
    with_missing = before.assign(rfm_segment=[None, *before["rfm_segment"][1:]])
    counts, _ = segment_transitions(with_missing, after)
    assert "(unknown)" in counts.index
    with pytest.raises(InputError, match="rfm_segment"):
        segment_transitions(before.drop(columns="rfm_segment"), after)
    with pytest.raises(InputError, match="duplicate customer_id"):
        segment_transitions(pd.concat([before, before]), after)
