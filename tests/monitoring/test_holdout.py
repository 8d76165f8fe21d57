"""Control groups: deterministic hash assignment, its share, independence from the scores, the pick."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnkit.errors import ConfigError
from churnkit.monitoring.holdout import (
    apply_holdout,
    assign_groups,
    holdout_uniform,
    select_with_holdout,
)

ids = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=60, unique=True)


def test_draw_is_sha256_of_salt_and_id_and_pinned():
    # written out from the rule, and pinned: the same numbers on every machine and every future release
    expected = int(hashlib.sha256(b"churnkit:C000001").hexdigest()[:13], 16) / 2**52
    u = holdout_uniform(pd.Series(["C000001", "C000002", "42"]), salt="churnkit")
    assert u[0] == expected
    assert u.tolist() == [0.6617196687837801, 0.1683323210286367, 0.469421205267297]


@settings(max_examples=60, deadline=None)
@given(customer_ids=ids, fraction=st.floats(0.01, 0.99), salt=st.text(max_size=8), seed=st.integers(0, 10**6))
def test_same_group_in_every_run_and_row_order(customer_ids, fraction, salt, seed):
    s = pd.Series(customer_ids)
    first = assign_groups(s, fraction, salt=salt)
    again = assign_groups(s, fraction, salt=salt)
    shuffled = s.sample(frac=1.0, random_state=seed)
    by_id = dict(zip(s, first, strict=True))
    moved = assign_groups(shuffled, fraction, salt=salt)
    assert first.tolist() == again.tolist()
    assert moved.tolist() == [by_id[c] for c in shuffled]
    assert set(first) <= {"target", "control"}
    # a customer's group does not depend on who else is scored
    alone = assign_groups(s.iloc[:1], fraction, salt=salt)
    assert alone.iloc[0] == first.iloc[0]


@settings(max_examples=30, deadline=None)
@given(customer_ids=ids, salt=st.text(max_size=8), lo=st.floats(0.01, 0.5), step=st.floats(0.0, 0.49))
def test_a_larger_fraction_only_adds_control_customers(customer_ids, salt, lo, step):
    s = pd.Series(customer_ids)
    small = assign_groups(s, lo, salt=salt) == "control"
    big = assign_groups(s, lo + step, salt=salt) == "control"
    assert not (small & ~big).any()


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.3, 0.5])
@pytest.mark.parametrize("salt", ["churnkit", "spring-2026", ""])
def test_share_within_one_point_at_10k(fraction, salt):
    s = pd.Series([f"C{i:06d}" for i in range(1, 10_001)])
    share = (assign_groups(s, fraction, salt=salt) == "control").mean()
    assert abs(share - fraction) <= 0.01, share


def test_independent_of_the_scores():
    """Control share equal across churn-score deciles (chi-square test of independence and a ±3.5 pp band)."""
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(5)
    n = 20_000
    frame = pd.DataFrame({"customer_id": [f"C{i:06d}" for i in range(n)], "churn_probability": rng.random(n)})
    frame["group"] = assign_groups(frame["customer_id"], 0.2).to_numpy()
    decile = pd.qcut(frame["churn_probability"], 10, labels=False)
    shares = (frame["group"] == "control").groupby(decile).mean()
    assert (shares - 0.2).abs().max() < 0.035, shares
    table = pd.crosstab(decile, frame["group"])
    assert chi2_contingency(table)[1] > 0.01


def test_different_salts_draw_different_groups():
    s = pd.Series([f"C{i:06d}" for i in range(5000)])
    a = assign_groups(s, 0.5, salt="a") == "control"
    b = assign_groups(s, 0.5, salt="b") == "control"
    assert 0.4 < (a == b).mean() < 0.6  # unrelated draws agree about half the time


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5])
def test_fraction_must_be_strictly_between_0_and_1(bad):
    with pytest.raises(ConfigError, match="between 0 and 1"):
        assign_groups(pd.Series(["a"]), bad)


def _scores(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "churn_probability": rng.random(n),
            "expected_saved_value": rng.gamma(2.0, 3.0, n),
        }
    )


def test_top_picks_n_target_and_the_control_ranked_among_them():
    scores = _scores()
    scores["group"] = assign_groups(scores["customer_id"], 0.25).to_numpy()
    sel = select_with_holdout(scores, top=50).scores
    assert (sel["group"] == "target").sum() == 50
    ranked = scores.sort_values("expected_saved_value", ascending=False)
    targets = ranked[ranked["group"] == "target"].head(50)
    assert set(sel.loc[sel["group"] == "target", "customer_id"]) == set(targets["customer_id"])
    cutoff = targets["expected_saved_value"].min()
    control = ranked[(ranked["group"] == "control") & (ranked["expected_saved_value"] >= cutoff)]
    assert set(sel.loc[sel["group"] == "control", "customer_id"]) == set(control["customer_id"])


def test_budget_spends_only_on_target():
    scores = _scores()
    scores["group"] = assign_groups(scores["customer_id"], 0.3).to_numpy()
    result = select_with_holdout(scores, budget=100.0, cost_per_contact=2.5)
    picked = result.scores
    assert (picked["group"] == "target").sum() == 40  # 100 / 2.5 contacts, all on target customers
    assert "chosen (budget): 40 customers" in result.summary and "cost 100.00" in result.summary
    assert (picked["group"] == "control").sum() > 0


def test_apply_holdout_states_the_minimum_detectable_lift():
    """At the printed lift, the two-sided 5 % z test has 80 % power (checked through the power formula)."""
    from scipy.stats import norm

    scores = _scores(2000)
    sel = apply_holdout(scores, 0.2)
    written = sel.scores
    n_t, n_c = (written["group"] == "target").sum(), (written["group"] == "control").sum()
    p = 1 - scores["churn_probability"].mean()
    line = sel.summary.splitlines()[-1]
    mde = float(line.split("is ")[-1].split(" percentage")[0]) / 100
    se = np.sqrt(p * (1 - p) * (1 / n_t + 1 / n_c))
    power = norm.cdf(mde / se - norm.ppf(0.975)) + norm.cdf(-mde / se - norm.ppf(0.975))
    assert power == pytest.approx(0.80, abs=0.005)  # the printed value is rounded to 0.1 pp
    assert f"{n_t:,} target, {n_c:,} control" in line
