"""Tests for what keeps a BTYD fit from stopping a run: the NBD boundary ("no dropout visible yet")
accepted as a finding, the fit_btyd fallback chain, and the Gamma-Gamma fallback spend.

All fits are real lifetimes fits on small seeded data."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from churnkit.errors import ConfigError, InputError
from churnkit.models.btyd import (
    BoundaryWarning,
    BTYDFit,
    BTYDModel,
    ConvergenceWarning,
    FallbackWarning,
    fit_btyd,
)

RATE = 1 / 7  # purchases per day
HORIZON = 90.0


def frequent_buyers(n: int = 300, seed: int = 1, shape: float = 8.0, T: float = 60.0) -> pd.DataFrame:
    """An early snapshot of a grocery-like shop: n customers all T days old, nobody drops out.

    Each customer buys on Poisson days at a Gamma(shape, RATE / shape) rate (mean 1/week); several
    purchases on one day are one purchase day; the first purchase is day 0, repeat days 1..T-1.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(shape, RATE / shape, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        days = np.unique(np.ceil(rng.uniform(0, T, rng.poisson(lam[i] * T))))
        days = days[days < T]
        x[i] = days.size
        t_x[i] = days[-1] if days.size else 0.0
    spend = np.random.default_rng(seed + 1000).gamma(5.0, 4.0, n)
    return pd.DataFrame(
        {
            "customer_id": [f"g{i:03d}" for i in range(n)],
            "frequency": x,
            "recency": t_x,
            "T": np.full(n, T),
            "monetary_value": np.where(x > 0, np.round(spend, 2), 0.0),
        }
    )


def churning_shop(n: int = 2000, seed: int = 7) -> pd.DataFrame:
    """Seeded BG/NBD customers with real dropout (r=0.25, α=30/day, a=0.8, b=2.5), in whole days."""
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 366, n).astype(float)
    lam = rng.gamma(0.25, 1 / 30.0, n)
    count = rng.poisson(lam * T)
    x = np.minimum(count, rng.geometric(rng.beta(0.8, 2.5, n)))
    last = T * rng.beta(np.maximum(x, 1), np.maximum(count - x + 1, 1))
    spend = rng.gamma(6.0, 4.0, n)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "frequency": x.astype(float),
            "recency": np.where(x > 0, np.floor(last), 0.0),
            "T": T,
            "monetary_value": np.where(x > 0, np.round(spend, 2), 0.0),
        }
    )


def caught_fit(*args, **kwargs) -> tuple[BTYDFit, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_btyd(*args, **kwargs)
    return result, list(caught)


@pytest.fixture(scope="module")
def early() -> pd.DataFrame:
    return frequent_buyers()


@pytest.fixture(scope="module")
def early_fit(early) -> tuple[BTYDFit, list[warnings.WarningMessage]]:
    return caught_fit(early)


# --------------------------------------------------------------------------- the NBD boundary


def test_plain_lifetimes_gives_no_usable_dropout_on_the_early_snapshot(early):
    """Why fit_btyd needs the boundary rule: unpenalised lifetimes either runs a to zero or stops.

    Which of the two happens is decided by BFGS' last steps at log a ≈ -23, where the likelihood is
    flat: the same data converged to a < 1e-8 in a lone pytest run and raised ConvergenceError inside
    a CI worker (stop 21). Both mean the same thing to a user: no dropout estimate.
    """
    import lifetimes
    from lifetimes.utils import ConvergenceError

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            plain = lifetimes.BetaGeoFitter(penalizer_coef=0).fit(
                early["frequency"], early["recency"], early["T"]
            )
        except ConvergenceError:
            return
    assert plain.params_["a"] < 1e-8  # far below any real dropout, on the boundary
    assert 2 < plain.params_["r"] < 50  # the purchase rate is still estimated


def test_fit_btyd_accepts_the_boundary_and_says_so(early_fit):
    result, caught = early_fit
    outcome = result.outcome
    assert result.model is not None and outcome["model"] == outcome["requested"] == "bgnbd"
    assert outcome["boundary"] == "a → 0: no dropout visible yet; BG/NBD reduces to NBD"
    assert outcome["fallback"] == [] and outcome["penalizer"] == 0.0
    assert outcome["params"]["a"] == 1e-8  # clamped
    assert "a → 0: no dropout visible yet" in outcome["message"]
    assert len(caught) == 1 and caught[0].category is BoundaryWarning
    assert str(caught[0].message) == outcome["message"]
    info = result.model.fit_info_
    assert info["boundary_detail"]["lr_statistic"] < 3.85 and not info["converged"]
    assert json.loads(json.dumps(outcome, allow_nan=False)) == outcome


def test_boundary_fit_predicts_like_the_nbd_model(early, early_fit):
    model = early_fit[0].model
    scores = model.predict(early, horizon_days=HORIZON)
    values = scores[["p_alive", "expected_purchases", "p_no_purchase", "expected_spend", "clv"]].to_numpy()
    assert np.isfinite(values).all()
    assert (scores["p_alive"] > 0.999).all()
    assert scores["p_no_purchase"].between(0, 1).all()
    assert scores["expected_purchases"].mean() == pytest.approx(RATE * HORIZON, rel=0.15)
    # Second implementation: all customers are T days old, so the NBD count model is a negative
    # binomial in x; fit it with scipy and compare each customer's E[λ | x] × H = (r+x)/(α+T) × H.
    x, T = early["frequency"].to_numpy(), float(early["T"].iloc[0])

    def nll(log_params):
        r, alpha = np.exp(log_params)
        return -stats.nbinom.logpmf(x, r, alpha / (alpha + T)).sum()

    r, alpha = np.exp(optimize.minimize(nll, np.zeros(2), method="Nelder-Mead", tol=1e-12).x)
    np.testing.assert_allclose(scores["expected_purchases"], (r + x) / (alpha + T) * HORIZON, rtol=1e-3)


def test_boundary_model_fitted_directly_warns_and_pickles(early):
    with pytest.warns(BoundaryWarning, match=r"^BG/NBD: a → 0: no dropout visible yet"):
        model = BTYDModel().fit(early)
    loaded = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(loaded.predict(early), model.predict(early))
    assert loaded.fit_info_["boundary"] == model.fit_info_["boundary"]


@pytest.mark.parametrize(
    ("kind", "finding"),
    [("bgnbd", "a → 0"), ("mbgnbd", "a → 0"), ("pareto", "s/β → 0")],
)
def test_every_model_reaches_the_same_nbd_on_the_boundary(kind, finding):
    # Another seed of the same shop where all three models sit on the boundary at penalizer 0.
    data = frequent_buyers(seed=2, shape=4.0)
    with pytest.warns(BoundaryWarning):
        model = BTYDModel(kind).fit(data)
    label = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pareto": "Pareto/NBD"}[kind]
    assert model.fit_info_["boundary"] == f"{finding}: no dropout visible yet; {label} reduces to NBD"
    assert model.fit_info_["penalizer"] == 0.0
    scores = model.predict(data)
    assert (scores["p_alive"] > 0.999).all()
    assert scores["expected_purchases"].mean() == pytest.approx(RATE * HORIZON, rel=0.15)
    r, alpha = model.params_["r"], model.params_["alpha"]
    x, T = data["frequency"].to_numpy(), data["T"].to_numpy()
    np.testing.assert_allclose(scores["expected_purchases"], (r + x) / (alpha + T) * HORIZON, rtol=1e-5)
    loaded = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(loaded.predict(data), scores)


def test_visible_dropout_is_not_accepted_as_a_boundary():
    # Same shop, another seed: the unpenalized BG/NBD optimiser fails, but a dropout component beats
    # the NBD model by more than the 95 % likelihood-ratio critical value, so penalizer 0 is refused.
    data = frequent_buyers(seed=0, shape=4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BTYDModel().fit(data)
    first = model.fit_info_["attempts"][0]
    assert first["penalizer"] == 0.0 and not first["ok"]
    assert "boundary estimate not accepted: dropout is visible (likelihood-ratio statistic" in first["reason"]
    statistic = float(first["reason"].split("likelihood-ratio statistic ")[1].split()[0])
    assert statistic > 3.84
    assert model.fit_info_["penalizer"] > 0


def test_real_dropout_data_is_never_called_a_boundary():
    data = churning_shop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_btyd(data)
    assert result.outcome["boundary"] is None and result.outcome["model"] == "bgnbd"
    assert result.model.fit_info_["converged"] and result.outcome["message"] is None
    assert not caught
    assert result.model.predict(data)["p_alive"].min() < 0.5  # dropout is there and seen


# --------------------------------------------------------------------------- the chain


def test_chain_uses_the_next_model_when_the_configured_one_fails(monkeypatch):
    import lifetimes
    from lifetimes.utils import ConvergenceError

    data = churning_shop()

    original = lifetimes.BetaGeoFitter.fit

    def broken(self, *args, **kwargs):
        if type(self) is not lifetimes.BetaGeoFitter:  # ModifiedBetaGeoFitter.fit calls this one
            return original(self, *args, **kwargs)
        print("lifetimes prints before it raises")
        raise ConvergenceError("The model did not converge. Try adding a larger penalizer.")

    monkeypatch.setattr(lifetimes.BetaGeoFitter, "fit", broken)
    result, caught = caught_fit(data, model="bgnbd")
    outcome = result.outcome
    assert outcome["requested"] == "bgnbd" and outcome["model"] == "mbgnbd"
    assert [f["model"] for f in outcome["fallback"]] == ["bgnbd"]
    reason = outcome["fallback"][0]["reason"]
    assert reason.startswith("BG/NBD fit failed at every penalizer tried: penalizer 0: ConvergenceError")
    assert "dropout is visible" in reason  # lifetimes raised, the boundary check saw the dropout
    assert outcome["message"].startswith("BG/NBD failed (BG/NBD fit failed at every penalizer tried")
    assert ": used MBG/NBD instead" in outcome["message"]
    assert len(caught) == 1 and caught[0].category is FallbackWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = BTYDModel("mbgnbd").fit(data)
    assert result.model.params_ == direct.params_
    assert np.isfinite(result.model.predict(data)[["p_alive", "clv"]].to_numpy()).all()


def test_fallback_order_and_requested_model_first(monkeypatch):
    import lifetimes
    from lifetimes.utils import ConvergenceError

    def broken(self, *args, **kwargs):
        raise ConvergenceError("no")

    monkeypatch.setattr(lifetimes.ModifiedBetaGeoFitter, "fit", broken)
    data = churning_shop(n=800)
    result, _ = caught_fit(data, model="mbgnbd", fallback=("pareto", "bgnbd"))
    assert result.outcome["model"] == "pareto"
    assert [f["model"] for f in result.outcome["fallback"]] == ["mbgnbd"]


def test_every_model_failing_returns_no_model_and_one_warning():
    data = pd.DataFrame(
        {
            "customer_id": [f"o{i}" for i in range(50)],
            "frequency": 0.0,
            "recency": 0.0,
            "T": np.linspace(10, 300, 50),
            "monetary_value": 0.0,
        }
    )
    result, caught = caught_fit(data)
    outcome = result.outcome
    assert result.model is None and outcome["model"] is None
    assert [f["model"] for f in outcome["fallback"]] == ["bgnbd", "mbgnbd", "pareto"]
    for failure, label in zip(outcome["fallback"], ("BG/NBD", "MBG/NBD", "Pareto/NBD"), strict=True):
        assert failure["reason"].startswith(
            f"cannot fit {label}: none of the 50 customers has a repeat purchase"
        )
    assert outcome["message"].startswith("no BTYD model could be fitted (BG/NBD: cannot fit BG/NBD")
    assert outcome["message"].endswith("BTYD outputs are missing")
    assert len(caught) == 1 and caught[0].category is FallbackWarning
    assert outcome["boundary"] is None and outcome["penalizer"] is None and outcome["n_repeat_customers"] == 0
    assert json.loads(json.dumps(outcome, allow_nan=False)) == outcome


def test_caller_mistakes_still_raise(early):
    with pytest.raises(ConfigError, match="model must be one of"):
        fit_btyd(early, model="bg")
    with pytest.raises(ConfigError, match="model must be one of"):
        fit_btyd(early, fallback=("bgnbd", "nbd"))
    with pytest.raises(ConfigError, match="penalizer"):
        fit_btyd(early, penalizer=-1.0)
    with pytest.raises(InputError, match="missing column 'T'"):
        fit_btyd(early.drop(columns="T"))


# --------------------------------------------------------------------------- Gamma-Gamma


def heavy_tailed_spend(n: int = 1500, seed: int = 3) -> pd.DataFrame:
    """Churning customers whose typical spend is lognormal(3, 2): Gamma-Gamma's q < 1 (no finite mean)."""
    data = churning_shop(n=n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x = data["frequency"].to_numpy()
    typical = np.exp(rng.normal(3.0, 2.0, n))
    spend = rng.gamma(4 * np.maximum(x, 1), typical / (4 * np.maximum(x, 1)))
    return data.assign(monetary_value=np.where(x > 0, np.round(spend, 2) + 0.01, 0.0))


def test_gamma_gamma_failure_keeps_the_transaction_model():
    import lifetimes

    data = heavy_tailed_spend()
    repeat = data[data["frequency"] > 0]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    assert plain.params_["q"] < 1  # the population mean spend does not exist

    result, caught = caught_fit(data)
    outcome = result.outcome
    assert outcome["model"] == "bgnbd" and outcome["spend_fallback"] == "shrunk_mean"
    assert outcome["spend_params"] == {} and outcome["spend_penalizer"] is None
    assert "Gamma-Gamma fit failed at every penalizer tried" in outcome["message"]
    assert "q = " in outcome["message"] and "<= 1" in outcome["message"]
    assert len(caught) == 1 and caught[0].category is FallbackWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = BTYDModel().fit(data)
    assert result.model.params_ == direct.params_  # the transaction model is the usual fit

    # hand-worked fallback: m̄ = mean spend per repeat purchase; (x m + m̄) / (x + 1)
    x, m = repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy()
    mean = (x * m).sum() / x.sum()
    probe = pd.DataFrame(
        {
            "customer_id": ["new", "twice", "ten"],
            "frequency": [0.0, 2.0, 10.0],
            "recency": [0.0, 40.0, 200.0],
            "T": [100.0, 100.0, 300.0],
            "monetary_value": [0.0, 50.0, 7.0],
        }
    )
    for model in (result.model, pickle.loads(pickle.dumps(result.model))):
        scores = model.predict(probe)
        np.testing.assert_allclose(
            scores["expected_spend"], [mean, (2 * 50.0 + mean) / 3, (10 * 7.0 + mean) / 11], rtol=1e-12
        )
        assert np.isfinite(scores["clv"]).all() and (scores["clv"] > 0).all()


def test_gamma_gamma_penalizer_is_unit_free_on_wholesale_spend():
    import lifetimes

    data = churning_shop(n=1500, seed=5)
    rng = np.random.default_rng(9)
    x = data["frequency"].to_numpy()
    typical = np.exp(rng.normal(3.0, 1.0, len(data)))
    spend = rng.gamma(4 * np.maximum(x, 1), typical / (4 * np.maximum(x, 1)))
    retail = data.assign(monetary_value=np.where(x > 0, spend, 0.0))
    wholesale = retail.assign(monetary_value=retail["monetary_value"] * 1000)
    repeat = wholesale[wholesale["frequency"] > 0]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = lifetimes.GammaGammaFitter(penalizer_coef=0.001).fit(
            repeat["frequency"], repeat["monetary_value"]
        )
    assert plain.params_["q"] < 1  # lifetimes' penalty on v in money units swamps the likelihood

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BTYDModel(spend_penalizer=0.001).fit(wholesale)
        small = BTYDModel(spend_penalizer=0.001).fit(retail)
    assert ours.fit_info_["spend_penalizer"] == 0.001 and ours.spend_params_["q"] > 1
    for name in ("p", "q"):
        assert ours.spend_params_[name] == pytest.approx(small.spend_params_[name], rel=1e-5)
    assert ours.spend_params_["v"] == pytest.approx(1000 * small.spend_params_["v"], rel=1e-5)


# --------------------------------------------------------------------------- published data


@pytest.mark.slow
def test_cdnow_through_fit_btyd_is_the_published_fit():
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    data = load_cdnow_summary_data_with_monetary_value().reset_index()
    data["recency"] *= 7.0
    data["T"] *= 7.0
    result, caught = caught_fit(data)
    outcome = result.outcome
    assert not caught and outcome["message"] is None and outcome["fallback"] == []
    assert outcome["model"] == "bgnbd" and outcome["boundary"] is None and outcome["spend_fallback"] is None
    per_week = {k: v / 7.0 if k == "alpha" else v for k, v in outcome["params"].items()}
    assert {k: f"{v:.3g}" for k, v in per_week.items()} == {
        "r": "0.243",
        "alpha": "4.41",
        "a": "0.793",
        "b": "2.43",
    }
    assert json.loads(json.dumps(outcome, allow_nan=False)) == outcome
