"""The remaining commands through the CLI: generate, validate, kpis, features, segment, demo."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def shop(tmp_path_factory):  # type: ignore[no-untyped-def]
    from churnkit.datasets.sample_shop import generate_shop, write_shop

    folder = tmp_path_factory.mktemp("shop")
    return write_shop(generate_shop(800, seed=11), folder)


def test_generate_same_seed_same_files(cli, tmp_path):
    for name in ("a", "b"):
        assert cli("generate", tmp_path / name, "--customers", "300", "--seed", "4").exit_code == 0
    for table in ("transactions", "events", "customers", "truth"):
        assert (tmp_path / "a" / f"{table}.csv").read_bytes() == (
            tmp_path / "b" / f"{table}.csv"
        ).read_bytes()


def test_validate_quiet_prints_only_what_the_history_supports(cli, shop, tmp_path):
    """-q drops the load report (rows loaded, set aside) and keeps the readiness verdict, as on every command."""
    args = ("validate", "-t", shop["transactions"], "-e", shop["events"], "--rejected-dir", tmp_path / "r")
    full, quiet = cli(*args), cli(*args, "-q")
    assert full.exit_code == quiet.exit_code == 0, full.stderr + quiet.stderr
    loaded = [line for line in full.stdout.splitlines() if "rows loaded from" in line]
    assert len(loaded) == 2  # transactions and events
    assert quiet.stdout.splitlines() == [line for line in full.stdout.splitlines() if line not in loaded]
    assert quiet.stdout.splitlines()[-1].startswith("history: ")


def test_kpis_writes_table_cohorts_and_heatmap(cli, shop, tmp_path):
    out = tmp_path / "k" / "kpis.csv"
    result = cli("kpis", "--transactions", shop["transactions"], "--period", "quarter", "--out", out)
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(out)
    assert {"retention_rate", "churn_rate", "simple_clv", "average_order_value"} <= set(table.columns)
    assert (tmp_path / "k" / "kpis_cohorts.csv").exists()
    assert (tmp_path / "k" / "kpis_cohorts.png").read_bytes()[:4] == b"\x89PNG"


def test_features_one_row_per_customer_with_labels(cli, shop, tmp_path):
    out = tmp_path / "f.parquet"
    result = cli(
        "features",
        "-t",
        shop["transactions"],
        "-e",
        shop["events"],
        "--as-of",
        "2025-06-01",
        "--horizon",
        "90",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.stderr
    table = pd.read_parquet(out)
    assert table["customer_id"].is_unique
    assert {
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "sessions_30d",
        "churned",
        "future_revenue",
    } <= set(table.columns)
    tx = pd.read_csv(shop["transactions"], dtype={"customer_id": str}, parse_dates=["timestamp"])
    base = tx[(tx["amount"] > 0) & (tx["timestamp"] < "2025-06-01")]["customer_id"].unique()
    assert set(table["customer_id"]) == set(base)


def test_segment_without_a_model_and_transitions(cli, shop, tmp_path):
    out = tmp_path / "seg.csv"
    result = cli(
        "segment",
        "-t",
        shop["transactions"],
        "-e",
        shop["events"],
        "--as-of",
        "2025-10-01",
        "--compare-to",
        "2025-04-01",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.stderr
    seg = pd.read_csv(out, dtype={"customer_id": str})
    profile = pd.read_csv(tmp_path / "seg_profile.csv")
    assert seg["customer_id"].is_unique
    assert profile["size"].sum() == len(seg)
    assert seg["segment"].str.len().gt(0).all() and seg["rfm_segment"].notna().all()
    counts = pd.read_csv(tmp_path / "seg_transitions.csv").set_index("from")
    tx = pd.read_csv(shop["transactions"], dtype={"customer_id": str}, parse_dates=["timestamp"])
    at_d1 = tx[(tx["amount"] > 0) & (tx["timestamp"] < "2025-04-01")]["customer_id"].nunique()
    assert counts.to_numpy().sum() == at_d1
    assert (tmp_path / "seg_transitions.png").exists()


@pytest.mark.slow
def test_demo_writes_every_output_with_the_promised_content(cli, tmp_path):
    result = cli("demo", "--out-dir", tmp_path / "demo", "--customers", "1500", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    demo = tmp_path / "demo"
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # nothing outside --out-dir (the test's cwd)
    for name in ("mlruns", "models", "logs/demo.log", "data/transactions.csv", "cohorts.png", "mlflow.db"):
        assert (demo / name).exists(), name
    assert "mlflow ui --backend-store-uri sqlite:///" in result.stdout
    for name in ("scores.csv", "campaign.csv", "segments.csv", "kpis.csv", "report.html"):
        assert str(demo / name) in result.stdout, name  # -q prints where every output is

    # the customer base at D (the day after the last purchase): every buyer of the generated shop
    tx = pd.read_csv(
        demo / "data" / "transactions.csv", dtype={"customer_id": str}, parse_dates=["timestamp"]
    )
    buyers = set(tx.loc[tx["amount"] > 0, "customer_id"])
    as_of = str((tx["timestamp"].max() + pd.Timedelta(days=1)).date())

    scores = pd.read_csv(demo / "scores.csv", dtype={"customer_id": str})
    assert scores["customer_id"].is_unique and set(scores["customer_id"]) == buyers
    assert (scores["as_of"] == as_of).all()
    assert scores["churn_probability"].between(0, 1).all() and scores["churn_probability"].std() > 0.05
    assert scores["p_alive"].between(0, 1).all() and (scores["predicted_clv"] >= 0).all()
    assert (
        set(scores["risk_tier"]) <= {"low", "medium", "high"} and scores["recommended_action"].notna().all()
    )
    ranked = scores["expected_saved_value"].to_numpy()
    assert (ranked[:-1] >= ranked[1:]).all()  # written most worth contacting first

    # budget 1000 at 2.00 a contact: at most 500 customers, each worth at least the contact, the best first
    campaign = pd.read_csv(demo / "campaign.csv", dtype={"customer_id": str})
    assert 0 < len(campaign) <= 500 and (campaign["expected_saved_value"] >= 2.0).all()
    worth = scores[scores["expected_saved_value"] >= 2.0]
    assert list(campaign["customer_id"]) == list(worth["customer_id"].head(500))

    segments = pd.read_csv(demo / "segments.csv", dtype={"customer_id": str})
    assert set(segments["customer_id"]) == buyers and segments["segment"].notna().all()
    profile = pd.read_csv(demo / "segments_profile.csv")
    assert profile["size"].sum() == len(buyers)

    # KPIs: one row per calendar month from the first to the last purchase; customers_end = that month's buyers
    kpis = pd.read_csv(demo / "kpis.csv")
    purchases = tx[tx["amount"] > 0]
    months = pd.period_range(purchases["timestamp"].min(), purchases["timestamp"].max(), freq="M")
    assert list(kpis["period"]) == [str(m.start_time.date()) for m in months]
    buyers_per_month = purchases.groupby(purchases["timestamp"].dt.to_period("M"))["customer_id"].nunique()
    assert kpis["customers_end"].tolist() == buyers_per_month.reindex(months, fill_value=0).tolist()

    # the report is the one MLflow run's, on the same base and campaign as the files
    (run_id,) = _run_ids(demo / "mlflow.db")
    text = _text(demo / "report.html")
    assert f"churnkit run {run_id[:8]}" in text and f"Run: {run_id}" in text
    assert f"{len(buyers):,} customers in the base at {as_of}" in text
    assert f"{len(campaign):,} customers to contact for a budget of 1,000" in text


def _text(page):  # type: ignore[no-untyped-def]
    """The visible text of an HTML page, whitespace collapsed."""
    import html
    import re

    body = re.sub(r"<style.*?</style>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def _run_ids(store):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    return [r.info.run_id for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


def test_packaged_configs_are_the_repository_configs():
    from pathlib import Path

    from churnkit.config import PACKAGED, packaged_config

    root = Path(__file__).resolve().parents[2] / "configs"
    for name in PACKAGED:
        assert packaged_config(name).read_bytes() == (root / f"{name}.yaml").read_bytes(), name
    assert sorted(p.stem for p in root.glob("*.yaml")) == sorted(PACKAGED)


def test_config_by_name_works_from_any_folder_and_init_writes_an_editable_copy(cli, shop, tmp_path):
    from churnkit.config import load_config

    result = cli("validate", "-t", shop["transactions"], "--config", "default")
    assert result.exit_code == 0, result.stderr
    assert load_config("cdnow").inputs.transactions.path == "cdnow:master"
    written = cli("init", tmp_path / "mine.yaml")
    assert written.exit_code == 0, written.stderr
    text = (tmp_path / "mine.yaml").read_text()
    assert "# churnkit configuration" in text and "horizon_days: 90" in text
    assert load_config(tmp_path / "mine.yaml") == load_config("default")
    again = cli("init", tmp_path / "mine.yaml")
    assert again.exit_code == 2 and "--force" in again.stderr
    missing = cli("validate", "-t", shop["transactions"], "--config", "nosuch.yaml")
    assert missing.exit_code == 2 and "packaged configs" in missing.stderr
