"""The whole loop through the CLI against a real SQLite MLflow store:
generate → train → score --holdout → simulate the next H days → evaluate → evaluate-campaign."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from churnkit.datasets.sample_shop import generate_shop, simulate_future, write_shop

N, SEED, H = 1200, 3, 90


def _json(result) -> dict:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def loop(tmp_path_factory):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from churnkit.cli import app

    def cli(*args):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)

    work = tmp_path_factory.mktemp("loop")
    store = f"sqlite:///{work / 'mlflow.db'}"
    assert cli("generate", work / "shop", "--customers", N, "--seed", SEED).exit_code == 0
    cfg = work / "fast.yaml"
    cfg.write_text("training:\n  n_snapshots: 3\n  spacing_days: 45\nsegments:\n  n_clusters: 4\n")
    tables = ["-t", work / "shop/transactions.csv", "-e", work / "shop/events.csv"]
    tables += ["--customers", work / "shop/customers.csv"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        trained = _json(cli("train", *tables, "-c", cfg, "--tracking-uri", store, "-q", "--json"))
        model = str(work / trained["local_model"])
        score = ["score", "-m", model, *tables, "--tracking-uri", store, "-q", "--holdout", "0.3"]
        scored = cli(*score, "--holdout-salt", "spring", "-o", work / "scores.csv")
        assert scored.exit_code == 0, scored.stderr
        again = cli(*score, "--holdout-salt", "spring", "-o", work / "again.csv")
        top = cli(*score, "--top", "100", "-o", work / "top.csv")
    scores = pd.read_csv(work / "scores.csv", dtype={"customer_id": str})
    # the next H days, with a 10-point campaign effect on the target group
    cont = ["--continue-from", work / "scores.csv", "--days", H, "--campaign-effect", "0.10"]
    assert cli("generate", work / "future", "-n", N, "--seed", SEED, *cont).exit_code == 0
    future = simulate_future(generate_shop(N, seed=SEED), scores, days=H, campaign_effect=0.10, seed=SEED)
    write_shop(future, work / "library")
    return {
        "cli": cli,
        "work": work,
        "store": store,
        "trained": trained,
        "model": model,
        "scored": scored,
        "again": again,
        "top": top,
        "scores": scores,
        "future": future,
    }


def _outcomes(loop) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    tx = pd.read_csv(
        loop["work"] / "future/transactions.csv", dtype={"customer_id": str}, parse_dates=["timestamp"]
    )
    lo = pd.Timestamp(loop["scores"]["as_of"].iloc[0])
    w = tx[(tx["timestamp"] >= lo) & (tx["timestamp"] < lo + pd.Timedelta(days=H))]
    out = loop["scores"].copy()
    out["churned"] = (~out["customer_id"].isin(set(w.loc[w["amount"] > 0, "customer_id"]))).astype(int)
    out["revenue"] = out["customer_id"].map(w.groupby("customer_id")["amount"].sum()).fillna(0.0)
    return out


def test_generate_continue_from_writes_the_library_simulation(loop):
    work = loop["work"]
    for table in ("transactions", "events", "customers"):
        assert (work / "future" / f"{table}.csv").read_bytes() == (
            work / "library" / f"{table}.csv"
        ).read_bytes()
    new = (
        pd.read_csv(work / "future/transactions.csv").shape[0]
        - pd.read_csv(work / "shop/transactions.csv").shape[0]
    )
    assert new > 0


def test_score_adds_groups_and_says_what_lift_they_can_detect(loop):
    scores = loop["scores"]
    assert set(scores["group"]) == {"target", "control"}
    assert abs((scores["group"] == "control").mean() - 0.3) < 0.04
    assert "smallest retention lift this can detect" in loop["scored"].stdout
    again = pd.read_csv(loop["work"] / "again.csv", dtype={"customer_id": str})
    assert (
        again.set_index("customer_id")["group"]
        .sort_index()
        .equals(scores.set_index("customer_id")["group"].sort_index())
    )
    top = pd.read_csv(loop["work"] / "top.csv", dtype={"customer_id": str})
    assert (top["group"] == "target").sum() == 100  # --top counts target customers only
    assert "control group:" in loop["top"].stdout


def test_evaluate_metrics_equal_scikit_learn_and_are_logged(loop):
    cli, work = loop["cli"], loop["work"]
    args = ["evaluate", "--scores", work / "scores.csv", "-t", work / "future/transactions.csv"]
    args += ["-e", work / "future/events.csv", "-m", loop["model"], "--tracking-uri", loop["store"]]
    report = _json(cli(*args, "--json", "--out", work / "evaluation.html"))
    m = report["metrics"]
    for name in ("churn_auc", "churn_brier", "churn_ece", "churn_lift_top10", "clv_gini_norm", "clv_mae"):
        assert isinstance(m[name], float), name
    hand = _outcomes(loop)
    assert m["churn_auc"] == pytest.approx(
        roc_auc_score(hand["churned"], hand["churn_probability"]), abs=1e-9
    )
    assert m["churn_brier"] == pytest.approx(
        brier_score_loss(hand["churned"], hand["churn_probability"]), abs=1e-9
    )
    assert m["clv_mae"] == pytest.approx(np.mean(np.abs(hand["predicted_clv"] - hand["revenue"])), abs=1e-9)
    # the backtest beside it is the training run's, and the verdict is said
    assert report["backtest"]["churn_auc"] == pytest.approx(
        loop["trained"]["metrics"]["churn_auc"], abs=1e-12
    )
    assert report["held_up"] in (True, False)
    assert "held up" in report["verdict"] and "control customers" in report["checked_on"]
    assert "<table>" in (work / "evaluation.html").read_text()
    import mlflow

    mlflow.set_tracking_uri(loop["store"])
    run = mlflow.get_run(report["run_id"])
    assert run.data.tags["churnkit.kind"] == "evaluation"
    assert run.data.tags["churnkit.model_run_id"] == loop["trained"]["run_id"]
    assert run.data.metrics["churn_auc"] == pytest.approx(m["churn_auc"], abs=1e-12)
    assert run.data.metrics["backtest_churn_auc"] == pytest.approx(report["backtest"]["churn_auc"], abs=1e-12)


def test_evaluate_refuses_scores_whose_horizon_has_not_passed(loop):
    work = loop["work"]
    result = loop["cli"]("evaluate", "--scores", work / "scores.csv", "-t", work / "shop/transactions.csv")
    assert result.exit_code == 2
    as_of = pd.Timestamp(loop["scores"]["as_of"].iloc[0])
    need = (as_of + pd.Timedelta(days=H - 1)).date()
    assert f"needs data up to {need}" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_campaign_lift_is_the_plain_difference_and_finds_the_effect(loop):
    cli, work = loop["cli"], loop["work"]
    args = ["evaluate-campaign", "--scores", work / "scores.csv", "-t", work / "future/transactions.csv"]
    out = _json(cli(*args, "--cost-per-contact", "0.5", "--json"))
    hand = _outcomes(loop)
    t, c = hand[hand["group"] == "target"], hand[hand["group"] == "control"]
    r, v = out["retention"], out["revenue_per_customer"]
    assert set(r) >= {"target", "control", "lift", "ci_low", "ci_high", "p_value"}
    assert r["lift"] == pytest.approx((1 - t["churned"]).mean() - (1 - c["churned"]).mean(), abs=1e-12)
    assert v["lift"] == pytest.approx(t["revenue"].mean() - c["revenue"].mean(), abs=1e-9)
    assert r["ci_low"] < 0.10 < r["ci_high"]  # the true effect is inside the interval ...
    assert r["p_value"] < 0.05  # ... and a 10-point lift on ~840 / 360 customers is detected
    assert out["analysis"].startswith("intention-to-treat")
    assert out["cost"] == pytest.approx(0.5 * len(t))
    text = cli(*args)
    assert text.exit_code == 0 and "two-proportion z test" in text.stdout and "Welch" in text.stdout
    contacted = work / "contacted.csv"
    t[["customer_id"]].head(200).to_csv(contacted, index=False)
    pp = _json(cli(*args, "--contacted", contacted, "--json"))
    assert pp["retention"]["n_target"] == 200 and pp["analysis"].startswith("per-protocol")


def test_score_warns_about_drift_naming_the_features(loop):
    """Amounts ×5 (a currency change, say): the revenue features move far from the training base."""
    cli, work = loop["cli"], loop["work"]
    tx = pd.read_csv(work / "shop/transactions.csv")
    tx["amount"] *= 5
    tx.to_csv(work / "tx5.csv", index=False)
    args = ["score", "-m", loop["model"], "-t", work / "tx5.csv", "-e", work / "shop/events.csv"]
    result = cli(*args, "--customers", work / "shop/customers.csv", "-q", "-o", work / "s5.csv")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: drift")]
    assert len(warnings) == 1 and "PSI > 0.2" in warnings[0]
    assert "monetary" in warnings[0] or "revenue" in warnings[0]
    assert "warning: drift" not in loop["scored"].stderr  # the training data itself does not drift


def test_score_and_drift_scores_exactly_like_model_score(loop):
    from churnkit.config import load_config
    from churnkit.data.load import load_shop
    from churnkit.monitoring.drift import score_and_drift
    from churnkit.tracking.runs import load_model

    work = loop["work"]
    model = load_model(loop["model"], load_config())
    data = load_shop(*(work / f"shop/{t}.csv" for t in ("transactions", "events", "customers")))
    scores, drift = score_and_drift(model, data)
    pd.testing.assert_frame_equal(scores, model.score(data))
    # the reference is the base at the training date as the model scored it: the same shop on the same
    # date is no drift at all (it was 7 of 59 inputs above 0.2 on a cut sample shop with the snapshots)
    assert drift is not None and drift.max() == 0.0 and "churn_probability" in drift.index
    del model.drift_reference_  # a model trained before drift references existed
    assert score_and_drift(model, data)[1] is None


def test_a_bad_holdout_fraction_is_a_usage_error(loop):
    work = loop["work"]
    result = loop["cli"](
        "score",
        "-m",
        loop["model"],
        "-t",
        work / "shop/transactions.csv",
        "-o",
        work / "x.csv",
        "--holdout",
        "1.5",
    )
    assert result.exit_code == 2 and "between 0 and 1" in result.stderr
    assert not (work / "x.csv").exists()
