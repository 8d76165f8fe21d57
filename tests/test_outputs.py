"""The output contract: rounding, column types across the served model / CSV / Parquet, the next-purchase
window, p_purchase_30d, tiers learned at fit time, segment-only files, and docs/outputs.md in sync."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnkit.config import load_config
from churnkit.data.io import read_table, write_table
from churnkit.data.load import ShopData
from churnkit.datasets.sample_shop import generate_shop
from churnkit.jobs.segment import SEGMENT_COLUMNS, segment_customers
from churnkit.outputs import format_scores, next_purchase_dates
from churnkit.pipeline import train
from churnkit.schema import SCORE_COLUMNS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"


def test_rounding_by_hand():
    raw = pd.DataFrame(
        {
            "customer_id": [17, 18],
            "predicted_clv": [234.27015399853613, -0.001],
            "expected_saved_value": [0.125000001, 1.0],
            "churn_probability": [0.123456789, 3.6e-18],
            "p_alive": [0.99995, 0.5],
            "expected_purchases": [1.23456, 3.6e-18],
            "rfm_score": ["545", "111"],
            "cluster": [2.0, 0.0],
            "expected_next_purchase": ["2026-02-06", ""],
            "something_else": [1.234567, 2.0],
        }
    )
    out = format_scores(raw)
    assert out["predicted_clv"].tolist() == [234.27, 0.0]
    assert str(out["predicted_clv"].iloc[1]) == "0.0"  # not "-0.0"
    assert out["expected_saved_value"].tolist() == [0.13, 1.0]
    assert out["churn_probability"].tolist() == [0.1235, 0.0]
    assert out["p_alive"].tolist() == [1.0, 0.5]
    assert out["expected_purchases"].tolist() == [1.23, 0.0]
    assert out["rfm_score"].tolist() == [545, 111] and out["rfm_score"].dtype == "int64"
    assert out["cluster"].dtype == "int64"
    assert out["customer_id"].tolist() == ["17", "18"]
    assert out["expected_next_purchase"].tolist() == ["2026-02-06", ""]
    assert out["something_else"].tolist() == [1.2346, 2.0]
    assert list(out.columns) == list(raw.columns)
    pd.testing.assert_frame_equal(format_scores(out), out)  # idempotent


def test_next_purchase_window_rule():
    as_of = pd.Series(["2026-01-01"] * 5)
    got = next_purchase_dates(as_of, np.array([0.2, 30.0, 365.0, 365.5, np.inf]), window_days=365)
    assert got.tolist()[:3] == ["2026-01-02", "2026-01-31", "2027-01-01"]
    assert got.iloc[3:].tolist() == ["", ""]  # the median wait lies beyond the window, or never
    shorter = next_purchase_dates(as_of, np.array([0.2, 30.0, 365.0, 365.5, np.inf]), window_days=30)
    assert shorter.ne("").tolist() == [True, True, False, False, False]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):  # type: ignore[no-untyped-def]
    shop = generate_shop(700, seed=2)
    data = ShopData.from_frames(shop.transactions, shop.events, shop.customers)
    cfg = load_config(
        None, **{"training.n_snapshots": 2, "training.spacing_days": 60, "segments.n_clusters": 4}
    )
    result = train(data, cfg)
    return {"data": data, "cfg": cfg, "result": result, "scores": result.scores}


def test_served_csv_and_parquet_agree_on_types_and_values(trained, tmp_path):
    served = trained["result"].model.score(trained["data"])  # what the pyfunc / Spark UDF return
    assert list(served.columns) == list(SCORE_COLUMNS)
    assert served["rfm_score"].dtype == "int64" and served["cluster"].dtype == "int64"
    assert (served["expected_next_purchase"] == "").any()  # blanks are "" (a null becomes "nan" on Spark)
    for path in (tmp_path / "scores.csv", tmp_path / "scores.parquet"):
        back = read_table(write_table(served, path))
        assert back.dtypes.to_dict() == served.dtypes.to_dict(), path.suffix
        if path.suffix == ".csv":  # an empty CSV field reads back as missing
            text = back.select_dtypes("str").columns
            back[text] = back[text].fillna("")
        pd.testing.assert_frame_equal(back, served, check_exact=True)


def test_scores_are_rounded(trained):
    s = trained["scores"]
    for col, decimals in {
        "churn_probability": 4,
        "p_alive": 4,
        "p_purchase_30d": 4,
        "expected_purchases": 2,
        "predicted_clv": 2,
        "discounted_clv": 2,
        "expected_saved_value": 2,
    }.items():
        values = s[col].to_numpy()
        assert np.allclose(values, np.round(values, decimals), atol=1e-12, rtol=0), col
    assert s["churn_probability"].between(0, 1).all() and s["p_purchase_30d"].between(0, 1).all()


def test_p_purchase_30d_and_next_purchase_follow_the_btyd_model(trained):
    model, s = trained["result"].model, trained["scores"]
    feats = model.features(trained["data"], as_of=pd.Timestamp(s["as_of"].iloc[0]).date())
    btyd = model.btyd_
    month = btyd.predict(feats, horizon_days=30, clv_months=1, annual_discount_rate=0.1)
    assert np.allclose(s["p_purchase_30d"], 1 - month["p_no_purchase"].to_numpy(), atol=5e-5)
    year = btyd.predict(feats, horizon_days=365, clv_months=1, annual_discount_rate=0.1)
    p_year = 1 - year["p_no_purchase"].to_numpy()
    dated = s["expected_next_purchase"].ne("").to_numpy()
    # a date exactly when a purchase within 365 days is at least as likely as not (up to the search's step)
    assert (p_year[dated] >= 0.5 - 1e-3).all()
    assert (p_year[~dated] < 0.5 + 1e-3).all()
    assert dated.any() and (~dated).any()
    latest = pd.Timestamp(s["as_of"].iloc[0]) + pd.Timedelta(days=365)
    assert pd.to_datetime(s.loc[dated, "expected_next_purchase"]).max() <= latest


def test_tiers_are_learned_at_fit_time_and_relative_to_the_base(trained):
    model, s = trained["result"].model, trained["scores"]
    lo, hi = model.risk_cuts_
    assert 0 < lo <= hi <= 1
    shares = s["risk_tier"].value_counts(normalize=True)
    # the top fifth of the base by churn probability (ties broken by the BTYD P(no purchase))
    assert shares["high"] == pytest.approx(0.2, abs=0.03) and shares["low"] == pytest.approx(0.5, abs=0.05), (
        shares
    )
    # the same cuts apply to one customer scored alone
    one = model.score_features(
        model.features(trained["data"], as_of=pd.Timestamp(s["as_of"].iloc[0]).date()).iloc[[5]]
    )
    row = s[s["customer_id"] == one["customer_id"].iloc[0]]
    assert (
        one[["risk_tier", "value_tier", "recommended_action"]].to_numpy().tolist()
        == row[["risk_tier", "value_tier", "recommended_action"]].to_numpy().tolist()
    )
    champions = s[(s["rfm_segment"] == "Champions") & (s["risk_tier"] == "high")]
    assert not champions["recommended_action"].str.contains("offer|no action").any()


def test_segment_files_are_segment_only(trained, tmp_path):
    paths = segment_customers(
        trained["data"], trained["cfg"], out=tmp_path / "segments.csv", model=trained["result"].model
    )
    seg = read_table(paths["segments"])
    assert list(seg.columns) == list(SEGMENT_COLUMNS)
    assert seg["rfm_score"].dtype == "int64"
    assert (seg["rfm_score"] == seg["r_score"] * 100 + seg["f_score"] * 10 + seg["m_score"]).all()
    profile = pd.read_csv(paths["profile"])
    assert "T" not in profile.columns and "avg_customer_age_days" in profile.columns
    assert "churn_rate" not in profile.columns  # no labels at a scoring date: predictions, named as such
    assert (
        profile["avg_churn_probability"].between(0, 1).all()
        and profile["high_risk_share"].between(0, 1).all()
    )
    scores = trained["scores"]
    by_cluster = scores.groupby("cluster")["churn_probability"].mean()
    assert np.allclose(profile.set_index("cluster")["avg_churn_probability"], by_cluster.round(4), atol=1e-4)
    # the profile stored at fit time has the realized churn rate of the latest labelled snapshot
    fitted = trained["result"].model.clusters_.profile_
    assert fitted["churn_rate"].between(0, 1).all()


def _documented_columns() -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", DOCS.read_text(), flags=re.MULTILINE))


def test_docs_describe_every_output_column(trained, tmp_path):
    documented = _documented_columns()
    assert set(SCORE_COLUMNS) <= documented
    assert set(SEGMENT_COLUMNS) <= documented
    paths = segment_customers(
        trained["data"], trained["cfg"], out=tmp_path / "segments.csv", model=trained["result"].model
    )
    profile_cols = set(pd.read_csv(paths["profile"]).columns)
    generic = {c for c in profile_cols if c.startswith("avg_") and c not in documented}
    # feature means are documented once as avg_<feature>, with the renames spelled out
    assert "avg_<feature>" in documented and "avg_customer_age_days" in documented
    assert profile_cols - generic <= documented
    assert {"churn_rate", "group"} <= documented  # fit-time profile and holdout scoring


def test_kpi_files_are_rounded_like_every_other_output(tmp_path, cli):  # type: ignore[no-untyped-def]
    from churnkit.datasets.sample_shop import generate_shop, write_shop

    paths = write_shop(generate_shop(400, seed=2), tmp_path / "shop", fmt="csv")
    out = tmp_path / "kpis.csv"
    assert cli("kpis", "-t", paths["transactions"], "--out", out, "-q").exit_code == 0
    for path in (out, tmp_path / "kpis_cohorts.csv"):
        text = path.read_text()
        decimals = [
            len(x.split(".")[1]) for line in text.splitlines()[1:] for x in line.split(",") if "." in x
        ]
        assert decimals and max(decimals) <= 4, path
