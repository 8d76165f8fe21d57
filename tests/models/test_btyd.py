"""Tests for churnkit.models.btyd: published CDNOW parameters, dedup = plain fits, P(no purchase) against
a second implementation and against Monte Carlo from each model's own generative process, the
convergence guard, determinism and input checks."""

from __future__ import annotations

import itertools
import math
import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from churnkit.errors import ChurnkitWarning, ConfigError, InputError, ModelError, NotFittedError
from churnkit.models import btyd
from churnkit.models.btyd import (
    DAYS_PER_MONTH,
    PREDICTION_COLUMNS,
    REQUIRED_COLUMNS,
    BGNBDModel,
    BoundaryWarning,
    BTYDModel,
    ConvergenceWarning,
    FallbackWarning,
    GammaGammaModel,
    MBGNBDModel,
    ParetoNBDModel,
)

MODELS = ("bgnbd", "pareto", "mbgnbd")
WEEK = 7.0


# --------------------------------------------------------------------------- data


def simulate_rfm(n: int, seed: int) -> pd.DataFrame:
    """Seeded BG/NBD customers in whole days (r=0.25, α=30/day, a=0.8, b=2.5) with Gamma-Gamma spend."""
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 366, n).astype(float)
    lam = rng.gamma(0.25, 1 / 30.0, n)
    p = rng.beta(0.8, 2.5, n)
    count = rng.poisson(lam * T)
    x = np.minimum(count, rng.geometric(p))
    last = T * rng.beta(np.maximum(x, 1), np.maximum(count - x + 1, 1))
    nu = rng.gamma(3.8, 1 / 15.0, n)
    spend = rng.gamma(6.0 * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1)))
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "frequency": x.astype(float),
            "recency": np.where(x > 0, np.floor(last), 0.0),
            "T": T,
            "monetary_value": np.where(x > 0, np.round(spend, 2), 0.0),
        }
    )


def frame(x, t_x, T, m=None) -> pd.DataFrame:
    x = np.asarray(x, dtype=float)
    return pd.DataFrame(
        {
            "customer_id": [f"k{i}" for i in range(x.size)],
            "frequency": x,
            "recency": np.asarray(t_x, dtype=float),
            "T": np.asarray(T, dtype=float),
            "monetary_value": np.where(x > 0, 20.0, 0.0) if m is None else np.asarray(m, dtype=float),
        }
    )


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate_rfm(3000, seed=7)


@pytest.fixture(scope="module")
def sim_models(sim) -> dict[str, BTYDModel]:
    return {kind: BTYDModel(kind).fit(sim) for kind in MODELS}


@pytest.fixture(scope="module")
def cdnow_days() -> pd.DataFrame:
    """CDNOW (lifetimes ships it in weeks) converted to days."""
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    data = load_cdnow_summary_data_with_monetary_value().reset_index()
    data["recency"] = data["recency"] * WEEK
    data["T"] = data["T"] * WEEK
    return data


@pytest.fixture(scope="module")
def cdnow_models(cdnow_days) -> dict[str, BTYDModel]:
    return {kind: BTYDModel(kind).fit(cdnow_days) for kind in MODELS}


def sig3(value: float) -> str:
    return f"{value:.3g}"


# --------------------------------------------------------------------------- published results

PUBLISHED = {
    # Fader, Hardie & Lee (2005a)
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    # Fader & Hardie (2005) note 009 / lifetimes' docs
    "pareto": {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67},
    # lifetimes' own MBG/NBD test values
    "mbgnbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", MODELS)
def test_cdnow_published_parameters_to_3_significant_digits(cdnow_models, kind):
    # Fitted in days (weeks × 7): α and β per week are α/7 and β/7; the rest are unit-free.
    params = cdnow_models[kind].params_
    per_week = {k: v / WEEK if k in ("alpha", "beta") else v for k, v in params.items()}
    assert {k: sig3(v) for k, v in per_week.items()} == {k: sig3(v) for k, v in PUBLISHED[kind].items()}
    assert cdnow_models[kind].fit_info_["converged"]


@pytest.mark.slow
def test_cdnow_published_gamma_gamma_on_repeat_customers(cdnow_models):
    model = cdnow_models["bgnbd"]
    assert model.fit_info_["n_spend_customers"] == 946  # repeat buyers with spend > 0
    assert {k: sig3(v) for k, v in model.spend_params_.items()} == {"p": "6.25", "q": "3.74", "v": "15.4"}


@pytest.mark.slow
def test_fit_is_unit_agnostic_weeks_vs_days(cdnow_days):
    weeks = cdnow_days.assign(recency=cdnow_days["recency"] / WEEK, T=cdnow_days["T"] / WEEK)
    in_days = BTYDModel().fit(cdnow_days).params_
    in_weeks = BTYDModel().fit(weeks).params_
    assert in_days["alpha"] == pytest.approx(WEEK * in_weeks["alpha"], rel=1e-6)
    for name in ("r", "a", "b"):
        assert in_days[name] == pytest.approx(in_weeks[name], rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "rel"), [("bgnbd", 1e-6), ("mbgnbd", 1e-6), ("pareto", 1e-3)])
def test_weighted_dedup_fit_equals_plain_lifetimes_fit(cdnow_days, cdnow_models, kind, rel):
    import lifetimes

    x, t_x, T = cdnow_days["frequency"], cdnow_days["recency"], cdnow_days["T"]
    if kind == "pareto":  # lifetimes' defaults (tol 1e-4), deterministic start
        plain = lifetimes.ParetoNBDFitter().fit(x, t_x, T, initial_params=np.ones(4))
    else:
        cls = lifetimes.BetaGeoFitter if kind == "bgnbd" else lifetimes.ModifiedBetaGeoFitter
        plain = cls().fit(x, t_x, T)
    ours = cdnow_models[kind]
    assert ours.fit_info_["n_unique_rows"] == 1016 < len(cdnow_days)
    for name, value in plain.params_.items():
        assert ours.params_[name] == pytest.approx(value, rel=rel), name


@pytest.mark.slow
def test_weighted_gamma_gamma_equals_plain_fit(cdnow_days, cdnow_models):
    import lifetimes

    repeat = cdnow_days[(cdnow_days["frequency"] > 0) & (cdnow_days["monetary_value"] > 0)]
    plain = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    for name, value in plain.params_.items():
        assert cdnow_models["bgnbd"].spend_params_[name] == pytest.approx(value, rel=1e-6)


# --------------------------------------------------------------------------- P(no purchase)

PROFILES = [(0, 0.0, 200.0), (2, 100.0, 300.0), (5, 300.0, 330.0), (4, 40.0, 360.0)]


@pytest.mark.parametrize("kind", ["bgnbd", "mbgnbd"])
def test_p_no_purchase_is_the_likelihood_ratio(sim_models, kind):
    # Second implementation: P(none in (T, T+H]) = L(x, t_x, T+H) / L(x, t_x, T) with lifetimes' own likelihood.
    model = sim_models[kind]
    log_params = np.log([model.params_[k] for k in ("r", "alpha", "a", "b")])
    nll = model.transaction_model_._negative_log_likelihood
    for x, t_x, T in PROFILES:
        for horizon in (7.0, 90.0, 720.0):
            args = (np.array([x]), np.array([t_x]))
            ratio = math.exp(nll(log_params, *args, np.array([T]), np.ones(1), 0.0)) / math.exp(
                nll(log_params, *args, np.array([T + horizon]), np.ones(1), 0.0)
            )
            ours = model.predict(frame([x], [t_x], [T]), horizon_days=horizon)["p_no_purchase"].iloc[0]
            assert ours == pytest.approx(ratio, rel=1e-10)


def test_pareto_p_no_purchase_matches_quadrature(sim_models):
    # Second implementation: 1 - P(alive) ∫_0^H E[λ e^{-λu}] E[e^{-μu}] du, λ ~ Γ(r+x, α+T), μ ~ Γ(s, β+T).
    model = sim_models["pareto"]
    r, alpha, s, beta = (model.params_[k] for k in ("r", "alpha", "s", "beta"))
    for x, t_x, T in PROFILES:
        a1, rate1, a2, rate2 = r + x, alpha + T, s, beta + T

        def density(u, a1=a1, rate1=rate1, a2=a2, rate2=rate2):
            return a1 / rate1 * (rate1 / (rate1 + u)) ** (a1 + 1) * (rate2 / (rate2 + u)) ** a2

        for horizon in (7.0, 90.0, 720.0):
            scores = model.predict(frame([x], [t_x], [T]), horizon_days=horizon)
            buys, _ = integrate.quad(density, 0.0, horizon, epsabs=0, epsrel=1e-12)
            expected = 1.0 - scores["p_alive"].iloc[0] * buys
            assert scores["p_no_purchase"].iloc[0] == pytest.approx(expected, rel=1e-8, abs=1e-12)


def _mc_p_no_purchase(kind, params, x, t_x, T, horizon, n, rng):
    """Self-normalised importance sampling from the model's generative process.

    Draw each customer's latent rates from the fitted population, weight by the probability of the
    observed (x, t_x, T) split into its alive / dead-at-T branches, draw the branch, then simulate the
    window: exponential waiting time to the next purchase (and, for Pareto/NBD, to death).
    Returns (estimate, standard error).
    """
    if kind == "pareto":
        r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
        lam = rng.gamma(r, 1 / alpha, n)
        mu = rng.gamma(s, 1 / beta, n)
        log_alive = x * np.log(lam) - (lam + mu) * T
        dead = mu / (lam + mu) * (np.exp(-(lam + mu) * t_x) - np.exp(-(lam + mu) * T))
        log_dead = x * np.log(lam) + np.log(dead)
    else:
        r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
        lam = rng.gamma(r, 1 / alpha, n)
        p = rng.beta(a, b, n)
        if kind == "bgnbd":  # drop out only right after a repeat purchase
            log_alive = x * np.log1p(-p) + x * np.log(lam) - lam * T
            log_dead = (
                np.log(p) + (x - 1) * np.log1p(-p) + x * np.log(lam) - lam * t_x
                if x > 0
                else np.full(n, -np.inf)
            )
        else:  # MBG/NBD: also at time 0
            log_alive = (x + 1) * np.log1p(-p) + x * np.log(lam) - lam * T
            log_dead = np.log(p) + x * np.log1p(-p) + x * np.log(lam) - lam * t_x
    top = np.maximum(log_alive, log_dead).max()
    w_alive, w_dead = np.exp(log_alive - top), np.exp(log_dead - top)
    weight = w_alive + w_dead
    alive = rng.random(n) * weight < w_alive
    wait = rng.exponential(1 / lam)
    if kind == "pareto":
        quiet = ~alive | (wait > np.minimum(horizon, rng.exponential(1 / mu)))
    else:
        quiet = ~alive | (wait > horizon)
    estimate = np.sum(weight * quiet) / weight.sum()
    se = math.sqrt(np.sum(weight**2 * (quiet - estimate) ** 2)) / weight.sum()
    return estimate, se


@pytest.mark.parametrize("kind", MODELS)
def test_p_no_purchase_matches_monte_carlo(sim_models, kind):
    model = sim_models[kind]
    rng = np.random.default_rng(2024)
    for x, t_x, T in PROFILES:
        for horizon in (30.0, 180.0):
            estimate, se = _mc_p_no_purchase(kind, model.params_, x, t_x, T, horizon, 400_000, rng)
            assert se < 0.01
            ours = model.predict(frame([x], [t_x], [T]), horizon_days=horizon)["p_no_purchase"].iloc[0]
            assert abs(ours - estimate) < 4 * se + 1e-9, (x, t_x, T, horizon, ours, estimate, se)


@pytest.mark.parametrize("kind", MODELS)
def test_one_time_buyer_p_no_purchase_matches_rejection_sampling(sim_models, kind):
    # Literal simulation: whole histories from the population, keep those with no repeat purchase by T.
    params = sim_models[kind].params_
    rng = np.random.default_rng(11)
    n, T, horizon = 1_000_000, 150.0, 90.0
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    if kind == "pareto":
        death = rng.exponential(1 / rng.gamma(params["s"], 1 / params["beta"], n))
    elif kind == "mbgnbd":  # may drop out at time 0; otherwise only after a purchase
        death = np.where(rng.random(n) < rng.beta(params["a"], params["b"], n), 0.0, np.inf)
    else:
        death = np.full(n, np.inf)
    first = rng.exponential(1 / lam)
    kept = ~((first <= T) & (first <= death))  # no repeat purchase in (0, T]
    # memoryless: the wait after T is a fresh exponential
    quiet = (death[kept] <= T) | (T + rng.exponential(1 / lam[kept]) > np.minimum(T + horizon, death[kept]))
    estimate, se = quiet.mean(), quiet.std() / math.sqrt(kept.sum())
    ours = sim_models[kind].predict(frame([0], [0], [T]), horizon_days=horizon)["p_no_purchase"].iloc[0]
    assert abs(ours - estimate) < 4 * se


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(MODELS),
    x=st.integers(0, 40),
    recency_share=st.floats(0, 1),
    T=st.floats(1, 2000),
    horizons=st.lists(st.floats(0.01, 5000), min_size=2, max_size=5),
)
def test_p_no_purchase_is_a_probability_falling_with_the_horizon(
    sim_models, kind, x, recency_share, T, horizons
):
    t_x = 0.0 if x == 0 else recency_share * T
    values = [
        sim_models[kind].predict(frame([x], [t_x], [T]), horizon_days=h)["p_no_purchase"].iloc[0]
        for h in sorted(horizons)
    ]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(values))


def test_p_no_purchase_tends_to_one_for_a_short_horizon(sim, sim_models):
    for model in sim_models.values():
        scores = model.predict(sim, horizon_days=1e-6)
        assert np.allclose(scores["p_no_purchase"], 1.0, atol=1e-5)


def test_one_time_buyers_ranked_unlike_one_minus_p_alive(sim, sim_models):
    scores = sim_models["bgnbd"].predict(sim)
    once = scores[sim["frequency"].to_numpy() == 0]
    assert (1 - once["p_alive"]).eq(0).all()  # BG/NBD: every one-time buyer "alive"
    assert once["p_no_purchase"].nunique() > 100
    by_age = pd.Series(once["p_no_purchase"].to_numpy(), index=sim.loc[once.index, "T"]).sort_index()
    assert by_age.is_monotonic_increasing  # older one-time buyers are likelier to stay silent


# --------------------------------------------------------------------------- other outputs


def test_predict_output_contract(sim, sim_models):
    shuffled = sim.sample(frac=1.0, random_state=3).set_index(pd.Index(range(100, 100 + len(sim))))
    scores = sim_models["bgnbd"].predict(shuffled)
    assert tuple(scores.columns) == PREDICTION_COLUMNS
    assert scores.index.equals(shuffled.index)
    assert scores["customer_id"].tolist() == shuffled["customer_id"].tolist()
    for column in ("p_alive", "p_no_purchase"):
        assert scores[column].between(0, 1).all()
    assert (scores["expected_purchases"] >= 0).all()
    assert (scores["expected_spend"] > 0).all() and (scores["clv"] >= 0).all()
    longer = sim_models["bgnbd"].predict(shuffled, horizon_days=180)
    assert (longer["expected_purchases"] >= scores["expected_purchases"]).all()


@pytest.mark.parametrize("kind", MODELS)
def test_expected_next_purchase_days_is_the_median_wait(sim, sim_models, kind):
    model = sim_models[kind]
    sample = sim.iloc[:400]
    scores = model.predict(sample)
    days = scores["expected_next_purchase_days"]
    finite = np.isfinite(days.to_numpy())
    assert 0 < finite.sum() < len(sample)
    for i in np.flatnonzero(finite)[:15]:
        at_median = model.predict(sample.iloc[[i]], horizon_days=float(days.iloc[i]))
        assert at_median["p_no_purchase"].iloc[0] == pytest.approx(0.5, abs=1e-9)
    never = model.predict(sample.iloc[~finite], horizon_days=btyd.NEVER_DAYS)
    assert (never["p_no_purchase"] >= 0.5 - 1e-9).all()
    if kind == "bgnbd":  # closed form: finite exactly when P(alive) > 1/2
        assert np.array_equal(finite, (scores["p_alive"] > 0.5).to_numpy() & finite)


def test_clv_is_the_discounted_sum_of_monthly_purchases_times_spend(sim, sim_models):
    model = sim_models["pareto"]
    sample = sim.iloc[:50]
    scores = model.predict(sample, clv_months=6, annual_discount_rate=0.2)
    fitter = model.transaction_model_
    args = (sample["frequency"].to_numpy(), sample["recency"].to_numpy(), sample["T"].to_numpy())
    monthly = 1.2 ** (1 / 12) - 1
    expected, before = np.zeros(len(sample)), np.zeros(len(sample))
    for m in range(1, 7):
        upto = fitter.conditional_expected_number_of_purchases_up_to_time(m * DAYS_PER_MONTH, *args)
        expected += (upto - before) / (1 + monthly) ** m
        before = upto
    np.testing.assert_allclose(scores["clv"], expected * scores["expected_spend"], rtol=1e-10)
    # hand case: one undiscounted month is the month's expected purchases × spend
    one = model.predict(sample, clv_months=1, annual_discount_rate=0.0, horizon_days=DAYS_PER_MONTH)
    np.testing.assert_allclose(one["clv"], one["expected_purchases"] * one["expected_spend"], rtol=1e-12)


def test_spend_population_mean_without_usable_spend(sim_models):
    model = sim_models["bgnbd"]
    p, q, v = (model.spend_params_[k] for k in ("p", "q", "v"))
    scores = model.predict(frame([0, 3, 3], [0, 50, 50], [100, 100, 100], m=[0.0, 0.0, 40.0]))
    assert scores["expected_spend"].iloc[0] == pytest.approx(p * v / (q - 1))
    assert scores["expected_spend"].iloc[1] == pytest.approx(p * v / (q - 1))  # zero-dollar repeat orders
    weight = p * 3 / (p * 3 + q - 1)
    assert scores["expected_spend"].iloc[2] == pytest.approx((1 - weight) * p * v / (q - 1) + weight * 40.0)


def test_gamma_gamma_fits_only_repeat_customers_with_positive_spend(sim):
    data = sim.copy()
    zero = data.index[data["frequency"] > 0][:40]
    data.loc[zero, "monetary_value"] = 0.0
    model = BTYDModel().fit(data)
    usable = int(((data["frequency"] > 0) & (data["monetary_value"] > 0)).sum())
    assert model.fit_info_["n_spend_customers"] == usable
    assert model.spend_model_.data["weights"].sum() == usable


def test_no_usable_spend_warns_and_leaves_clv_missing(sim):
    data = sim.assign(monetary_value=0.0)
    with pytest.warns(UserWarning, match="Gamma-Gamma was not fitted"):
        model = BTYDModel().fit(data)
    assert model.spend_model_ is None
    scores = model.predict(data.iloc[:5])
    assert scores["clv"].isna().all() and scores["p_no_purchase"].notna().all()


# --------------------------------------------------------------------------- convergence guard


def test_degenerate_fit_is_retried_with_a_penalizer_and_warns():
    # 100 identical customers: the unpenalized BG/NBD optimiser fails, penalizer 0.001 works.
    data = frame(np.full(100, 2), np.full(100, 50.0), np.full(100, 100.0), m=20.0 + np.arange(100) % 9)
    with pytest.warns(ConvergenceWarning) as caught:  # Gamma-Gamma may warn too
        model = BTYDModel().fit(data)
    pattern = r"BG/NBD fit failed at penalizer 0 .*refitted with penalizer 0\.001$"
    assert any(re.match(pattern, str(w.message)) for w in caught)
    info = model.fit_info_
    assert info["penalizer"] == 0.001 and not info["converged"] and info["retries"] >= 1
    assert any("BG/NBD" in message for message in info["warnings"])
    assert model.predict(data)["p_no_purchase"].between(0, 1).all()


def test_failed_attempt_is_recorded_and_next_penalizer_used(sim, monkeypatch):
    import lifetimes.utils

    original = BGNBDModel._fit_lifetimes

    def flaky(self, lt, unique, penalizer):
        if penalizer < 0.01:
            raise lifetimes.utils.ConvergenceError("The model did not converge.")
        return original(self, lt, unique, penalizer)

    monkeypatch.setattr(BGNBDModel, "_fit_lifetimes", flaky)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = BTYDModel(penalizer=0.0, retry_penalizers=(0.1, 0.001)).fit(sim)
    tried = [(a["part"], a["penalizer"], a["ok"]) for a in model.fit_info_["attempts"]]
    assert tried[:3] == [("BG/NBD", 0.0, False), ("BG/NBD", 0.001, False), ("BG/NBD", 0.1, True)]
    assert model.fit_info_["penalizer"] == 0.1


def test_every_penalizer_failing_raises_model_error():
    # 100 identical customers: no rate heterogeneity, r → ∞ unpenalized, so neither MBG/NBD nor its
    # NBD boundary fits at penalizer 0 (with retries, penalizer 0.001 makes the NBD boundary fit).
    data = frame(np.full(100, 2), np.full(100, 50.0), np.full(100, 100.0))
    with pytest.raises(
        ModelError,
        match=r"MBG/NBD fit failed at every penalizer tried: penalizer 0: .*"
        r"boundary estimate not accepted: the NBD model does not fit either \(r = .* ran off to a boundary",
    ):
        BTYDModel("mbgnbd", retry_penalizers=()).fit(data)


@pytest.mark.parametrize("kind", MODELS)
def test_all_one_time_buyers_raise_model_error(kind):
    data = frame(np.zeros(50), np.zeros(50), np.linspace(10, 300, 50))
    with pytest.raises(ModelError, match=r"none of the 50 customers has a repeat purchase"):
        BTYDModel(kind).fit(data)


# --------------------------------------------------------------------------- determinism, state


@pytest.mark.parametrize("kind", MODELS)
def test_same_data_gives_identical_predictions(sim, sim_models, kind):
    again = BTYDModel(kind).fit(sim)
    assert again.params_ == sim_models[kind].params_
    pd.testing.assert_frame_equal(again.predict(sim), sim_models[kind].predict(sim), check_exact=True)
    shuffled = sim.sample(frac=1.0, random_state=1)
    reordered = BTYDModel(kind).fit(shuffled)
    assert reordered.params_ == sim_models[kind].params_  # dedup rows are sorted: row order is irrelevant
    pd.testing.assert_frame_equal(
        reordered.predict(shuffled).loc[sim.index], sim_models[kind].predict(sim), check_exact=True
    )


def test_init_only_stores_arguments_and_fit_returns_self(sim):
    model = BTYDModel("pareto", penalizer=0.01, spend_penalizer=0.0, retry_penalizers=(0.5,))
    assert vars(model) == {
        "model": "pareto",
        "penalizer": 0.01,
        "spend_penalizer": 0.0,
        "retry_penalizers": (0.5,),
    }
    small = sim.iloc[:500]
    assert model.fit(small) is model


def test_pickle_round_trip_predicts_the_same(sim, sim_models):
    for model in sim_models.values():
        loaded = pickle.loads(pickle.dumps(model))
        pd.testing.assert_frame_equal(loaded.predict(sim.iloc[:100]), model.predict(sim.iloc[:100]))
        assert callable(model.transaction_model_.generate_new_data)  # the fitted original is untouched


def test_fit_leaves_warning_filters_alone(sim):
    before = list(warnings.filters)
    BTYDModel().fit(sim.iloc[:500])
    assert warnings.filters == before


@pytest.mark.slow
def test_import_has_no_global_side_effects():
    code = (
        "import warnings, pandas as pd\n"
        "before = (list(warnings.filters), pd.get_option('display.max_rows'))\n"
        "from churnkit.models.btyd import BTYDModel\n"
        "import churnkit.models.btyd as b; b._lifetimes()\n"
        "after = (list(warnings.filters), pd.get_option('display.max_rows'))\n"
        "assert before == after, (before, after)\n"
        "import sys; assert 'lifetimes' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_missing_column_is_named(sim, column):
    with pytest.raises(InputError, match=f"missing column '{column}'") as caught:
        BTYDModel().fit(sim.drop(columns=column))
    assert caught.value.column == column


def test_recency_larger_than_T_is_a_clear_error(sim):
    bad = sim.copy()
    row = bad.index[bad["frequency"] > 0][0]
    bad.loc[row, "recency"] = bad.loc[row, "T"] + 5
    with pytest.raises(
        InputError, match=r"column 'recency' is larger than T .*1 rows, e\.g\. customer_id"
    ) as caught:
        BTYDModel().fit(bad)
    assert caught.value.column == "recency"


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ({"frequency": 1.5}, "frequency", "whole number"),
        ({"frequency": -1.0}, "frequency", "whole number"),
        ({"frequency": 0.0, "recency": 3.0}, "recency", "must be 0 when frequency is 0"),
        ({"recency": -1.0}, "recency", "must be >= 0"),
        ({"T": np.nan}, "T", "missing or infinite"),
        ({"monetary_value": np.inf}, "monetary_value", "missing or infinite"),
    ],
)
def test_bad_values_are_named(sim, change, column, message):
    bad = sim.copy()
    row = bad.index[bad["frequency"] > 0][0]
    for name, value in change.items():
        bad.loc[row, name] = value
    with pytest.raises(InputError, match=message) as caught:
        BTYDModel().fit(bad)
    assert caught.value.column == column


def test_other_input_mistakes(sim, sim_models):
    with pytest.raises(InputError, match="duplicated ids"):
        BTYDModel().fit(pd.concat([sim, sim.iloc[:1]]))
    with pytest.raises(InputError, match="must be numeric"):
        BTYDModel().fit(sim.assign(T=sim["T"].astype(str)))
    with pytest.raises(InputError, match="no rows"):
        BTYDModel().fit(sim.iloc[:0])
    with pytest.raises(InputError, match="DataFrame"):
        BTYDModel().fit(sim.to_numpy())
    with pytest.raises(InputError, match="missing column 'T'"):  # df.T is the transpose, not the column
        sim_models["bgnbd"].predict(sim.drop(columns="T"))


def test_settings_mistakes(sim, sim_models):
    with pytest.raises(NotFittedError, match="This BTYDModel is not fitted"):
        BTYDModel().predict(sim)
    with pytest.raises(ConfigError, match="model must be one of"):
        BTYDModel("bg").fit(sim)
    with pytest.raises(ConfigError, match="penalizer"):
        BTYDModel(penalizer=-1).fit(sim)
    for kwargs, message in [
        ({"horizon_days": 0}, "horizon_days"),
        ({"clv_months": 0}, "clv_months"),
        ({"clv_months": 1.5}, "clv_months"),
        ({"annual_discount_rate": -1}, "annual_discount_rate"),
    ]:
        with pytest.raises(ConfigError, match=message):
            sim_models["bgnbd"].predict(sim, **kwargs)


# --------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("kind", ["bgnbd", "mbgnbd"])
def test_expected_purchases_quadrature_matches_lifetimes_closed_form(sim_models, kind):
    model = sim_models[kind]
    fitter = model.transaction_model_
    x = np.array([0.0, 0.0, 1.0, 3.0, 8.0, 20.0])
    t_x = np.array([0.0, 0.0, 30.0, 200.0, 100.0, 359.0])
    T = np.array([1.0, 300.0, 60.0, 250.0, 360.0, 360.0])
    p_alive = model.transactions_.p_alive(x, t_x, T)
    for t in (1.0, 90.0, 365.25, 3000.0):
        closed = fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
        by_quadrature = model.transactions_._expected_purchases_by_quadrature(fitter, t, x, t_x, T, p_alive)
        np.testing.assert_allclose(by_quadrature, closed, rtol=1e-9)


def test_penalized_bgnbd_predictions_stay_finite_where_the_2f1_formula_fails(sim):
    # Penalizer 0.01 shrinks a + b below 1 here; eq. (10)'s 2F1 is NaN for one-time buyers.
    model = BTYDModel(penalizer=0.01, retry_penalizers=()).fit(sim)
    params = model.params_
    assert params["a"] + params["b"] < 1
    with np.errstate(invalid="ignore"):
        closed = model.transaction_model_.conditional_expected_number_of_purchases_up_to_time(
            90.0, sim["frequency"], sim["recency"], sim["T"]
        )
    assert np.isnan(closed).any()
    scores = model.predict(sim)
    assert np.isfinite(scores[["expected_purchases", "clv"]].to_numpy()).all()
    assert (scores["expected_purchases"] >= 0).all()


# --------------------------------------------------------------------------- the model classes and the fitted check

CLASSES = (BGNBDModel, MBGNBDModel, ParetoNBDModel, GammaGammaModel, BTYDModel)


def _uses_before_fit(unfitted, sim):  # type: ignore[no-untyped-def]
    """Every way to use an estimator of this class that needs a fit."""
    x, t_x, T, m = (sim[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value"))
    if isinstance(unfitted, BTYDModel):
        return [
            lambda: unfitted.predict(sim),
            lambda: unfitted.transaction_model_,
            lambda: unfitted.spend_model_,
        ]
    if isinstance(unfitted, GammaGammaModel):
        return [lambda: unfitted.expected_spend(x, m)]
    alive = np.ones(x.size)
    return [
        lambda: unfitted.p_alive(x, t_x, T),
        lambda: unfitted.expected_purchases(90.0, x, t_x, T),
        lambda: unfitted.p_no_purchase(90.0, x, t_x, T, alive),
        lambda: unfitted.median_next_purchase_days(x, t_x, T, alive),
    ]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_class_raises_not_fitted_error_naming_it_before_fit(sim, cls):
    unfitted = cls()
    uses = _uses_before_fit(unfitted, sim)
    for use in uses:
        with pytest.raises(NotFittedError, match=rf"^This {cls.__name__} is not fitted yet") as caught:
            use()
        assert isinstance(caught.value, ModelError) and isinstance(caught.value, AttributeError)
    assert len(uses) >= 1


def test_fitted_attributes_of_the_facade_are_absent_before_fit_and_present_after(sim, sim_models):
    assert not hasattr(BTYDModel(), "transaction_model_")  # NotFittedError is an AttributeError
    fitted = sim_models["bgnbd"]
    assert fitted.transaction_model_ is fitted.transactions_.fitter_
    assert fitted.spend_model_ is fitted.spend_.fitter_
    for use in _uses_before_fit(fitted, sim):
        use()  # no NotFittedError once fitted


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_init_stores_the_parameters_as_given_and_learns_nothing(cls):
    retry = [0.5]  # a list stays the caller's list
    estimator = cls(penalizer=0.25, retry_penalizers=retry)
    assert estimator.penalizer == 0.25 and estimator.retry_penalizers is retry
    assert [k for k in vars(estimator) if k.endswith("_")] == []


@pytest.mark.parametrize("kind", MODELS)
def test_each_transaction_model_fitted_alone_equals_the_facades(sim, sim_models, kind):
    alone = btyd.TRANSACTION_MODELS[kind]().fit(sim)
    facade = sim_models[kind]
    assert type(facade.transactions_) is type(alone)
    assert alone.params_ == facade.params_
    x, t_x, T = (sim[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    scores = facade.predict(sim, horizon_days=90)
    np.testing.assert_array_equal(alone.p_alive(x, t_x, T), scores["p_alive"])
    np.testing.assert_array_equal(alone.expected_purchases(90.0, x, t_x, T), scores["expected_purchases"])


def test_gamma_gamma_alone_matches_lifetimes_plain_fit_on_repeat_customers(sim):
    from lifetimes import GammaGammaFitter

    usable = sim[(sim["frequency"] > 0) & (sim["monetary_value"] > 0)]
    ours = GammaGammaModel().fit(sim)
    plain = GammaGammaFitter().fit(usable["frequency"], usable["monetary_value"])
    for name in ("p", "q", "v"):
        assert ours.params_[name] == pytest.approx(float(plain.params_[name]), rel=1e-5)
    with pytest.raises(ModelError, match="no customer has a repeat purchase with monetary_value > 0"):
        GammaGammaModel().fit(sim.assign(monetary_value=0.0))


def test_btyd_warnings_are_churnkit_warnings():
    for category in (ConvergenceWarning, BoundaryWarning, FallbackWarning):
        assert issubclass(category, ChurnkitWarning)


def test_a_model_pickled_by_the_single_class_module_loads_and_predicts_the_same(sim, sim_models):
    """Models saved before the package split kept the lifetimes fitters as transaction_model_ / spend_model_."""
    model = sim_models["pareto"]
    old_layout = {
        "model": "pareto",
        "penalizer": 0.0,
        "spend_penalizer": 0.0,
        "retry_penalizers": (0.001, 0.01, 0.1),
        "transaction_model_": model.transaction_model_,
        "spend_model_": model.spend_model_,
        "spend_fallback_": None,
        "params_": model.params_,
        "spend_params_": model.spend_params_,
        "fit_info_": model.fit_info_,
    }
    restored = BTYDModel.__new__(BTYDModel)
    restored.__setstate__(old_layout)
    assert isinstance(restored.transactions_, ParetoNBDModel)
    assert restored.transactions_.penalizer_ == model.fit_info_["penalizer"]
    reloaded = pickle.loads(pickle.dumps(restored))
    pd.testing.assert_frame_equal(reloaded.predict(sim.iloc[:200]), model.predict(sim.iloc[:200]))
