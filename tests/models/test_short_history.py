"""History that ends at the as-of date: the data a shop has on the day it scores (issue: real shops).

The file given to churnkit holds only rows before D; the truth [D, D + 90) comes from the full data, held back by
the test. BG/NBD and Gamma-Gamma for comparison are fitted here with lifetimes itself, not through churnkit.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from churnkit.cli import app
from churnkit.datasets.cdnow import load_cdnow_master
from churnkit.datasets.sample_shop import generate_shop, write_shop
from churnkit.models.metrics import churn_metrics, clv_metrics

pytestmark = pytest.mark.slow
H = 90


def invoke(*args):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def lifetimes_btyd(tx: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """P(no purchase in H) and H-day CLV from lifetimes' own BG/NBD and Gamma-Gamma (penalizer 0.001)."""
    import lifetimes

    summary = lifetimes.utils.summary_data_from_transaction_data(
        tx,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end=as_of - pd.Timedelta(days=1),
        freq="D",
    )
    summary["T"] = summary["T"] + 1  # lifetimes measures T to the last observed day; churnkit to D 00:00
    bg = lifetimes.BetaGeoFitter(penalizer_coef=0.001).fit(
        summary["frequency"], summary["recency"], summary["T"]
    )
    r, alpha = bg.params_["r"], bg.params_["alpha"]
    x, t_x, T = summary["frequency"], summary["recency"], summary["T"]
    p_alive = bg.conditional_probability_alive(x, t_x, T)
    p_none = 1 - p_alive + p_alive * ((alpha + T) / (alpha + T + H)) ** (r + x)
    purchases = bg.conditional_expected_number_of_purchases_up_to_time(H, x, t_x, T)
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gg = lifetimes.GammaGammaFitter(penalizer_coef=0.001).fit(repeat["frequency"], repeat["monetary_value"])
    spend = gg.conditional_expected_average_profit(x, summary["monetary_value"])
    return pd.DataFrame({"p_no_purchase": p_none, "clv": purchases * spend}, index=summary.index.astype(str))


def truth(tx: pd.DataFrame, ids: pd.Index, as_of: pd.Timestamp) -> pd.DataFrame:
    window = tx[(tx["timestamp"] >= as_of) & (tx["timestamp"] < as_of + pd.Timedelta(days=H))]
    revenue = window.groupby(window["customer_id"].astype(str))["amount"].sum()
    buyers = set(window.loc[window["amount"] > 0, "customer_id"].astype(str))
    return pd.DataFrame(
        {
            "churned": [int(c not in buyers) for c in ids],
            "revenue": revenue.reindex(ids).fillna(0.0).to_numpy(),
        },
        index=ids,
    )


def train_and_score(folder, tx_file, *extra):  # type: ignore[no-untyped-def]
    store = f"sqlite:///{folder / 'mlflow.db'}"
    result = invoke("train", "-t", tx_file, *extra, "--tracking-uri", store, "-q", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    run = json.loads(result.stdout.strip().splitlines()[-1])
    out = folder / "scores.csv"
    scored = invoke("score", "--model", run["local_model"], "-t", tx_file, *extra, "--out", out, "-q")
    assert scored.exit_code == 0, scored.stdout + scored.stderr
    return run, pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")


@pytest.fixture(scope="module")
def cdnow_cut(tmp_path_factory, request):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("cdnow_cut")
    full = load_cdnow_master()
    as_of = pd.Timestamp("1997-10-01")
    cut = full[full["timestamp"] < as_of]
    cut.drop(columns="is_return").to_csv(folder / "cdnow_cut.csv", index=False)
    config = request.config.rootpath / "configs" / "cdnow.yaml"
    import os

    old = os.getcwd()
    os.chdir(folder)
    try:
        run, scores = train_and_score(
            folder, folder / "cdnow_cut.csv", "--config", config, "--as-of", "1997-10-01"
        )
    finally:
        os.chdir(old)
    return {
        "run": run,
        "scores": scores,
        "truth": truth(full, scores.index, as_of),
        "btyd": lifetimes_btyd(cut, as_of),
    }


def test_cdnow_cut_at_d_trains_the_boosted_models_and_says_which_dates(cdnow_cut):
    run = cdnow_cut["run"]
    assert run["mode"] == "boosted"
    assert run["champions"] == {"churn": "boosted", "clv": "boosted"}
    assert run["test_as_of"] == "1997-07-03" and run["evidence"] == "time"
    assert len(cdnow_cut["scores"]) == 23_570


def test_cdnow_cut_at_d_scores_hold_up_against_the_held_back_truth(cdnow_cut):
    scores, t = cdnow_cut["scores"], cdnow_cut["truth"]
    btyd = cdnow_cut["btyd"].reindex(scores.index)
    assert btyd.notna().all().all()
    ours = churn_metrics(t["churned"], scores["churn_probability"])
    auc_btyd = roc_auc_score(t["churned"], btyd["p_no_purchase"])
    assert ours["churn_auc"] >= auc_btyd - 0.005
    assert ours["churn_ece"] <= 0.03
    gini = clv_metrics(t["revenue"], scores["predicted_clv"])["clv_gini_norm"]
    gini_btyd = clv_metrics(t["revenue"], btyd["clv"])["clv_gini_norm"]
    assert gini >= gini_btyd + 0.03
    assert 0.75 <= scores["predicted_clv"].sum() / t["revenue"].sum() <= 1.25


def test_sample_shop_with_nine_months_of_history_boosted_beats_btyd(tmp_path):
    shop = generate_shop(3000, seed=1, start="2025-01-01", end="2025-12-31")
    as_of = pd.Timestamp("2025-10-01")
    cut = dataclasses.replace(
        shop,
        transactions=shop.transactions[shop.transactions["timestamp"] < as_of],
        events=shop.events[shop.events["timestamp"] < as_of],
    )
    paths = write_shop(cut, tmp_path / "shop", fmt="csv")
    import os

    os.chdir(tmp_path)
    run, scores = train_and_score(
        tmp_path, paths["transactions"], "-e", paths["events"], "--customers", paths["customers"]
    )
    assert run["mode"] == "boosted" and run["champions"] == {"churn": "boosted", "clv": "boosted"}
    t = truth(shop.transactions, scores.index, as_of)
    btyd = lifetimes_btyd(cut.transactions, as_of).reindex(scores.index)
    assert (
        roc_auc_score(t["churned"], scores["churn_probability"])
        >= roc_auc_score(t["churned"], btyd["p_no_purchase"]) + 0.02
    )
    gini = clv_metrics(t["revenue"], scores["predicted_clv"])["clv_gini_norm"]
    assert gini >= clv_metrics(t["revenue"], btyd["clv"])["clv_gini_norm"] + 0.02
    assert np.isfinite(scores["churn_probability"]).all()
