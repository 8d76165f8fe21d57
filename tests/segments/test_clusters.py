"""Behavioural clusters: stable ids and names, pickling, profiles, missing browsing data, naming rule."""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from churnkit.errors import ConfigError, InputError, ModelError
from churnkit.segments import BehaviourClusters, name_clusters
from churnkit.segments.clusters import profile_column


def test_fitted_state(fitted, features):
    assert 3 <= fitted.n_clusters_ <= 6
    assert set(fitted.silhouette_by_k_) == {3, 4, 5, 6}
    assert fitted.silhouette_ == pytest.approx(fitted.silhouette_by_k_[fitted.n_clusters_], abs=0.05)
    assert "sessions_90d" in fitted.features_ and "customer_id" not in fitted.features_
    assert sorted(fitted.names_) == list(range(fitted.n_clusters_))


def test_names_non_empty_and_distinct(fitted):
    names = list(fitted.names_.values())
    assert all(isinstance(n, str) and n.strip() for n in names)
    assert len(set(names)) == len(names)


def test_archetypes_get_telling_names(fitted, features):
    seg = fitted.predict(features)["segment"]
    top = seg.groupby(features["archetype"]).agg(lambda s: s.value_counts().index[0])
    assert "high-spend" in top["loyal"] and "frequent buyers" in top["loyal"]
    assert "lapsed" in top["lapsed"]
    assert "frequent browsers" in top["browsers"]


def test_repeated_predict_is_stable(fitted, features):
    first = fitted.predict(features)
    second = fitted.predict(features)
    pd.testing.assert_frame_equal(first, second)
    # a subset, reordered, gets the same clusters as in the full scoring
    subset = features.sample(50, random_state=1)
    pd.testing.assert_frame_equal(fitted.predict(subset), first.loc[subset.index])


def test_predict_output(fitted, features):
    out = fitted.predict(features)
    assert list(out.columns) == ["customer_id", "cluster", "segment"]
    assert out.index.equals(features.index)
    assert out["segment"].tolist() == [fitted.names_[c] for c in out["cluster"]]


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_roundtrip_keeps_clusters_and_names(fitted, features, dump):
    buf = io.BytesIO()
    if dump == "pickle":
        pickle.dump(fitted, buf)
        buf.seek(0)
        loaded = pickle.load(buf)
    else:
        joblib.dump(fitted, buf)
        buf.seek(0)
        loaded = joblib.load(buf)
    assert loaded.names_ == fitted.names_
    pd.testing.assert_frame_equal(loaded.predict(features), fitted.predict(features))
    pd.testing.assert_frame_equal(loaded.profile_, fitted.profile_)


def test_refit_is_deterministic(fitted, features):
    again = clone(fitted).fit(features)
    assert again.names_ == fitted.names_
    pd.testing.assert_frame_equal(again.predict(features), fitted.predict(features))


def test_ids_ordered_by_size(fitted):
    sizes = fitted.profile_["size"].tolist()
    assert sizes == sorted(sizes, reverse=True)


def test_profile_table(fitted, features):
    prof = fitted.profile_
    assert list(prof.columns[:4]) == ["cluster", "name", "size", "share"]
    assert {"churn_rate", "revenue_share", *(profile_column(c) for c in fitted.features_)} <= set(
        prof.columns
    )
    assert "avg_customer_age_days" in prof.columns and "T" not in prof.columns
    assert prof["size"].sum() == len(features)
    assert prof["share"].sum() == pytest.approx(1.0)
    assert prof["revenue_share"].sum() == pytest.approx(1.0)  # total_spend by default
    assert prof["churn_rate"].between(0, 1).all()
    assert prof["name"].tolist() == [fitted.names_[i] for i in prof["cluster"]]
    # feature means are on the raw scale
    seg = fitted.predict(features)
    c0 = features.loc[seg["cluster"] == 0, "orders"].mean()
    assert prof.loc[0, "avg_orders"] == pytest.approx(c0)


def test_profile_on_new_data_with_labels_by_customer_id(fitted, features):
    part = features.iloc[::3]
    churned = pd.Series(1.0, index=features["customer_id"])  # indexed by customer_id
    revenue = pd.Series(np.arange(len(part), dtype=float), index=part.index)  # aligned by index
    prof = fitted.profile(part, churned=churned, revenue=revenue)
    assert prof["size"].sum() == len(part)
    assert len(prof) == fitted.n_clusters_  # empty clusters keep their row
    assert (prof.loc[prof["size"] > 0, "churn_rate"] == 1.0).all()
    assert prof["revenue_share"].sum() == pytest.approx(1.0)


def test_fixed_k(features):
    model = BehaviourClusters(n_clusters=4).fit(features)
    assert model.n_clusters_ == 4 and model.silhouette_by_k_ == {}
    assert len(set(model.names_.values())) == 4


def test_no_browsing_columns(features, browsing):
    purchases_only = features.drop(columns=list(browsing))
    model = BehaviourClusters(k_range=(3, 4)).fit(purchases_only)
    assert not set(browsing) & set(model.features_)
    assert len(set(model.names_.values())) == model.n_clusters_
    assert model.profile_["size"].sum() == len(features)


def test_all_nan_browsing_columns_are_skipped_by_default(features, browsing):
    no_events = features.assign(**dict.fromkeys(browsing, np.nan))
    model = BehaviourClusters(n_clusters=3).fit(no_events)
    assert not set(browsing) & set(model.features_)


def test_nan_and_inf_in_browsing_are_imputed(fitted, features):
    messy = features.copy()
    messy.loc[:10, "sessions_90d"] = np.nan
    messy.loc[11:20, "browse_to_buy"] = np.inf
    out = fitted.predict(messy)
    assert out["cluster"].notna().all()


def test_explicit_feature_list(features):
    model = BehaviourClusters(n_clusters=3, features=["orders", "sessions_90d"]).fit(features)
    assert model.features_ == ["orders", "sessions_90d"]
    with pytest.raises(ModelError, match="sessions_90d"):
        model.predict(features.drop(columns="sessions_90d"))


def test_tiny_base(features):
    tiny = features.iloc[[0, 70, 130]]
    model = BehaviourClusters().fit(tiny)  # k_range starts above the 3 distinct customers: k = 3
    assert model.n_clusters_ == 3
    assert np.isnan(model.silhouette_)
    assert len(set(model.names_.values())) == 3
    with pytest.raises(InputError, match="at least 2 customers"):
        BehaviourClusters().fit(pd.concat([features.iloc[[0]]] * 5, ignore_index=True))
    with pytest.raises(InputError, match="only 3 customers"):
        BehaviourClusters(n_clusters=5).fit(tiny)


def test_not_fitted():
    with pytest.raises(NotFittedError):
        BehaviourClusters().predict(pd.DataFrame({"customer_id": ["a"], "orders": [1]}))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_clusters": 1}, "n_clusters"),
        ({"k_range": (1, 4)}, "k_range"),
        ({"k_range": (5, 3)}, "k_range"),
        ({"features": []}, "at least one column"),
    ],
)
def test_bad_parameters(features, params, match):
    with pytest.raises(ConfigError, match=match):
        BehaviourClusters(**params).fit(features)


def test_missing_columns(features):
    with pytest.raises(InputError, match="None of the default clustering columns"):
        BehaviourClusters().fit(features[["customer_id", "archetype"]])
    with pytest.raises(InputError, match="nope"):
        BehaviourClusters(features=["nope"]).fit(features)


# -- the naming rule on hand-made percentile tables -------------------------------------------


def test_naming_rule_hand_made():
    pct = pd.DataFrame(
        {
            "value": [0.9, 0.5, 0.2, 0.5],
            "frequency": [0.85, 0.2, 0.3, 0.5],
            "recency": [0.2, 0.5, 0.9, 0.5],
            "browsing": [0.5, 0.9, 0.1, 0.55],
        }
    )
    names = name_clusters(pct)
    # value .40 and frequency .35 beat recency .30, but a recency trait is always named
    assert names[0] == "recent high-spend frequent buyers"
    assert names[1] == "rare buyers, frequent browsers"
    assert names[2] == "lapsed rare browsers"  # browsing .40 and recency .40 beat value .30
    assert names[3] == "average customers"  # nothing stands out


def test_naming_collisions_get_more_traits_then_suffixes():
    pct = pd.DataFrame(
        {
            "value": [0.9, 0.9, 0.9, 0.9, 0.5],
            "frequency": [0.9, 0.9, 0.9, 0.9, 0.5],
            "recency": [0.1, 0.8, 0.5, 0.5, 0.5],
            "browsing": [0.5, 0.5, 0.56, 0.5, 0.52],
        }
    )
    names = name_clusters(pct)
    assert names[0] == "recent high-spend frequent buyers"
    assert names[1] == "lapsed high-spend frequent buyers"
    # clusters 2 and 3 have no further trait: compared on the dimension where they differ most
    assert names[2] == "high-spend frequent buyers (more browsing)"
    assert names[3] == "high-spend frequent buyers (less browsing)"
    assert len(set(names.values())) == 5


def test_naming_suffix_never_contradicts_the_name():
    """Two "recent" clusters that differ most in recency are told apart by another dimension if one differs."""
    pct = pd.DataFrame({"recency": [0.05, 0.3], "value": [0.55, 0.5], "browsing": [0.5, 0.5]})
    assert name_clusters(pct) == {0: "recent customers (higher spend)", 1: "recent customers (lower spend)"}
    only_recency = pd.DataFrame({"recency": [0.05, 0.3], "value": [0.5, 0.5]})
    assert name_clusters(only_recency) == {
        0: "recent customers (more recent of the two)",
        1: "recent customers (less recent of the two)",
    }


def test_naming_numbers_identical_clusters():
    pct = pd.DataFrame({"value": [0.5, 0.5, 0.5]})
    assert name_clusters(pct) == {
        0: "average customers",
        1: "average customers #2",
        2: "average customers #3",
    }
