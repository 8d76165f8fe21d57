"""End to end through the CLI, against a real SQLite MLflow store in a temp folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnkit.cli import app
from churnkit.datasets.sample_shop import generate_shop, write_shop
from churnkit.tracking.runs import MAIN_METRICS

PREFIXES = ("", "baseline_recency_", "baseline_btyd_")
SCORE_COLUMNS = {
    "customer_id",
    "churn_probability",
    "p_alive",
    "expected_purchases",
    "predicted_clv",
    "segment",
    "rfm_segment",
    "risk_tier",
    "top_reasons",
    "recommended_action",
    "expected_next_purchase",
}


def invoke(*args):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("shop")
    paths = write_shop(generate_shop(1500, seed=3), folder, fmt="csv")
    cfg = folder / "fast.yaml"
    cfg.write_text("training:\n  n_snapshots: 3\n  spacing_days: 45\n")
    return {**paths, "config": cfg, "folder": folder}


@pytest.fixture(scope="module")
def trained(shop, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Two train runs on one store: the second with a shorter horizon (a different backtest)."""
    work = tmp_path_factory.mktemp("work")
    store = f"sqlite:///{work / 'mlflow.db'}"
    common = [
        "--transactions",
        shop["transactions"],
        "--events",
        shop["events"],
        "--customers",
        shop["customers"],
        "--config",
        shop["config"],
        "--tracking-uri",
        store,
        "--quiet",
        "--json",
    ]
    runs = []
    import os

    old = os.getcwd()
    os.chdir(work)
    try:
        for extra in ([], ["--horizon", "60"]):
            result = invoke("train", *common, *extra)
            assert result.exit_code == 0, result.stdout + result.stderr
            runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    finally:
        os.chdir(old)
    return {"work": work, "store": store, "runs": runs}


def test_train_json_and_every_metric_name(trained, finite_metric):
    for run in trained["runs"]:
        assert set(run) >= {"run_id", "model_uri", "metrics"}
        for name in MAIN_METRICS:
            for prefix in PREFIXES:
                finite_metric(run["metrics"][prefix + name], prefix + name)


def test_runs_lists_both_and_champion_follows_the_rule(trained):
    """H = 90 then H = 60 on one store: `champion` stays with the H = 90 run (like with like), the H = 60 run
    holds its own `champion_h60`; `churnkit runs` shows each run's horizon and as-of date."""
    from mlflow import MlflowClient

    result = invoke("runs", "--tracking-uri", trained["store"])
    assert result.exit_code == 0
    for run in trained["runs"]:
        assert run["run_id"] in result.stdout
    header = result.stdout.splitlines()[0].split()
    assert {"H", "as_of"} <= set(header)
    first, second = trained["runs"]
    assert first["champion"] is True and first["aliases"] == ["champion_h90", "champion"]
    assert second["champion"] is False and second["aliases"] == ["champion_h60"]
    import mlflow

    mlflow.set_tracking_uri(trained["store"])
    client = MlflowClient()
    assert client.get_model_version_by_alias("churnkit", "champion").run_id == first["run_id"]
    assert client.get_model_version_by_alias("churnkit", "champion_h60").run_id == second["run_id"]
    h60 = client.get_run(second["run_id"])
    assert h60.data.tags["churnkit.horizon_days"] == "60"
    assert h60.data.tags["churnkit.churn_definition"] == "no purchase in [D, D+60)"


def test_promote_moves_the_alias(trained, shop, tmp_path, finite_metric):
    """A run with the same horizon but a worse backtest takes `champion` only because of --promote.

    The worse run is the same shop and horizon without the browsing and customer files: fewer signals, the same
    backtest dates, so its churn_auc is comparable and lower (the rule alone would keep the champion). It is
    trained into a copy of the fixture's store, whose H = 90 run is the champion.
    """
    import shutil

    from mlflow import MlflowClient

    # A copy of the fixture's store: its H = 90 run (every input file) is the champion to displace.
    shutil.copy(trained["work"] / "mlflow.db", tmp_path / "p.db")
    store = f"sqlite:///{tmp_path / 'p.db'}"
    first = trained["runs"][0]
    worse = json.loads(
        invoke(
            "train",
            "--transactions",
            shop["transactions"],
            "--config",
            shop["config"],
            "--tracking-uri",
            store,
            "-q",
            "--json",
            "--promote",
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    first_auc = finite_metric(first["metrics"]["churn_auc"], "champion churn_auc")
    worse_auc = finite_metric(worse["metrics"]["churn_auc"], "promoted churn_auc")
    assert worse_auc < first_auc, (worse_auc, first_auc)
    import mlflow

    mlflow.set_tracking_uri(store)
    client = MlflowClient()
    assert first["champion"] and worse["champion"]
    assert worse["aliases"] == ["champion_h90", "champion"]
    assert client.get_model_version_by_alias("churnkit", "champion").run_id == worse["run_id"]
    assert client.get_model_version_by_alias("churnkit", "champion_h90").run_id == worse["run_id"]


def score(shop, store, model, out, *extra):  # type: ignore[no-untyped-def]
    return invoke(
        "score",
        "--model",
        model,
        "--transactions",
        shop["transactions"],
        "--events",
        shop["events"],
        "--customers",
        shop["customers"],
        "--tracking-uri",
        store,
        "--out",
        out,
        "-q",
        *extra,
    )


def test_three_model_uris_give_identical_scores(trained, shop, tmp_path, finite_metric):
    first = trained["runs"][0]
    aucs = [finite_metric(r["metrics"]["churn_auc"], "churn_auc") for r in trained["runs"]]
    champion_run = trained["runs"][aucs.index(max(aucs))]
    uris = {
        "alias": "models:/churnkit@champion",
        "logged": champion_run["model_uri"],
        "folder": str(trained["work"] / champion_run["local_model"]),
    }
    assert first["model_uri"].startswith("models:/m-")
    texts = {}
    for name, uri in uris.items():
        out = tmp_path / f"{name}.csv"
        result = score(shop, trained["store"], uri, out)
        assert result.exit_code == 0, result.stdout + result.stderr
        texts[name] = out.read_text()
    assert texts["alias"] == texts["logged"] == texts["folder"]
    scores = pd.read_csv(tmp_path / "alias.csv", dtype={"customer_id": str})
    assert set(scores.columns) >= SCORE_COLUMNS
    buyers = pd.read_csv(shop["transactions"], dtype={"customer_id": str}).query("amount > 0")["customer_id"]
    assert scores["customer_id"].is_unique
    assert set(scores["customer_id"]) == set(buyers)
    assert scores["churn_probability"].between(0, 1).all()
    assert (scores["predicted_clv"] >= 0).all()
    assert scores["top_reasons"].str.len().gt(0).all()


def test_pyfunc_in_a_fresh_process_scores_the_same(trained, shop, tmp_path):
    run = trained["runs"][0]
    out = tmp_path / "cli.csv"
    assert score(shop, trained["store"], run["model_uri"], out).exit_code == 0
    script = tmp_path / "fresh.py"
    script.write_text(
        "import sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({trained['store']!r})\n"
        f"m = mlflow.pyfunc.load_model({run['model_uri']!r})\n"
        "parts = []\n"
        f"for name, path in [('transactions', {str(shop['transactions'])!r}), ('events', {str(shop['events'])!r}),"
        f" ('customers', {str(shop['customers'])!r})]:\n"
        "    df = pd.read_csv(path, dtype=str)\n"
        "    df.insert(0, 'table', name)\n"
        "    parts.append(df)\n"
        "scores = m.predict(pd.concat(parts, ignore_index=True))\n"
        "scores.to_csv(sys.argv[1], index=False)\n"
    )
    fresh = tmp_path / "fresh.csv"
    subprocess.run([sys.executable, str(script), str(fresh)], check=True, capture_output=True)
    a = pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id").sort_index()
    b = pd.read_csv(fresh, dtype={"customer_id": str}).set_index("customer_id").sort_index()
    pd.testing.assert_frame_equal(a[b.columns], b, check_exact=False, rtol=1e-12)


def test_top_and_budget_select_what_they_say(trained, shop, tmp_path):
    store = trained["store"]
    full = tmp_path / "all.csv"
    assert score(shop, store, "models:/churnkit@champion", full).exit_code == 0
    ranked = pd.read_csv(full, dtype={"customer_id": str})
    top = tmp_path / "top.csv"
    result = score(shop, store, "models:/churnkit@champion", top, "--top", "25")
    assert result.exit_code == 0
    chosen = pd.read_csv(top, dtype={"customer_id": str})
    assert len(chosen) == 25
    assert set(chosen["customer_id"]) == set(ranked.nlargest(25, "expected_saved_value")["customer_id"])
    budget = tmp_path / "budget.csv"
    result = score(
        shop, store, "models:/churnkit@champion", budget, "--budget", "60", "--cost-per-contact", "2.5"
    )
    assert result.exit_code == 0
    picked = pd.read_csv(budget, dtype={"customer_id": str})
    worth = ranked[ranked["expected_saved_value"] >= 2.5]
    assert len(picked) == min(24, len(worth))  # 60 / 2.5 = 24 contacts at most
    assert picked["expected_saved_value"].min() >= worth["expected_saved_value"].nlargest(len(picked)).min()
    assert f"chosen (budget): {len(picked)} customers" in result.stdout
    assert "expected churners among them" in result.stdout and "expected value saved" in result.stdout


def test_report_holds_metric_table_and_images(trained, tmp_path):
    run = trained["runs"][0]
    out = tmp_path / "report.html"
    result = invoke("report", run["run_id"], "--out", out, "--tracking-uri", trained["store"])
    assert result.exit_code == 0, result.stderr
    html = out.read_text()
    for name in MAIN_METRICS:
        assert name in html
    assert html.count('<img src="data:image/png;base64,') >= 4
    assert "http://" not in html and "https://" not in html


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown_model", "model not found"),
        ("schema", "does not match the model's schema"),
        ("as_of_before_data", "is outside the data"),
        ("bad_uri_alias", "cannot load model"),
    ],
)
def test_score_errors_exit_2_and_write_nothing(trained, shop, tmp_path, case, message):
    out = tmp_path / "scores.csv"
    store = trained["store"]
    if case == "unknown_model":
        result = score(shop, store, "no/such/folder", out)
    elif case == "schema":  # trained with events and customers; scored without them
        result = invoke(
            "score",
            "--model",
            "models:/churnkit@champion",
            "--transactions",
            shop["transactions"],
            "--tracking-uri",
            store,
            "--out",
            out,
            "-q",
        )
    elif case == "as_of_before_data":
        result = score(shop, store, "models:/churnkit@champion", out, "--as-of", "2001-01-01")
    else:
        result = score(shop, store, "models:/churnkit@nosuchalias", out)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no partial output


def test_train_as_of_outside_the_data_is_a_usage_error(shop, tmp_path):
    result = invoke(
        "train",
        "--transactions",
        shop["transactions"],
        "--as-of",
        "1990-01-01",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'x.db'}",
        "-q",
    )
    assert result.exit_code == 2
    assert "outside the data" in result.stderr


def test_per_target_champions_reach_the_run_and_the_model(shop, tmp_path):
    """models.champion per target: churn scored by BTYD, CLV by the boosted model, recorded in run and model."""
    import mlflow
    import numpy as np
    from mlflow import MlflowClient

    from churnkit.config import load_config
    from churnkit.data.load import load_shop
    from churnkit.tracking.runs import load_model

    cfg_file = tmp_path / "split.yaml"
    cfg_file.write_text(
        "training:\n  n_snapshots: 3\n  spacing_days: 45\nmodels:\n  champion: {churn: btyd, clv: boosted}\n"
    )
    store = f"sqlite:///{tmp_path / 'split.db'}"
    args = ["--transactions", shop["transactions"], "--config", cfg_file, "--tracking-uri", store]
    result = invoke("train", *args, "-q", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    run = json.loads(result.stdout.strip().splitlines()[-1])
    assert run["champions"] == {"churn": "btyd", "clv": "boosted"}
    mlflow.set_tracking_uri(store)
    tags = MlflowClient().get_run(run["run_id"]).data.tags
    assert (tags["churnkit.champion_model"], tags["churnkit.clv_champion_model"]) == ("btyd", "boosted")
    model = load_model(run["model_uri"], load_config(None, **{"tracking.tracking_uri": store}))
    assert model.champions_ == {"churn": "btyd", "clv": "boosted"}
    assert model.churn_ is None and model.clv_ is not None
    data = load_shop(str(shop["transactions"]))
    full, out, _ = model._predict(model.features(data, as_of=pd.Timestamp(run["test_as_of"]).date()))
    np.testing.assert_allclose(out["churn_probability"], full["p_no_purchase"])  # BTYD's own P(no purchase)
    np.testing.assert_allclose(out["predicted_clv"], model.clv_.predict(full[model.input_columns_]))
