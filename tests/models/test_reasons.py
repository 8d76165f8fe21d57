"""Churn reasons on hand-built contribution tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnkit.features.catalogue import catalogue
from churnkit.models.reasons import (
    NEVER_A_REASON,
    NO_SIGNAL,
    btyd_reasons,
    phrase,
    readable_name,
    top_reasons,
)


def _one(feature: str, value) -> str:
    """The phrase of a single feature with a positive contribution."""
    X = pd.DataFrame({feature: pd.Series([value], dtype=object if isinstance(value, str) else None)})
    return top_reasons(pd.DataFrame({feature: [1.0]}), X).iloc[0]


@pytest.fixture
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    index = pd.Index(["c1", "c2", "c3"], name="customer_id")
    X = pd.DataFrame(
        {
            "days_since_last_visit": [45.0, 3.0, 10.0],
            "revenue_trend": [-3 / 7, 0.0, 0.2],  # recent 40 vs prior 100 -> down 60%
            "frequency": [0, 4, 2],
            "sessions_90d": [2, 0, 7],
            "attr_country": ["DE", "FR", "UK"],
        },
        index=index,
    )
    contributions = pd.DataFrame(
        {
            "days_since_last_visit": [0.9, -0.1, -0.3],
            "revenue_trend": [0.5, 0.02, -0.2],
            "frequency": [0.3, -0.4, -0.1],
            "sessions_90d": [0.1, 0.6, -0.2],
            "attr_country": [-0.2, 0.2, 0.0],
        },
        index=index,
    )
    return contributions, X


def test_top_three_in_order_with_phrases(tables):
    contributions, X = tables
    reasons = top_reasons(contributions, X)
    assert reasons.name == "top_reasons"
    assert reasons.index.equals(contributions.index)
    assert (
        reasons["c1"]
        == "no visit in 45 days; spend down 60% on the previous quarter; only one purchase so far"
    )
    # positive contributions: sessions (0.6), country (0.2), a flat spend trend (0.02); a customer attribute
    # and a flat trend are no churn reasons, so only the sessions are said
    assert reasons["c2"] == "no sessions in the last 90 days"


def test_no_positive_contribution_gives_no_signal(tables):
    contributions, X = tables
    assert top_reasons(contributions, X)["c3"] == NO_SIGNAL
    assert top_reasons(contributions, X, min_contribution=0.25)["c2"] == "no sessions in the last 90 days"


def test_k_limits_and_extends(tables):
    contributions, X = tables
    assert top_reasons(contributions, X, k=1)["c1"] == "no visit in 45 days"
    # four positive features, but 2 sessions in the last 90 days is no churn reason
    assert top_reasons(contributions, X, k=10)["c1"].count("; ") == 2


def test_rows_are_matched_by_index(tables):
    contributions, X = tables
    shuffled = X.loc[["c3", "c1", "c2"]]
    pd.testing.assert_series_equal(top_reasons(contributions, shuffled), top_reasons(contributions, X))
    with pytest.raises(ValueError, match="same rows"):
        top_reasons(contributions, X.iloc[:2])


@pytest.mark.parametrize(
    ("feature", "value", "phrase"),
    [
        ("days_since_last_visit", 45.0, "no visit in 45 days"),
        ("days_since_last_visit", np.nan, "no website visits on record"),
        ("days_since_last_purchase", 120, "no purchase in 120 days"),
        ("days_since_last_purchase", 1234.4, "no purchase in 1,234 days"),
        ("frequency", 0, "only one purchase so far"),
        ("orders", 1, "only one purchase so far"),
        ("orders", 2, "only 2 orders so far"),
        ("revenue_trend", -3 / 7, "spend down 60% on the previous quarter"),
        ("revenue_trend", -1.0, "no spend in the last quarter (some in the quarter before)"),
        ("orders_trend", -0.5, "orders down 67% on the previous quarter"),
        ("visit_trend", -1 / 3, "visits down 50% on the previous 30 days"),
        ("cart_abandonment_rate", 0.75, "abandoned 75% of carts"),
        ("checkout_dropoff", 0.5, "left 50% of checkouts without buying"),
        ("browse_to_buy", 0.053, "only 5% of visits end in a purchase"),
        ("p_alive", 0.123, "only 12% likely to still be an active customer (BG/NBD)"),
        ("p_alive", 0.001, "under 1% likely to still be an active customer (BG/NBD)"),
        ("expected_purchases", 0.44, "only 0.4 purchases expected (BG/NBD)"),
        ("expected_purchases", 0.01, "almost no purchase expected (BG/NBD)"),
        ("p_no_purchase", 0.874, "87% chance of no purchase in the horizon (BG/NBD)"),
        ("p_no_purchase", 0.9996, "over 99% chance of no purchase in the horizon (BG/NBD)"),
        ("sessions_30d", 0, "no sessions in the last 30 days"),
        ("orders_365d", 0, "no orders in the last 365 days"),
        ("revenue_180d", 0.0, "no spend in the last 180 days"),
        ("revenue_90d", -12.0, "returns exceeded purchases in the last 90 days"),
        ("gap_ratio", 2.46, "current gap 2.5× the usual time between purchases"),
        ("gap_ratio", np.nan, "only one purchase so far"),
        ("ipt_std_days", 40.4, "irregular buying (gaps vary by ±40 days)"),
        ("visits_since_last_purchase", 6, "6 visits since the last purchase without buying"),
        ("return_count", 1, "1 return"),
        ("return_amount", 12.345, "returned goods worth 12.35"),
        ("return_share", 0.2, "returned 20% of spend"),
        ("sessions", 0, "no website visits"),
        ("mystery_score_30d", 0.4567, "mystery score (last 30 days) is 0.46"),
        ("mystery_total", 12345.0, "mystery total is 12,345"),
        ("mystery_total", np.nan, "no mystery total on record"),
    ],
)
def test_phrases(feature, value, phrase):
    assert _one(feature, value) == phrase


@pytest.mark.parametrize(
    ("feature", "value"),
    [
        # the safe side of a feature is no churn reason, even with a positive contribution
        ("gap_ratio", 0.3),  # bought again sooner than usual
        ("gap_ratio", 1.0),
        ("days_since_last_purchase", 6),  # less than a month
        ("days_since_last_visit", 3.0),
        ("frequency", 3),
        ("orders", 5),
        ("revenue_trend", 1 / 3),  # spend up
        ("revenue_trend", 0.0),  # flat
        ("sessions_90d", 4),
        ("searches_30d", 2),
        ("revenue_90d", 1234.5),
        ("p_alive", 0.8),
        ("expected_purchases", 1.2),
        ("p_no_purchase", 0.3),
        ("browse_to_buy", 0.44),
        ("return_count", 0),
        ("cart_abandonment_rate", 0.0),
        # descriptive facts are never reasons
        ("T", 700),
        ("tenure_days", 718),
        ("first_purchase_value", 311.98),
        ("signup_tenure_days", 718.0),
        ("total_spend", 25.0),
        ("ipt_mean_days", 30.0),
        ("channel_share_web", 0.8),
        ("attr_country", "DE"),
    ],
)
def test_values_on_the_safe_side_or_trivia_are_no_reason(feature, value):
    assert phrase(feature, value) is None
    assert _one(feature, value) == NO_SIGNAL


def test_negative_contributions_are_never_reasons():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame(
        {
            "days_since_last_purchase": rng.integers(31, 400, n),
            "cart_abandonment_rate": rng.uniform(0.1, 1.0, n),
            "orders": np.ones(n, dtype=int),
        }
    )
    contributions = pd.DataFrame(rng.normal(0, 1, (n, 3)), columns=X.columns)
    reasons = top_reasons(contributions, X, k=3)
    words = {
        "days_since_last_purchase": "no purchase in",
        "cart_abandonment_rate": "abandoned",
        "orders": "only one",
    }
    for i in range(n):
        for feature, word in words.items():
            assert (word in reasons.iloc[i]) == (contributions.iloc[i][feature] > 0), (i, feature)


def test_every_catalogue_feature_has_a_phrase_or_is_declared_no_reason():
    """Keeps reasons in step with the catalogue: no feature falls back to the raw '<name> is <value>'."""
    feats = catalogue(channels=["web"], attributes=[("country", "string")])
    for f in feats:
        if f.name.startswith(("attr_", "channel_share_")) or f.name in NEVER_A_REASON:
            assert phrase(f.name, 1.0) is None, f.name
            continue
        for value in (0.0, 1.0, 0.5, 500.0, -0.5, np.nan):
            text = phrase(f.name, value)
            assert text is None or " is " not in text, (f.name, value, text)


def test_btyd_reasons_use_the_same_phrases():
    frame = pd.DataFrame(
        {"days_since_last_purchase": [120, 10, 200], "frequency": [0, 3, 2], "p_alive": [0.9, 0.8, 0.3]}
    )
    assert btyd_reasons(frame).tolist() == [
        f"{phrase('days_since_last_purchase', 120)}; {phrase('frequency', 0)}",
        NO_SIGNAL,
        "no purchase in 200 days; only 30% likely to still be an active customer (BG/NBD)",
    ]


def test_same_phrase_is_given_once_and_the_next_feature_fills_in():
    X = pd.DataFrame({"frequency": [0], "ipt_mean_days": [np.nan], "gap_ratio": [np.nan], "orders": [1]})
    contributions = pd.DataFrame(
        {"frequency": [0.5], "ipt_mean_days": [0.4], "gap_ratio": [0.3], "orders": [0.2]}
    )
    # frequency 0, a missing mean gap, a missing gap ratio and one order all say "only one purchase so far"
    assert top_reasons(contributions, X).iloc[0] == "only one purchase so far"


def test_one_reason_per_window_family():
    X = pd.DataFrame({"searches_90d": [0], "searches_30d": [0], "sessions_30d": [0]})
    contributions = pd.DataFrame({"searches_90d": [0.3], "searches_30d": [0.5], "sessions_30d": [0.1]})
    assert (
        top_reasons(contributions, X).iloc[0]
        == "no searches in the last 30 days; no sessions in the last 30 days"
    )


def test_user_phrases_by_name_pattern_and_callable(tables):
    contributions, X = tables
    phrases = {
        "days_since_last_visit": "away for {v:.0f} days",
        r"sessions_(?P<w>\d+)d": "{v} visits in {w} days",
        "attr_country": lambda v: f"lives in {v}",
        "revenue_trend": "{name}: {pct}%",
    }
    reasons = top_reasons(contributions, X, phrases=phrases)
    assert reasons["c1"] == "away for 45 days; revenue trend: 43%; only one purchase so far"
    assert reasons["c2"] == "0 visits in 90 days; lives in FR; revenue trend: 0%"


def test_user_template_is_not_used_for_missing_values():
    X = pd.DataFrame({"days_since_last_visit": [np.nan]})
    reasons = top_reasons(
        pd.DataFrame({"days_since_last_visit": [1.0]}), X, phrases={"days_since_last_visit": "{v:.0f}"}
    )
    assert reasons.iloc[0] == "no website visits on record"


def test_broken_user_template_names_the_feature():
    X = pd.DataFrame({"attr_country": ["DE"]})
    with pytest.raises(ValueError, match="'attr_country'"):
        top_reasons(pd.DataFrame({"attr_country": [1.0]}), X, phrases={"attr_country": "{v:.0f}"})


def test_feature_missing_from_X_and_nan_contributions():
    contributions = pd.DataFrame({"only_in_model": [0.5, np.nan]})
    reasons = top_reasons(contributions, pd.DataFrame(index=contributions.index))
    assert reasons.tolist() == ["no only in model on record", NO_SIGNAL]


def test_readable_name():
    assert readable_name("attr_acquisition_channel") == "acquisition channel"
    assert readable_name("product_views_30d") == "product views (last 30 days)"


def _row_by_row(contributions: pd.DataFrame, X: pd.DataFrame, k: int, threshold: float) -> list[str]:
    """The definition, one row at a time: sort by contribution (stable), phrase, skip repeats, stop at k."""
    from churnkit.models.phrases import family as _family
    from churnkit.models.phrases import phraser as _phraser

    phrasers = {c: _phraser(c, {}) for c in contributions.columns}
    out = []
    for i in range(len(contributions)):
        row = contributions.iloc[i].fillna(-np.inf)
        chosen: list[str] = []
        families: list[str] = []
        for c in row.sort_values(ascending=False, kind="stable").index:
            if row[c] <= threshold or len(chosen) == k:
                break
            text = phrasers[c](X[c].iloc[i])
            if text is not None and _family(text) not in families:
                chosen.append(text)
                families.append(_family(text))
        out.append("; ".join(chosen) or NO_SIGNAL)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_reasons_match_the_row_by_row_definition(seed):
    """Many features, rounded contributions (ties at the cut), phrases shared by several features, NaNs."""
    rng = np.random.default_rng(seed)
    n = 400
    X = pd.DataFrame(
        {
            "frequency": rng.integers(0, 3, n),
            "ipt_mean_days": np.where(rng.random(n) < 0.5, np.nan, rng.integers(5, 60, n)),
            "gap_ratio": np.where(rng.random(n) < 0.5, np.nan, rng.random(n) * 3),
            "days_since_last_visit": np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 90, n)),
            "browse_to_buy": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
            "pages_per_session": np.where(rng.random(n) < 0.3, np.nan, rng.random(n) * 8),
            "orders": rng.integers(1, 4, n),
            "total_spend": rng.gamma(2.0, 50.0, n).round(2),
            "attr_country": pd.Series(rng.choice(["DE", "FR", None], n), dtype="str"),
            **{f"sessions_{w}d": rng.integers(0, 4, n) for w in (7, 30, 90)},
        }
    )
    contributions = pd.DataFrame(
        rng.normal(0, 1, (n, X.shape[1])).round(1),  # one decimal: many ties, also at the candidate cut
        columns=X.columns,
    )
    contributions = contributions.mask(rng.random(contributions.shape) < 0.05)
    for k, threshold in ((1, 0.0), (3, 0.0), (3, 0.5), (5, -0.5), (12, 0.0)):
        expected = _row_by_row(contributions, X, k, threshold)
        got = top_reasons(contributions, X, k=k, min_contribution=threshold).tolist()
        assert got == expected, (k, threshold)


def test_reason_combinations_are_numbered_in_the_order_met_even_when_their_key_would_overflow():
    """Rows with the same reasons share one joined text: `_combinations` numbers them as they are met, by
    folding the columns into one 64-bit key, or by sorting the rows when that key could overflow."""
    from churnkit.models.reasons import _combinations

    chosen = np.array([[3, 1, -1], [0, -1, -1], [3, 1, -1], [-1, -1, -1], [0, -1, -1], [3, 2, 0]])
    for values in (chosen, np.where(chosen == 3, 2**62, chosen)):  # 2**62: the folded key overflows
        combination, first = _combinations(values)
        assert combination.tolist() == [0, 1, 0, 2, 1, 3]
        assert first.tolist() == [0, 1, 3, 5]


def test_never_phrased_features_are_those_no_phrase_covers():
    from churnkit.models.phrases import never_phrased

    assert (
        never_phrased("T", {})
        and never_phrased("attr_country", {})
        and never_phrased("channel_share_web", {})
    )
    assert not never_phrased("frequency", {}) and not never_phrased("some_new_feature", {})  # generic phrase
    assert not never_phrased("T", {"T": "account {v} days old"})
    assert not never_phrased("attr_country", {r"attr_\w+": "from {v}"})
    # a user phrase on a never-phrased feature makes it a candidate again
    contributions = pd.DataFrame({"T": [0.9], "frequency": [0.1]})
    X = pd.DataFrame({"T": [700.0], "frequency": [0]})
    assert top_reasons(contributions, X).iloc[0] == "only one purchase so far"
    got = top_reasons(contributions, X, phrases={"T": "account {v:.0f} days old"}).iloc[0]
    assert got == "account 700 days old; only one purchase so far"
