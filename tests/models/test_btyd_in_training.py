"""No BTYD fit failure stops a run: the pipeline goes on without the BTYD columns (issue: real shops)."""

from __future__ import annotations

import numpy as np
import pytest

from churnkit.config import load_config
from churnkit.data.load import ShopData
from churnkit.datasets.sample_shop import generate_shop
from churnkit.pipeline import train


@pytest.fixture(scope="module")
def shop():  # type: ignore[no-untyped-def]
    s = generate_shop(900, seed=4)
    return ShopData.from_frames(s.transactions, s.events, s.customers)


def test_every_btyd_model_failing_trains_the_boosted_models_without_btyd_columns(shop, monkeypatch):
    """lifetimes' three transaction fitters all raise (as on a shop with no repeat buyers): the run goes on."""
    import lifetimes

    def fail(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise lifetimes.utils.ConvergenceError("The model did not converge (injected)")

    for fitter in (lifetimes.BetaGeoFitter, lifetimes.ModifiedBetaGeoFitter, lifetimes.ParetoNBDFitter):
        monkeypatch.setattr(fitter, "fit", fail)
    cfg = load_config(None, **{"training.n_snapshots": 3, "training.spacing_days": 45})
    result = train(shop, cfg)
    assert result.mode == "boosted"
    assert result.backtest.champions == {"churn": "boosted", "clv": "boosted"}
    assert result.model.btyd_ is None
    assert result.summary["btyd"]["model"] is None
    problems = [n for n in result.notes if n.startswith("BTYD at")]
    assert len(problems) == len(result.summary["btyd_snapshots"])  # one plain line per snapshot
    assert all("injected" in n or "fail" in n for n in problems)
    scores = result.scores
    assert scores["churn_probability"].between(0, 1).all()
    assert np.isfinite(scores["predicted_clv"]).all()
    assert scores["p_alive"].isna().all()  # said missing, never invented
    assert "boosted_churn_auc" in result.backtest.metrics
    assert "baseline_btyd_churn_auc" not in result.backtest.metrics


def test_the_outcome_of_each_snapshots_btyd_fit_is_recorded(shop):
    cfg = load_config(None, **{"training.n_snapshots": 2, "training.spacing_days": 60})
    result = train(shop, cfg)
    outcomes = result.summary["btyd_snapshots"]
    assert len(outcomes) >= 3  # the test snapshot, the training snapshots and the base at the as-of date
    for outcome in outcomes.values():
        assert outcome["model"] in ("bgnbd", "mbgnbd", "pareto")
        assert {"penalizer", "boundary", "fallback", "seconds"} <= set(outcome)
