"""`write_run_report` on a run logged to a throw-away MLflow store: the campaign comes from its scores.parquet."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnkit.config import Config
from churnkit.jobs.report import write_run_report


def logged_run(tmp_path: Path, *, with_scores: bool = True) -> tuple[Config, str, pd.DataFrame]:
    """One run in the store at ``tmp_path/mlflow.db`` (artifact files staged in a folder of their own)."""
    import mlflow

    stage = tmp_path / ("with" if with_scores else "without")
    stage.mkdir()

    rng = np.random.default_rng(7)
    n = 40
    p = rng.uniform(0, 1, n).round(3)
    clv = rng.gamma(2.0, 30.0, n).round(2)
    scores = pd.DataFrame(
        {
            "customer_id": [f"C{i:03d}" for i in range(n)],
            "churn_probability": p,
            "predicted_clv": clv,
            "recommended_action": rng.choice(["win-back offer", "no action", "loyalty reward"], n),
            "risk_tier": np.where(p > 0.6, "high", np.where(p > 0.3, "medium", "low")),
            "expected_saved_value": p * clv * 0.2,
            "cluster": rng.integers(0, 2, n),
        }
    )
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = Config()
    cfg.tracking.tracking_uri = store
    mlflow.set_tracking_uri(store)
    if mlflow.get_experiment_by_name("report-test") is None:  # artifacts beside the store, not in ./mlruns
        mlflow.create_experiment("report-test", artifact_location=(tmp_path / "mlruns").as_uri())
    mlflow.set_experiment("report-test")
    with mlflow.start_run() as run:
        mlflow.log_metrics({"churn_auc": 0.8, "churn_lift_top10": 1.5})
        mlflow.log_param("targeting.save_rate", "0.2")
        mlflow.log_dict({"as_of": "2026-01-01", "horizon_days": 90, "notes": []}, "data_summary.json")
        profile = pd.DataFrame(
            {"cluster": [0, 1], "name": ["a", "b"], "size": [10, 5], "share": [2 / 3, 1 / 3]}
        )
        profile.to_csv(stage / "segment_profile.csv", index=False)
        mlflow.log_artifact(str(stage / "segment_profile.csv"))
        if with_scores:
            scores.to_parquet(stage / "scores.parquet", index=False)
            mlflow.log_artifact(str(stage / "scores.parquet"))
    return cfg, run.info.run_id, scores


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def run(store):
    return logged_run(store)


def test_campaign_numbers_equal_a_pandas_computation_from_the_run_scores(run, tmp_path):
    cfg, run_id, scores = run
    html = write_run_report(cfg, run_id, tmp_path / "r.html", budget=40.0, cost_per_contact=2.0).read_text()
    assert '<section id="campaign">' in html
    # Independent of churnkit: plain pandas on the table that was logged.
    stake = scores["churn_probability"] * scores["predicted_clv"]
    assert f">{stake.sum():,.2f}<" in html or f">{stake.sum():,.0f}<" in html
    grouped = scores.assign(stake=stake).groupby(["recommended_action", "risk_tier"])
    for (action, tier), part in grouped:
        row = re.search(rf"<tr><td>{re.escape(action)}</td><td>{tier}</td>(.*?)</tr>", html).group(1)
        cells = re.findall(r"<td class=num>([^<]*)</td>", row)
        assert cells[0] == f"{len(part):,}"
        assert cells[2] == f"{part['churn_probability'].sum():,.1f}"
        assert cells[4] == f"{part['stake'].sum():,.0f}"
    worth = scores[scores["expected_saved_value"] >= 2.0].nlargest(20, "expected_saved_value")  # 40 / 2
    pick = re.search(r'<p id="budget-pick">(.*?)</p>', html, re.S).group(1)
    assert f"Chosen: {len(worth)} customers" in pick
    assert f"Expected churners among them: {worth['churn_probability'].sum():,.1f}" in pick
    saved = worth["expected_saved_value"].sum()
    assert f"expected value saved: {saved:,.2f}" in pick or f"expected value saved: {saved:,.0f}" in pick
    assert "save rate 20%" in pick


def test_a_run_without_scores_still_reports(store, run, tmp_path):
    cfg, run_id, _ = logged_run(store, with_scores=False)
    html = write_run_report(cfg, run_id, tmp_path / "r.html").read_text()
    assert 'id="campaign"' not in html
    assert "<h2>Model vs baselines</h2>" in html
