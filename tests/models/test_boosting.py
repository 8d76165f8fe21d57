"""LightGBM churn and CLV models on a small seeded synthetic training table with a known signal."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from churnkit.errors import ChurnkitWarning, DataTooShortError, InputError, ModelError, NotFittedError
from churnkit.models.calibration import CalibrationWarning, SigmoidCalibrator
from churnkit.models.churn import ChurnClassifier
from churnkit.models.clv import CLVRegressor
from churnkit.models.gbm import time_holdout
from churnkit.models.metrics import churn_metrics, clv_metrics

FEATURES = ["days_since_last_purchase", "orders_90d", "revenue_365d", "country", "sessions_30d"]
DATES = ("2024-01-01", "2024-04-01", "2024-07-01")
ONE_THREAD = {"num_threads": 1}
"""For tests that do not check the defaults: OpenMP threads crawl on busy shared cores."""


def make_table(n: int = 1500, dates=DATES, seed: int = 0) -> pd.DataFrame:
    """Stacked snapshots: churn rises with days since purchase and in UK, falls with recent orders."""
    rng = np.random.default_rng(seed)
    frames = []
    for as_of in dates:
        days = rng.exponential(60, n).round()
        orders = rng.poisson(1.5, n)
        revenue = rng.gamma(2.0, 50, n) * (1 + orders)
        country = rng.choice(np.array(["DE", "FR", "UK"], dtype=object), n)
        sessions = rng.poisson(3, n).astype(float)
        sessions[rng.random(n) < 0.2] = np.nan
        logit = -0.5 + 0.025 * (days - 60) - 0.5 * orders + 0.8 * (country == "UK")
        churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
        spend = rng.gamma(2.0, revenue / 8 + 10)
        frames.append(
            pd.DataFrame(
                {
                    "days_since_last_purchase": days,
                    "orders_90d": orders,
                    "revenue_365d": revenue,
                    "country": pd.Series(country, dtype="str"),
                    "sessions_30d": sessions,
                    "churned": churned,
                    "future_revenue": np.where(churned == 1, 0.0, spend),
                    "as_of": pd.Timestamp(as_of),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_table()


@pytest.fixture(scope="module")
def future() -> pd.DataFrame:
    """Later, unseen customers to score."""
    return make_table(n=2000, dates=("2024-10-01",), seed=1)


@pytest.fixture(scope="module")
def churn_model(table) -> ChurnClassifier:
    return ChurnClassifier().fit(table[FEATURES], table["churned"], time_index=table["as_of"])


@pytest.fixture(scope="module")
def clv_model(table) -> CLVRegressor:
    return CLVRegressor().fit(table[FEATURES], table["future_revenue"], time_index=table["as_of"])


# --- time-based held-out fold ----------------------------------------------------------------


def test_time_holdout_holds_out_the_latest_as_of():
    t = pd.Series(pd.to_datetime(["2024-03-01", "2024-01-01", "2024-02-01", "2024-03-01", "2024-01-01"]))
    train, valid = time_holdout(t)
    assert valid.tolist() == [True, False, False, True, False]
    assert train.tolist() == [False, True, True, False, True]
    train, valid = time_holdout(t, n_valid_dates=2)
    assert valid.tolist() == [True, False, True, True, False]
    # purged: training as-of dates at least 40 days before the first held-out date
    train, valid = time_holdout(t, gap_days=40)
    assert train.tolist() == [False, True, False, False, True]


def test_time_holdout_needs_two_dates():
    with pytest.raises(DataTooShortError, match="more than 1 distinct as-of"):
        time_holdout(pd.Series(pd.to_datetime(["2024-01-01"] * 3)))
    with pytest.raises(DataTooShortError, match="no training rows"):
        time_holdout(pd.to_datetime(["2024-01-01", "2024-01-10"]), gap_days=30)


def test_fit_holds_out_the_latest_snapshot(churn_model, table):
    assert churn_model.valid_start_ == pd.Timestamp("2024-07-01")
    assert churn_model.train_end_ == pd.Timestamp("2024-04-01")
    assert churn_model.n_valid_ == int((table["as_of"] == "2024-07-01").sum())
    assert churn_model.n_train_ + churn_model.n_valid_ == len(table)


def test_latest_snapshot_never_grows_trees(table):
    """Scrambling the held-out labels leaves the trees untouched (without early stopping)."""
    scrambled = table["churned"].copy()
    latest = table["as_of"] == table["as_of"].max()
    scrambled[latest] = 1 - scrambled[latest]
    kwargs = {
        "calibration": "none",
        "early_stopping_rounds": None,
        "num_boost_round": 30,
        "params": ONE_THREAD,
    }
    a = ChurnClassifier(**kwargs).fit(table[FEATURES], table["churned"], time_index=table["as_of"])
    b = ChurnClassifier(**kwargs).fit(table[FEATURES], scrambled, time_index=table["as_of"])
    assert a.booster_.model_to_string() == b.booster_.model_to_string()


# --- ChurnClassifier -------------------------------------------------------------------------


def test_churn_model_finds_the_signal_and_is_calibrated(churn_model, future):
    p = churn_model.predict_proba(future[FEATURES])
    assert p.shape == (len(future),)
    assert np.all((p > 0) & (p < 1))
    m = churn_metrics(future["churned"], p)
    assert m["churn_auc"] > 0.75
    assert m["churn_ece"] < 0.05
    assert churn_model.best_iteration_ < churn_model.num_boost_round  # early stopping kicked in
    assert churn_model.booster_.current_iteration() == churn_model.best_iteration_


def test_calibration_choice_is_measured_and_recorded(churn_model):
    assert churn_model.calibration_ in {"isotonic", "sigmoid"}
    scores = churn_model.calibration_scores_
    assert set(scores) == {"isotonic", "sigmoid", "none"}
    other = "sigmoid" if churn_model.calibration_ == "isotonic" else "isotonic"
    assert scores[churn_model.calibration_]["brier"] <= scores[other]["brier"] + 1e-4


def test_explicit_calibrations(table, future):
    X, y, t = table[FEATURES], table["churned"], table["as_of"]
    iso = ChurnClassifier(calibration="isotonic", params=ONE_THREAD).fit(X, y, time_index=t)
    assert iso.calibration_ == "isotonic" and isinstance(iso.calibrator_, IsotonicRegression)
    none = ChurnClassifier(calibration="none", params=ONE_THREAD).fit(X, y, time_index=t)
    assert none.calibrator_ is None and none.calibration_scores_ == {}
    np.testing.assert_allclose(none.predict_proba(future[FEATURES]), none.predict_raw(future[FEATURES]))


def test_same_seed_gives_bit_identical_models(churn_model, table, future):
    again = ChurnClassifier().fit(table[FEATURES], table["churned"], time_index=table["as_of"])
    assert again.booster_.model_to_string() == churn_model.booster_.model_to_string()
    assert np.array_equal(again.predict_proba(future[FEATURES]), churn_model.predict_proba(future[FEATURES]))


def test_pickle_roundtrip_is_identical(churn_model, future):
    loaded = pickle.loads(pickle.dumps(churn_model))
    X = future[FEATURES]
    assert np.array_equal(loaded.predict_proba(X), churn_model.predict_proba(X))
    pd.testing.assert_frame_equal(loaded.contributions(X), churn_model.contributions(X))


def test_categories_are_learned_and_unseen_levels_are_missing(churn_model, future):
    assert churn_model.categorical_features_ == ["country"]
    assert churn_model.categories_ == {"country": ["DE", "FR", "UK"]}
    X = future[FEATURES].head(5).copy()
    unseen, missing = X.copy(), X.copy()
    unseen["country"] = ["XX", "Mars", "XX", "??", "XX"]
    missing["country"] = None
    p_unseen = churn_model.predict_proba(unseen)
    assert np.all(np.isfinite(p_unseen))
    np.testing.assert_array_equal(p_unseen, churn_model.predict_proba(missing))


def test_scoring_maps_strings_the_same_whatever_the_dtype_or_column_order(churn_model, future):
    X = future[FEATURES]
    as_object = X.astype({"country": object})
    as_category = X.astype({"country": pd.CategoricalDtype(["UK", "FR", "DE", "ES"])})
    reordered = X[FEATURES[::-1]]
    expected = churn_model.predict_proba(X)
    for other in (as_object, as_category, reordered):
        np.testing.assert_array_equal(churn_model.predict_proba(other), expected)


def test_contributions_are_log_odds_without_bias(churn_model, future):
    X = future[FEATURES].iloc[10:20]
    contrib = churn_model.contributions(X)
    assert list(contrib.columns) == churn_model.feature_names_
    assert contrib.index.equals(X.index)
    with_bias = churn_model.contributions(X, include_bias=True)
    raw = churn_model.booster_.predict(churn_model._encode(X), raw_score=True)
    np.testing.assert_allclose(with_bias.sum(axis=1).to_numpy(), raw, rtol=1e-9, atol=1e-9)
    # the strongest driver in the synthetic data is the recency
    assert churn_model.feature_importance().index[0] == "days_since_last_purchase"


@pytest.mark.parametrize("chunk", [1000, 3])
def test_path_contributions_sum_to_log_odds_and_follow_each_split(churn_model, future, chunk):
    """Path attribution: additive like SHAP, and on a one-split stump it credits that split's feature."""
    from churnkit.models.attribution import path_contributions

    X = future[FEATURES].iloc[:50]
    enc = churn_model._encode(X)
    values = path_contributions(churn_model.booster_, enc, chunk=chunk)
    raw = churn_model.booster_.predict(enc, raw_score=True)
    np.testing.assert_allclose(values.sum(axis=1), raw, rtol=1e-9, atol=1e-9)
    frame = churn_model.contributions(X, method="path", include_bias=True)
    np.testing.assert_allclose(frame.to_numpy(), values)
    shap = churn_model.contributions(X)
    # the same strongest driver for most rows (they are different attributions, not equal values)
    agree = (frame.drop(columns="bias").idxmax(axis=1) == shap.idxmax(axis=1)).mean()
    assert agree >= 0.6, agree

    # a stump: one split on x0 at 0.5; leaves -1 and +1 with equal cover -> root output 0
    rng = np.random.default_rng(0)
    x = rng.random((400, 2))
    y = (x[:, 0] > 0.5).astype(float)
    stump = lgb.train(
        {
            "objective": "regression",
            "num_leaves": 2,
            "learning_rate": 1.0,
            "min_data_in_leaf": 1,
            "verbose": -1,
        },
        lgb.Dataset(x, y),
        num_boost_round=1,
    )
    got = path_contributions(stump, np.array([[0.9, 0.1], [0.1, 0.9]]))
    root = stump.dump_model()["tree_info"][0]["tree_structure"]
    left, right = root["left_child"]["leaf_value"], root["right_child"]["leaf_value"]
    np.testing.assert_allclose(got[:, 1], 0.0)  # x1 is never split on
    np.testing.assert_allclose(got[:, 2], root["internal_value"])
    np.testing.assert_allclose(got[:, 0], [right - root["internal_value"], left - root["internal_value"]])
    with pytest.raises(ValueError, match="'shap' or 'path'"):
        churn_model.contributions(X, method="lime")


def _credits_by_leaf(booster):
    """Per tree, per leaf: the (feature, gain) of each split on the path to it, from the root down."""
    out = []
    for tree in booster.dump_model()["tree_info"]:
        paths, stack = {}, [(tree["tree_structure"], [])]
        while stack:
            node, path = stack.pop()
            if "leaf_index" in node:
                paths[node["leaf_index"]] = path
                continue
            for side in ("left_child", "right_child"):
                c = node[side]
                value = c["leaf_value"] if "leaf_index" in c else c["internal_value"]
                stack.append((c, [*path, (node["split_feature"], value - node["internal_value"])]))
        out.append(paths)
    return out


def _expected_path_contributions(booster, X):
    """Path contributions from LightGBM's own leaves (``pred_leaf``), added as the kernel adds them."""
    leaves = booster.predict(X, pred_leaf=True).reshape(len(X), -1).astype(np.int64)
    total = np.zeros((len(X), booster.num_feature()))
    for t, paths in enumerate(_credits_by_leaf(booster)):
        for i in range(len(X)):
            for f, gain in paths[leaves[i, t]]:
                total[i, f] += gain
    return total


@pytest.mark.parametrize("chunk", [25_000, 7])
def test_path_contributions_follow_lightgbms_leaves_bit_for_bit(churn_model, future, chunk):
    """Row chunks, tree blocks and two workers add each feature's credits in tree order, root down: exactly
    the sums along the paths to the leaves LightGBM's predictor finds (the probabilities depend on the bits)."""
    from churnkit.models import attribution

    booster = churn_model.booster_
    enc = churn_model._encode(future[FEATURES].iloc[:400])
    got = attribution.path_contributions(booster, enc, chunk=chunk)
    np.testing.assert_array_equal(got[:, :-1], _expected_path_contributions(booster, enc))
    assert (got[:, -1] == attribution._forest(booster).bias).all()


def test_the_flattened_trees_are_worked_out_once_per_booster(churn_model, future, monkeypatch):
    """A served model scores request after request with one booster: its trees are flattened once."""
    from churnkit.models import attribution

    calls = []
    flatten = attribution._forest
    monkeypatch.setattr(attribution, "_forest", lambda b: calls.append(b) or flatten(b))
    monkeypatch.setattr(attribution, "_FORESTS", attribution.weakref.WeakKeyDictionary())
    enc = churn_model._encode(future[FEATURES].iloc[:50])
    first = attribution.path_contributions(churn_model.booster_, enc)
    np.testing.assert_array_equal(attribution.path_contributions(churn_model.booster_, enc), first)
    assert calls == [churn_model.booster_]


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_the_walk_finds_lightgbms_leaf_for_every_kind_of_split(zero_as_missing):
    """Numeric splits with each missing type and default side, and categorical ones: a model trained on
    data with NaNs, zeros and categories, scored on rows with NaNs, zeros, fractions, unseen and negative
    categories, follows the paths to the leaves LightGBM's own predictor gives."""
    from churnkit.models import attribution

    rng = np.random.default_rng(3)
    n = 3000
    x = np.column_stack([rng.normal(size=n), rng.integers(0, 40, n).astype(float), rng.normal(size=n)])
    x[rng.random(n) < 0.2, 0] = np.nan
    x[rng.random(n) < 0.2, 2] = 0.0
    y = np.nan_to_num(x[:, 0]) + (x[:, 1] % 3 == 0) + x[:, 2] + rng.normal(scale=0.5, size=n) > 0.5
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "cat_smooth": 1,
        "min_data_per_group": 5,
        "max_cat_to_onehot": 2,
        "zero_as_missing": zero_as_missing,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(x, y.astype(float), categorical_feature=[1]), num_boost_round=40)
    kinds = {(s["decision_type"], s["missing_type"], s["default_left"]) for s in _splits(booster)}
    assert ("==", "None", False) in kinds
    assert {k[1] for k in kinds if k[0] == "<="} >= ({"Zero"} if zero_as_missing else {"NaN", "None"})
    assert {k[2] for k in kinds if k[0] == "<=" and k[1] != "None"} == {False, True}

    m = 600
    test = np.column_stack([rng.normal(size=m), rng.integers(-3, 80, m).astype(float), rng.normal(size=m)])
    test[::5, 0] = np.nan
    test[1::5, 1] = np.nan
    test[2::5, 2] = 0.0
    test[3::5, 0] = 0.0
    test[4::7, 1] = 2.7  # a fraction: LightGBM truncates it to category 2
    got = attribution.path_contributions(booster, test, chunk=100)
    np.testing.assert_array_equal(got[:, :-1], _expected_path_contributions(booster, test))
    np.testing.assert_allclose(got.sum(axis=1), booster.predict(test, raw_score=True), rtol=1e-9, atol=1e-9)


def _splits(booster):
    stack = [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            yield node
            stack += [node["left_child"], node["right_child"]]


def test_scoring_errors(churn_model, future):
    with pytest.raises(ModelError, match="lacks: sessions_30d"):
        churn_model.predict_proba(future[FEATURES].drop(columns="sessions_30d"))
    bad = future[FEATURES].astype({"orders_90d": object})
    bad.loc[bad.index[0], "orders_90d"] = "many"
    with pytest.raises(ModelError, match="'orders_90d' must be numeric"):
        churn_model.predict_proba(bad)
    with pytest.raises(NotFittedError):
        ChurnClassifier().predict_proba(future[FEATURES])


def test_fit_input_errors(table):
    X, y, t = table[FEATURES], table["churned"], table["as_of"]
    with pytest.raises(InputError, match="'churned' is a key or label"):
        ChurnClassifier().fit(table[[*FEATURES, "churned"]], y, time_index=t)
    with pytest.raises(InputError, match="'when' has type datetime"):
        ChurnClassifier().fit(table[FEATURES].assign(when=t), y, time_index=t)
    with pytest.raises(InputError, match="0 or 1"):
        ChurnClassifier().fit(X, y * 2, time_index=t)
    with pytest.raises(DataTooShortError, match="too few to hold any out"):
        ChurnClassifier().fit(X.iloc[:5], y.iloc[:5], time_index=t.iloc[:5])
    with pytest.raises(ValueError, match="unknown calibration"):
        ChurnClassifier(calibration="platt").fit(X, y, time_index=t)


def test_one_class_held_out_fold_warns_and_stays_uncalibrated(table):
    y = table["churned"].copy()
    y[table["as_of"] == table["as_of"].max()] = 0
    with pytest.warns(CalibrationWarning, match="only one churn class"):
        model = ChurnClassifier(num_boost_round=20, params=ONE_THREAD).fit(
            table[FEATURES], y, time_index=table["as_of"]
        )
    assert model.calibration_ == "none"


def test_not_fitted_is_one_typed_error_and_the_warning_is_churnkits():
    """Every boosted-model part signals "not fitted" with churnkit's NotFittedError (a ModelError, so the CLI
    exits 2); the calibration warning is a ChurnkitWarning."""
    X = pd.DataFrame({"a": [1.0, 2.0]})
    for call in (
        lambda: ChurnClassifier().predict_proba(X),
        lambda: ChurnClassifier().contributions(X),
        lambda: CLVRegressor().predict(X),
        lambda: CLVRegressor().feature_importance(),
        lambda: SigmoidCalibrator().predict([0.0]),
    ):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()
    assert issubclass(NotFittedError, ModelError)
    assert issubclass(CalibrationWarning, ChurnkitWarning)


def test_sigmoid_calibrator_recovers_a_logistic_curve():
    rng = np.random.default_rng(5)
    s = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2 * s - 1)))).astype(int)
    cal = SigmoidCalibrator().fit(s, y)
    assert cal.coef_ == pytest.approx(2, abs=0.25)
    assert cal.intercept_ == pytest.approx(-1, abs=0.15)
    # a falling curve is flattened to constant when the slope must be non-negative
    flat = SigmoidCalibrator(increasing=True).fit(-s, y)
    assert flat.coef_ == 0.0


# --- CLVRegressor ----------------------------------------------------------------------------


def test_clv_model_picks_and_records_an_objective(clv_model):
    assert clv_model.objective_ in {"tweedie", "two_part"}
    assert set(clv_model.selection_scores_) == {"tweedie", "two_part"}
    scores = clv_model.selection_scores_
    chosen, other = clv_model.objective_, ({"tweedie", "two_part"} - {clv_model.objective_}).pop()
    gap = scores[chosen]["clv_gini_norm"] - scores[other]["clv_gini_norm"]
    assert gap > 0.01 or (abs(gap) <= 0.01 and scores[chosen]["clv_mae"] <= scores[other]["clv_mae"])
    expected_keys = {"tweedie"} if chosen == "tweedie" else {"buy", "spend"}
    assert set(clv_model.boosters_) == expected_keys == set(clv_model.best_iterations_)


def test_clv_predictions_are_non_negative_and_rank_customers(clv_model, future):
    pred = clv_model.predict(future[FEATURES])
    assert pred.shape == (len(future),) and np.all(pred >= 0)
    m = clv_metrics(future["future_revenue"], pred)
    assert m["clv_gini_norm"] > 0.4
    assert m["clv_spearman"] > 0.3


def test_two_part_and_negative_targets(table, future):
    y = table["future_revenue"].copy()
    y.iloc[:50] = -5.0  # net returns in the window: trained as 0
    model = CLVRegressor(objective="two_part", params=ONE_THREAD).fit(
        table[FEATURES], y, time_index=table["as_of"]
    )
    assert model.objective_ == "two_part" and set(model.boosters_) == {"buy", "spend"}
    assert set(model.selection_scores_) == {"two_part"}
    pred = model.predict(future[FEATURES])
    assert np.all(pred >= 0)
    loaded = pickle.loads(pickle.dumps(model))
    assert np.array_equal(loaded.predict(future[FEATURES]), pred)


def test_clv_same_seed_bit_identical_and_auto_keeps_what_it_measured(clv_model, table, future):
    again = CLVRegressor(objective=clv_model.objective_).fit(
        table[FEATURES], table["future_revenue"], time_index=table["as_of"]
    )
    assert again.selection_scores_[again.objective_] == clv_model.selection_scores_[clv_model.objective_]
    assert np.array_equal(again.predict(future[FEATURES]), clv_model.predict(future[FEATURES]))


def test_clv_errors(table):
    X, t = table[FEATURES], table["as_of"]
    with pytest.raises(DataTooShortError, match="no training row has any future revenue"):
        CLVRegressor().fit(X, np.zeros(len(X)), time_index=t)
    with pytest.raises(ValueError, match="unknown objective"):
        CLVRegressor(objective="poisson").fit(X, table["future_revenue"], time_index=t)
    with pytest.raises(NotFittedError):
        CLVRegressor().predict(X)


def test_one_snapshot_holds_out_a_seeded_quarter_of_its_rows(table):
    """A short history gives one labelled as-of date: the models still fit, on a random 25 % hold-out."""
    one_date = table["as_of"] == table["as_of"].max()
    X, y, t = table.loc[one_date, FEATURES], table.loc[one_date, "churned"], table.loc[one_date, "as_of"]
    model = ChurnClassifier(random_state=3).fit(X, y, time_index=t)
    assert model.holdout_ == "random"
    assert model.n_valid_ == round(0.25 * len(X))
    assert model.n_train_ + model.n_valid_ == len(X)
    again = ChurnClassifier(random_state=3).fit(X, y, time_index=t)
    np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))
    clv = CLVRegressor(objective="tweedie").fit(X, table.loc[one_date, "future_revenue"], time_index=t)
    assert clv.holdout_ == "random"
    assert (
        ChurnClassifier().fit(table[FEATURES], table["churned"], time_index=table["as_of"]).holdout_ == "time"
    )


def test_prior_is_the_starting_point_and_its_contribution_is_credited_to_its_column(table):
    """With a prior column the trees learn corrections to its log-odds; contributions still sum to the margin."""
    from scipy.special import logit

    rng = np.random.default_rng(0)
    frame = table.assign(p_prior=np.clip(0.5 + 0.3 * rng.standard_normal(len(table)), 0.01, 0.99))
    cols = [*FEATURES, "p_prior"]
    model = ChurnClassifier(prior="p_prior", calibration="none", num_boost_round=1).fit(
        frame[cols], frame["churned"], time_index=frame["as_of"]
    )
    raw_trees = model.booster_.predict(model._encode(frame[cols]), raw_score=True)
    np.testing.assert_allclose(
        logit(model.predict_proba(frame[cols])), raw_trees + logit(frame["p_prior"]), rtol=0, atol=1e-9
    )
    contrib = model.contributions(frame[cols], include_bias=True, method="path")
    np.testing.assert_allclose(contrib.sum(axis=1), raw_trees + logit(frame["p_prior"]), rtol=0, atol=1e-9)
    missing = frame[cols].assign(p_prior=np.nan)
    rate = frame.loc[frame["as_of"] < frame["as_of"].max(), "churned"].mean()
    np.testing.assert_allclose(
        logit(model.predict_proba(missing)) - raw_trees_of(model, missing), logit(rate)
    )


def raw_trees_of(model, X):  # type: ignore[no-untyped-def]
    return model.booster_.predict(model._encode(X), raw_score=True)


def test_clv_prior_multiplies_the_trees_prediction(table):
    rng = np.random.default_rng(1)
    frame = table.assign(n_prior=rng.uniform(0, 3, len(table)), s_prior=rng.uniform(10, 50, len(table)))
    cols = [*FEATURES, "n_prior", "s_prior"]
    model = CLVRegressor(objective="tweedie", prior=("n_prior", "s_prior"), num_boost_round=1).fit(
        frame[cols], frame["future_revenue"], time_index=frame["as_of"]
    )
    trees = np.exp(model.boosters_["tweedie"].predict(model._encode(frame[cols]), raw_score=True))
    expected = trees * np.maximum(frame["n_prior"] * frame["s_prior"], 0.01)
    np.testing.assert_allclose(model.predict(frame[cols]), expected, rtol=1e-9)


def test_contribution_values_are_the_frame_and_their_margin_adds_column_by_column(table):
    """The array behind `contributions` (prior credited, bias last) and `margin_of`, whatever the layout."""
    rng = np.random.default_rng(2)
    frame = table.assign(p_prior=np.clip(0.5 + 0.3 * rng.standard_normal(len(table)), 0.01, 0.99))
    cols = [*FEATURES, "p_prior"]
    model = ChurnClassifier(prior="p_prior", num_boost_round=20).fit(
        frame[cols], frame["churned"], time_index=frame["as_of"]
    )
    X = frame[cols]
    values, columns = model.contribution_values(X, method="path", encoded=model._encode(X))
    expected = model.contributions(X, include_bias=True, method="path")
    assert columns == list(expected.columns) and columns[-1] == "bias"
    np.testing.assert_array_equal(values, expected.to_numpy())
    np.testing.assert_allclose(ChurnClassifier.margin_of(values), model._margin(X), rtol=0, atol=1e-9)
    # 60 columns: numpy's own row sum is pairwise on a C-ordered array and differs in the last bits
    wide = rng.normal(0, 1, (2000, 60))
    sequential = wide[:, 0].copy()
    for j in range(1, wide.shape[1]):
        sequential += wide[:, j]
    assert wide.sum(axis=1).tobytes() != sequential.tobytes()
    for layout in (wide, np.asfortranarray(wide), np.hstack([wide, wide])[:, :60]):
        assert ChurnClassifier.margin_of(layout).tobytes() == sequential.tobytes()


def test_clv_predict_on_a_shared_encoding_is_the_same(clv_model, churn_model, future):
    X = future[FEATURES]
    assert churn_model.feature_names_ == clv_model.feature_names_
    shared = clv_model.predict(X, encoded=churn_model._encode(X))
    assert shared.tobytes() == clv_model.predict(X).tobytes()
